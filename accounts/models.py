"""The customer and staff account (the phone number is the login) and its SMS one-time codes."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from core.ids import new_public_id
from core.masking import mask_name, mask_phone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, phone: str, password: str | None, **extra_fields: object) -> "User":
        if not phone:
            raise ValueError("A phone number is required.")
        user = self.model(phone=phone, **extra_fields)
        user.full_clean(exclude=["password"])
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, phone: str, password: str | None = None, **extra_fields: object) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(phone, password, **extra_fields)

    def create_superuser(self, phone: str, password: str | None = None, **extra_fields: object) -> "User":
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(phone, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    public_id = models.UUIDField(_("reference number"), default=new_public_id, unique=True, editable=False)
    phone = PhoneNumberField(_("phone number"), unique=True, region="CN")
    real_name = models.CharField(_("real name"), max_length=64)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Every API token carries the version it was issued under ("ver"); a token of an older version is
    # refused (accounts/authentication.py). Raised whenever the password changes, whoever changes it.
    token_version = models.PositiveIntegerField(_("API token version"), default=0, editable=False)
    # The customer's own contact window (local time) for collection calls and SMS; none: the default hours
    # (settings.CONTACT_HOURS_*). Both or neither; the window may cross midnight. Read by the contact gate.
    contact_window_start = models.TimeField(_("contact from"), null=True, blank=True)
    contact_window_end = models.TimeField(_("contact until"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS = ["real_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [("unlock_signin", _("Can unlock a customer's sign-in at their request"))]

    def __str__(self) -> str:
        return f"{self.masked_name} {self.masked_phone}"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_name(self) -> str:
        return mask_name(self.real_name)

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._revoke_tokens = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new password (``set_password`` then ``save``, on any surface: reset, the admin's set-password,
        ``changepassword``, the shell) revokes every API token issued before.

        ``_password`` is Django's own "the password was set" mark, the one that drives
        ``password_validation.password_changed``; Django clears it for a mere hash upgrade at sign-in, so
        re-hashing an unchanged password does not sign anyone out.
        """
        password_set = getattr(self, "_password", None) is not None
        revoke = (password_set or getattr(self, "_revoke_tokens", False)) and not self._state.adding
        if revoke:
            self.token_version = F("token_version") + 1
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "token_version"}
        super().save(*args, **kwargs)
        if revoke:
            # accounts.tokens imports this module (and simplejwt's blacklist models): imported at call time.
            from accounts.tokens import user_refresh_tokens_blacklist  # noqa: PLC0415

            self._revoke_tokens = False
            self.refresh_from_db(fields=["token_version"])
            user_refresh_tokens_blacklist(user_id=self.pk)

    def get_full_name(self) -> str:
        return self.real_name

    def get_short_name(self) -> str:
        return self.real_name


class OtpPurpose(models.TextChoices):
    """What a code authorises. Values are stored and keyed on by SMS templates: add, never rename."""

    LOGIN_RESET = "login_reset", _("password reset")
    BIND_CARD = "bind_card", _("bind a bank card")
    CHANGE_AUTODEBIT_CARD = "change_autodebit_card", _("change the auto-debit card")
    ACCEPT_NEGOTIATION = "accept_negotiation", _("accept a negotiated plan")
    PHONE_VERIFY = "phone_verify", _("verify the phone number")
    RESTAGE = "restage", _("confirm a secondary installment plan")
    EXTENSION = "extension", _("confirm a due-date extension")
    ACCEPT_HOLIDAY = "accept_holiday", _("accept a payment holiday")


class OneTimeCode(models.Model):
    """An SMS code confirming a sensitive action.

    Only a keyed hash is kept (HMAC-SHA256 with SECRET_KEY and the row's own salt), so a copy of the
    database alone cannot be brute-forced over the million possible codes. Rows are never deleted: they
    are what the request throttle counts and what support staff look at when a customer says "no SMS".
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="one_time_codes")
    purpose = models.CharField(_("purpose"), max_length=32, choices=OtpPurpose.choices)
    code_hash = models.CharField(max_length=64)
    salt = models.CharField(max_length=32)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong tries"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    superseded = models.BooleanField(_("superseded"), default=False)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["user", "purpose", "created_at"], name="otp_user_purpose_created")]

    def __str__(self) -> str:
        when = timezone.localtime(self.created_at) if self.created_at else None
        return f"{self.get_purpose_display()} {self.user_id} {when:%Y-%m-%d %H:%M}" if when else ""


class IdempotencyKey(models.Model):
    """An API request made with an ``Idempotency-Key``: its fingerprint and, once done, its response.

    Scoped per user. A second request with the key replays the stored response when the body is the same,
    is refused (422) when it differs and (409) while the first is still running. Kept
    ``API_IDEMPOTENCY_KEEP_HOURS`` (48 by default); ``accounts.purge_idempotency_keys`` removes older ones.
    """

    class State(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API idempotency key")
        verbose_name_plural = _("API idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} {self.state}"


class StaffAction(models.Model):
    """The staff audit trail about one customer: who did what to the account, or saw what of it, and when.

    One table for every staff action in the support workspace (revealing a phone number, a waiver, switching
    auto-debit, unlocking a sign-in, a promise to pay, a complaint step...), so the customer 360 shows one
    list and the customer can be told on request who saw their number. ``action`` is a stable code whose
    words live in ``accounts.audit.ACTION_LABELS``; ``detail`` holds what the action needs to be read
    again later (never a full phone or card number). Append-only: written by
    ``accounts.audit.staff_action_record``.
    """

    customer = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="staff_actions_about", verbose_name=_("customer")
    )
    staff = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="staff_actions_taken", verbose_name=_("staff member")
    )
    action = models.CharField(_("action"), max_length=40)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions")
        indexes = [models.Index(fields=["customer", "-created_at"], name="staff_action_customer_recent")]
        # Support workspace rights that are not about one model (repayments/staff.py gives them to groups).
        permissions = [
            ("reveal_phone", _("Can see a customer's full phone number (audited)")),
            ("view_team_figures", _("Can see the team's figures (KPIs) on the start page")),
        ]

    def __str__(self) -> str:
        from accounts.audit import action_label  # noqa: PLC0415  (audit imports this module)

        return f"{action_label(self.action)} ({self.staff_id} → {self.customer_id})"

"""The SMS outbox.

A notification row is written in the same transaction as the event it reports (a repayment, a debit, an
offer), so an event never happens without its message and a rolled-back event never sends one. A task
sends it afterwards; the unique dedupe key makes a second write of the same message a no-op.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from core.ids import new_public_id


class NotificationCategory(models.TextChoices):
    TRANSACTIONAL = "transactional", _("transactional")
    REMINDER = "reminder", _("reminder")
    SECURITY = "security", _("security")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SUPPRESSED = "suppressed", _("suppressed")


class Notification(models.Model):
    public_id = models.UUIDField(_("reference number"), default=new_public_id, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="notifications",
        verbose_name=_("user"),
        db_index=False,  # notification_inbox (user, -created_at) serves every lookup by user
    )
    phone = PhoneNumberField(_("phone number"), help_text=_("The number at the time of writing."))
    template_code = models.CharField(_("template"), max_length=40)
    language = models.CharField(_("language"), max_length=8)
    # What may be shown anywhere (inbox, API, admin, exports): for a secret template (a one-time code) the
    # text with the secret replaced by ******, whatever the status. Never the clear code.
    text = models.TextField(_("text"))
    # The full text of a secret template, Fernet-encrypted (notifications/sealing.py), opened only inside
    # the sender call and wiped once the message is sent or given up on. Empty for every other message.
    sealed_text = models.TextField(_("sealed text"), blank=True, editable=False)
    category = models.CharField(_("category"), max_length=16, choices=NotificationCategory.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=100, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200)
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    claimed_until = models.DateTimeField(
        _("claimed until"),
        null=True,
        blank=True,
        help_text=_("A sender holds the row until then, so two workers never send it at once."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SMS message")
        verbose_name_plural = _("SMS messages")
        ordering = ("-created_at", "-id")
        # Every index here is written by each debit's SMS row: a unique constraint rather than unique=True
        # (which adds a second, LIKE-only index on PostgreSQL), and no single-column index the composites
        # below already serve.
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="notification_unique_dedupe_key"),
            models.CheckConstraint(
                condition=~Q(status=NotificationStatus.SENT) | Q(sent_at__isnull=False),
                name="notification_sent_has_sent_at",
            ),
        ]
        indexes = [
            # Only pending rows, which the sweep looks for: a status index over every row tempted the
            # planner, on stale statistics, to read the whole day's messages for a daily-limit count.
            models.Index(
                fields=["send_after"],
                condition=Q(status=NotificationStatus.PENDING),
                name="notification_pending",
            ),
            models.Index(fields=["user", "-created_at"], name="notification_inbox"),
            models.Index(fields=["phone", "created_at"], name="notification_phone_day"),
        ]

    def __str__(self) -> str:
        from notifications.messages import template_name  # noqa: PLC0415  (messages imports this module)

        return f"{template_name(self.template_code)} -> {self.user_id} ({self.get_status_display()})"

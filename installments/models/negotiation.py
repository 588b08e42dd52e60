"""协商还款: an overdue customer's application for a negotiated plan, its documents, its audit log, and the
support staff's contact log. Every state change goes through ``installments.services.negotiation``."""

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.ids import new_public_id
from core.money_input import AsciiDecimalModelField
from installments.documents import EXTENSIONS
from installments.models.plans import ZERO, InstallmentPlan, money_field, rate_field


def private_storage() -> FileSystemStorage:
    """Proof documents live outside MEDIA_ROOT with no URL: they are served only by a view that checks
    who is asking (the owner, or staff with the review permission)."""
    return FileSystemStorage(location=settings.PRIVATE_MEDIA_ROOT, base_url=None)


def document_path(instance: "NegotiationDocument", filename: str) -> str:
    # The stored name is random: nothing the customer typed reaches the file system.
    return f"negotiation/{instance.application.public_id}/{uuid.uuid4().hex}{instance.extension}"


class NegotiationReason(models.TextChoices):
    JOB_LOSS = "job_loss", _("lost my job")
    INCOME_DROP = "income_drop", _("income dropped")
    ILLNESS = "illness", _("illness or medical costs")
    BUSINESS = "business", _("business difficulties")
    FAMILY = "family", _("family emergency")
    OTHER = "other", _("other")


class NegotiationState(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    IN_REVIEW = "in_review", _("in review")
    INFO_REQUESTED = "info_requested", _("more information requested")
    OFFER_PENDING_APPROVAL = "offer_pending_approval", _("offer awaiting approval")
    OFFERED = "offered", _("offer sent")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined by the customer")
    EXPIRED = "expired", _("offer expired")
    REJECTED = "rejected", _("rejected")


OPEN_NEGOTIATION_STATES = (
    NegotiationState.SUBMITTED,
    NegotiationState.IN_REVIEW,
    NegotiationState.INFO_REQUESTED,
    NegotiationState.OFFER_PENDING_APPROVAL,
    NegotiationState.OFFERED,
)


class NegotiationApplication(models.Model):
    """One application to negotiate one overdue plan, and (once made) the offer on it."""

    public_id = models.UUIDField(default=new_public_id, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="negotiations",
        verbose_name=_("customer"),
    )
    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="negotiations", verbose_name=_("plan")
    )
    state = models.CharField(
        _("state"), max_length=24, choices=NegotiationState.choices, default=NegotiationState.SUBMITTED
    )
    reason = models.CharField(_("reason"), max_length=16, choices=NegotiationReason.choices)
    reason_detail = models.TextField(_("in your words"), max_length=1000, blank=True)
    declared_monthly_income = money_field(_("declared monthly income"))
    affordable_monthly_payment = money_field(
        _("can pay each month (customer's word)"), null=True, blank=True, default=None
    )
    employer = models.CharField(_("employer"), max_length=100, blank=True)
    requested_tenor = models.PositiveSmallIntegerField(_("requested number of installments"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    info_request = models.TextField(_("information requested"), blank=True)
    # The offer (filled by negotiation_make_offer; the figures are what the customer is shown).
    offer_tenor = models.PositiveSmallIntegerField(_("offer: installments"), null=True, blank=True)
    offer_fee_rate = rate_field(_("offer: fee rate per period"), null=True, blank=True)
    offer_penalty_waiver = money_field(_("offer: penalty waived"))
    offer_first_due_date = models.DateField(_("offer: first due date"), null=True, blank=True)
    offer_principal = money_field(_("offer: new principal"))
    offer_penalties_at_offer = money_field(_("offer: penalties unpaid when offered"))
    offer_monthly_payment = money_field(_("offer: first monthly payment"))
    offer_total_fee = money_field(_("offer: total fee"))
    offer_apr_percent = AsciiDecimalModelField(
        _("offer: APR (%)"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    offer_approval_reasons = models.CharField(_("offer: why approval is needed"), max_length=255, blank=True)
    offer_note = models.TextField(_("offer: note to the customer"), blank=True)
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offered by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    offered_at = models.DateTimeField(_("offered at"), null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("offer expires at"), null=True, blank=True)
    rejection_reason = models.CharField(_("rejection reason"), max_length=32, blank=True)
    result_plan = models.OneToOneField(
        InstallmentPlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="negotiation_result",
        verbose_name=_("negotiated plan"),
    )
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("negotiated plan application")
        verbose_name_plural = _("negotiated plan applications (协商还款)")
        ordering = ("-created_at", "-id")
        permissions = [
            ("review_negotiation", _("Can review applications and make offers")),
            ("approve_negotiation", _("Can approve offers above the thresholds")),
        ]
        constraints = [
            # One open application per plan: a second one while the first is pending is refused.
            models.UniqueConstraint(
                fields=["plan"],
                condition=Q(state__in=[s.value for s in OPEN_NEGOTIATION_STATES]),
                name="negotiation_one_open_per_plan",
            ),
            models.CheckConstraint(
                condition=Q(declared_monthly_income__gte=0), name="negotiation_income_gte_0"
            ),
            models.CheckConstraint(condition=Q(offer_penalty_waiver__gte=0), name="negotiation_waiver_gte_0"),
            models.CheckConstraint(
                condition=~Q(state=NegotiationState.ACCEPTED) | Q(result_plan__isnull=False),
                name="negotiation_accepted_has_plan",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="negotiation_queue")]

    def __str__(self) -> str:
        return f"{self.plan.display_name} · {self.get_state_display()}"


class NegotiationDocument(models.Model):
    """Proof of income or employment. Type decided by the bytes, the stored name by us."""

    public_id = models.UUIDField(default=new_public_id, unique=True, editable=False)
    application = models.ForeignKey(
        NegotiationApplication, on_delete=models.PROTECT, related_name="documents"
    )
    file = models.FileField(_("file"), storage=private_storage, upload_to=document_path, max_length=200)
    original_name = models.CharField(_("original name"), max_length=120)
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    EXTENSIONS = EXTENSIONS

    class Meta:
        verbose_name = _("proof document")
        verbose_name_plural = _("proof documents")
        ordering = ("uploaded_at", "id")

    def __str__(self) -> str:
        return self.original_name

    @property
    def extension(self) -> str:
        return self.EXTENSIONS.get(self.content_type, ".bin")


# The log's actions in words (the admin shows these, never the codes).
EVENT_LABELS = {
    "submitted": _("Applied"),
    "document_added": _("Added a document"),
    "review_started": _("Started the review"),
    "info_requested": _("Asked for more information"),
    "resubmitted": _("Sent the application again"),
    "offer_made": _("Made an offer"),
    "offer_approved": _("Approved the offer and sent it"),
    "offer_returned": _("Sent the offer back to review"),
    "rejected": _("Rejected the application"),
    "accepted": _("Accepted the offer"),
    "declined": _("Declined the offer"),
    "expired": _("The offer expired"),
    "withdrawn": _("Withdrew the application"),
    "not_frozen": _("Submitted without pausing penalties (paused once in 12 months, or already paused)"),
}


class NegotiationEvent(models.Model):
    """Audit log: who changed what, when. Append-only; staff notes included."""

    application = models.ForeignKey(NegotiationApplication, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=24, blank=True)
    to_state = models.CharField(_("to"), max_length=24, blank=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("application event")
        verbose_name_plural = _("application events")
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return str(EVENT_LABELS.get(self.action, self.action))


class ContactChannel(models.TextChoices):
    CALL_OUT = "call_out", _("outbound call")
    CALL_IN = "call_in", _("inbound call (hotline)")
    SMS = "sms", _("SMS")
    CHAT = "chat", _("online chat")


class ContactOutcome(models.TextChoices):
    REACHED = "reached", _("reached the customer")
    NO_ANSWER = "no_answer", _("no answer")
    PROMISE_TO_PAY = "promise_to_pay", _("promised to pay")
    WILL_APPLY = "will_apply", _("will apply for a negotiated plan")
    REFUSED = "refused", _("refused to pay")
    WRONG_NUMBER = "wrong_number", _("wrong number")
    CALLBACK = "callback", _("asked to be called back")


class ContactParty(models.TextChoices):
    """Who was on the other end: collection may speak about the debt to the debtor alone."""

    DEBTOR = "debtor", _("the customer (debtor)")
    OTHER = "other", _("someone else (family, colleague, other)")


class ContactLog(models.Model):
    """A support contact with a customer (hotline calls and the like): what was said and promised."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="contacts",
        verbose_name=_("customer"),
    )
    application = models.ForeignKey(
        NegotiationApplication,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("application"),
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("staff")
    )
    channel = models.CharField(_("channel"), max_length=16, choices=ContactChannel.choices)
    outcome = models.CharField(_("outcome"), max_length=16, choices=ContactOutcome.choices)
    party = models.CharField(
        _("who was contacted"), max_length=8, choices=ContactParty.choices, default=ContactParty.DEBTOR
    )
    promise_to_pay_date = models.DateField(_("promise-to-pay date"), null=True, blank=True)
    promise_amount = money_field(_("promised amount"), default=ZERO)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact log entry")
        verbose_name_plural = _("contact log")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome=ContactOutcome.PROMISE_TO_PAY) | Q(promise_to_pay_date__isnull=False),
                name="contact_promise_has_date",
            ),
            models.CheckConstraint(condition=Q(promise_amount__gte=0), name="contact_promise_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.get_outcome_display()}"

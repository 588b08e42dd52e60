"""投诉: a customer's complaint, its attachments and its audit trail (the models; every write is in
``repayments.services.complaints``).

A complaint links a plan, a repayment, a contact (``installments.ContactLog``) and a staff member, so it lives
in the top domain app. Its deadline is a date (Asia/Shanghai): 15 days from receipt, extendable to 30 and
then 30 more, each time with a second staff member's approval and a notice SMS (CBIRC 2020 measures).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.ids import new_public_id, short_ref
from installments.documents import EXTENSIONS
from installments.models import ContactLog, InstallmentPlan
from installments.models.negotiation import private_storage


class ComplaintChannel(models.TextChoices):
    WEB = "web", _("web")
    API = "api", _("app (API)")
    PHONE = "phone", _("phone (filed by staff)")


class ComplaintCategory(models.TextChoices):
    FEES = "fees", _("fees and charges")
    DEBIT_ERROR = "debit_error", _("debit error")
    COLLECTION_CONDUCT = "collection_conduct", _("collection conduct")
    PRIVACY = "privacy", _("privacy")
    OTHER = "other", _("other")


class ComplaintState(models.TextChoices):
    RECEIVED = "received", _("received")
    INVESTIGATING = "investigating", _("investigating")
    RESOLVED = "resolved", _("resolved")
    REJECTED = "rejected", _("rejected")


OPEN_COMPLAINT_STATES = (ComplaintState.RECEIVED, ComplaintState.INVESTIGATING)
CLOSED_COMPLAINT_STATES = (ComplaintState.RESOLVED, ComplaintState.REJECTED)
MAX_COMPLAINT_EXTENSIONS = 2


def complaint_document_path(instance: ComplaintDocument, filename: str) -> str:
    # The stored name is random: nothing the customer typed reaches the file system.
    return f"complaints/{instance.complaint.public_id}/{uuid.uuid4().hex}{instance.extension}"


class Complaint(models.Model):
    public_id = models.UUIDField(default=new_public_id, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="complaints",
        verbose_name=_("customer"),
    )
    channel = models.CharField(_("channel"), max_length=8, choices=ComplaintChannel.choices)
    category = models.CharField(_("category"), max_length=24, choices=ComplaintCategory.choices)
    text = models.TextField(_("complaint"), max_length=2000)
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints",
        verbose_name=_("plan"),
    )
    repayment = models.ForeignKey(
        "repayments.Repayment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints",
        verbose_name=_("repayment"),
    )
    contact = models.ForeignKey(
        ContactLog,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints",
        verbose_name=_("contact"),
    )
    staff_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff member complained about"),
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("filed by (staff)"),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ComplaintState.choices, default=ComplaintState.RECEIVED
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    received_at = models.DateTimeField(_("received at"))
    deadline = models.DateField(_("answer by"))
    extension_count = models.PositiveSmallIntegerField(_("extensions"), default=0)
    # An extension asked for and not yet decided (the approver's page reads these).
    extension_reason = models.CharField(_("extension: reason"), max_length=255, blank=True)
    extension_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("extension: asked by"),
    )
    decision = models.TextField(_("decision"), max_length=2000, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints (投诉)")
        ordering = ("-received_at", "-id")
        permissions = [
            ("handle_complaint", _("Can investigate, answer and ask to extend complaints")),
            ("approve_complaint_extension", _("Can approve a complaint's deadline extension")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(extension_count__lte=MAX_COMPLAINT_EXTENSIONS), name="complaint_extensions_le_2"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[s.value for s in CLOSED_COMPLAINT_STATES])
                | (~Q(decision="") & Q(decided_at__isnull=False)),
                name="complaint_closed_has_decision",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"], name="complaint_queue")]

    def __str__(self) -> str:
        return f"{self.reference} · {self.get_category_display()}"

    @property
    def reference(self) -> str:
        """What the customer and staff quote on the phone (TS-1a2b3c4d)."""
        return f"TS-{short_ref(self.public_id)}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_COMPLAINT_STATES

    @property
    def extension_pending(self) -> bool:
        return self.extension_requested_by_id is not None


class ComplaintDocument(models.Model):
    """An attachment: checked like the 协商 proof documents (type by the bytes, name by us)."""

    public_id = models.UUIDField(default=new_public_id, unique=True, editable=False)
    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="documents")
    file = models.FileField(
        _("file"), storage=private_storage, upload_to=complaint_document_path, max_length=200
    )
    original_name = models.CharField(_("original name"), max_length=120)
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("complaint attachment")
        verbose_name_plural = _("complaint attachments")
        ordering = ("uploaded_at", "id")

    def __str__(self) -> str:
        return self.original_name

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, ".bin")


class ComplaintEvent(models.Model):
    """The complaint's audit trail: every step, who took it and when. Append-only."""

    class Action(models.TextChoices):
        FILED = "filed", _("filed")
        DOCUMENT_ADDED = "document_added", _("attachment added")
        ASSIGNED = "assigned", _("assigned")
        INVESTIGATING = "investigating", _("investigation started")
        EXTENSION_REQUESTED = "extension_requested", _("extension asked for")
        EXTENSION_APPROVED = "extension_approved", _("extension approved")
        EXTENSION_REFUSED = "extension_refused", _("extension refused")
        RESOLVED = "resolved", _("resolved")
        REJECTED = "rejected", _("rejected")

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    action = models.CharField(_("step"), max_length=24, choices=Action.choices)
    from_state = models.CharField(_("from"), max_length=16, choices=ComplaintState.choices, blank=True)
    to_state = models.CharField(_("to"), max_length=16, choices=ComplaintState.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("complaint event")
        verbose_name_plural = _("complaint events")
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.from_state} -> {self.to_state}"

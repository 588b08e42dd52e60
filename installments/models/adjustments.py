"""Staff adjustments (减免): a penalty or fee waived on a plan with a reason, applied at once up to
``ADJUSTMENT_APPROVAL_ABOVE`` and otherwise after a second staff member approves (maker-checker). The row is
the workflow's lock and its audit record; the money itself is the ledger's (``installments.ledger.waive``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installments.models.plans import InstallmentPlan, money_field


class AdjustmentKind(models.TextChoices):
    WAIVE_PENALTY = "waive_penalty", _("waive penalty")
    WAIVE_FEE = "waive_fee", _("waive fee")


# The component of an installment each kind lowers.
ADJUSTMENT_COMPONENT = {AdjustmentKind.WAIVE_PENALTY: "penalty", AdjustmentKind.WAIVE_FEE: "fee"}


class AdjustmentReason(models.TextChoices):
    """Why staff waive: a closed list, so reports can count them; the note says the rest."""

    HARDSHIP = "hardship", _("customer hardship")
    SERVICE_ERROR = "service_error", _("our service error")
    SYSTEM_ERROR = "system_error", _("system or bank error")
    COMPLAINT = "complaint", _("settling a complaint")
    GOODWILL = "goodwill", _("goodwill")
    OTHER = "other", _("other (see the note)")


class AdjustmentState(models.TextChoices):
    REQUESTED = "requested", _("awaiting approval")
    APPLIED = "applied", _("applied")
    REJECTED = "rejected", _("rejected")


class Adjustment(models.Model):
    """One staff waiver of a plan's penalty or fee: who asked, who approved (above the threshold), why."""

    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("plan")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AdjustmentKind.choices)
    amount = money_field(_("amount"))
    reason_code = models.CharField(_("reason"), max_length=16, choices=AdjustmentReason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=AdjustmentState.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved or rejected by"),
    )
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("adjustment")
        verbose_name_plural = _("adjustments (减免)")
        ordering = ("-created_at", "-id")
        permissions = [("approve_adjustment", _("Can approve a waiver above the threshold"))]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="adjustment_amount_positive"),
            models.CheckConstraint(
                condition=Q(state="requested") | Q(decided_at__isnull=False),
                name="adjustment_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ¥{self.amount:,.2f} ({self.get_state_display()})"

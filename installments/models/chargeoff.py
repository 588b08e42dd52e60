"""Undoing a charge-off (核销撤销): the staff request, its approval when it passes the threshold, and the
audit of who asked, who approved and why. The charge-off itself is a plan state written by the ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installments.models.plans import InstallmentPlan, money_field


class ChargeOffUndoState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("awaiting approval")
    DONE = "done", _("undone")
    REJECTED = "rejected", _("rejected")


class ChargeOffUndo(models.Model):
    """One staff request to undo one plan's charge-off on its business day (maker-checker above
    ``CHARGE_OFF_UNDO_APPROVAL_ABOVE``): the row is the workflow's lock and its audit record."""

    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="charge_off_undos", verbose_name=_("plan")
    )
    charged_off_on = models.DateField(_("charge-off date"))
    amount = money_field(_("amount charged off"))
    reason = models.CharField(_("reason"), max_length=255)
    state = models.CharField(_("state"), max_length=16, choices=ChargeOffUndoState.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    decided_by = models.ForeignKey(
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
        verbose_name = _("charge-off undo")
        verbose_name_plural = _("charge-off undos (核销撤销)")
        ordering = ("-created_at", "-id")
        permissions = [("approve_charge_off_undo", _("Can approve undoing a charge-off above the threshold"))]
        constraints = [
            # One request at a time per charge-off; a second is refused while the first waits.
            models.UniqueConstraint(
                fields=["plan", "charged_off_on"],
                condition=Q(state="pending_approval"),
                name="charge_off_undo_one_pending",
            ),
            models.CheckConstraint(
                condition=Q(state="pending_approval") | Q(decided_at__isnull=False),
                name="charge_off_undo_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.charged_off_on} {self.get_state_display()}"

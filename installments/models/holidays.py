"""Payment holidays (还款假期, staff): skip N periods and extend the term. Support staff propose one for a
plan; above ``HOLIDAY_APPROVAL_ABOVE_PERIODS`` periods a second staff member approves it (maker-checker);
the customer accepts the offer with an SMS code, and only then does the ledger move the dates
(``installments.ledger.reschedule``). The row is the workflow's lock and its record: the terms offered,
the schedule before and after, who proposed and who decided."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installments.models.plans import InstallmentPlan, money_field


class HolidayReason(models.TextChoices):
    """Why staff offer a holiday: a closed list, so reports can count them; the note says the rest."""

    HARDSHIP = "hardship", _("temporary hardship")
    ILLNESS = "illness", _("illness or injury")
    JOB_LOSS = "job_loss", _("job loss or reduced income")
    DISASTER = "disaster", _("natural disaster or emergency")
    OTHER = "other", _("other (see the note)")


class HolidayState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", _("awaiting approval")
    OFFERED = "offered", _("offered to the customer")
    APPLIED = "applied", _("accepted and applied")
    REJECTED = "rejected", _("rejected by the approver")
    DECLINED = "declined", _("declined by the customer")
    EXPIRED = "expired", _("offer expired")


# A holiday still to be decided (by an approver or by the customer): one per plan at a time.
OPEN_HOLIDAY_STATES = (HolidayState.AWAITING_APPROVAL, HolidayState.OFFERED)


class PaymentHoliday(models.Model):
    """One payment holiday on a plan: ``periods`` months skipped from the next unpaid installment on."""

    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="holidays", verbose_name=_("plan")
    )
    periods = models.PositiveSmallIntegerField(_("periods skipped"))
    reason = models.CharField(_("reason"), max_length=16, choices=HolidayReason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    state = models.CharField(_("state"), max_length=20, choices=HolidayState.choices)
    fee = money_field(_("holiday fee"))
    # The schedule before and after, as quoted when proposed (and checked again when applied).
    first_sequence = models.PositiveSmallIntegerField(_("first installment moved"))
    installments_moved = models.PositiveSmallIntegerField(_("installments moved"))
    next_due_before = models.DateField(_("next due date before"))
    next_due_after = models.DateField(_("next due date after"))
    last_due_before = models.DateField(_("last due date before"))
    last_due_after = models.DateField(_("last due date after"))
    next_amount_after = money_field(_("next payment after"))
    apr_percent_before = models.DecimalField(_("APR before (%)"), max_digits=6, decimal_places=2)
    apr_percent_after = models.DecimalField(_("APR after (%)"), max_digits=6, decimal_places=2)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("proposed by")
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
    created_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_at = models.DateTimeField(_("approved or rejected at"), null=True, blank=True)
    offered_at = models.DateTimeField(_("offered at"), null=True, blank=True)
    offered_until = models.DateTimeField(_("offer valid until"), null=True, blank=True)
    closed_at = models.DateTimeField(_("applied, declined or expired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment holiday")
        verbose_name_plural = _("payment holidays (还款假期)")
        ordering = ("-created_at", "-id")
        permissions = [("approve_holiday", _("Can approve a payment holiday above the threshold"))]
        constraints = [
            models.CheckConstraint(condition=Q(periods__gte=1), name="holiday_periods_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="holiday_fee_not_negative"),
            models.CheckConstraint(
                condition=~Q(state="offered") | Q(offered_until__isnull=False),
                name="holiday_offer_has_end",
            ),
            models.UniqueConstraint(
                fields=["plan"],
                condition=Q(state__in=["awaiting_approval", "offered"]),
                name="holiday_one_open_per_plan",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} +{self.periods} ({self.get_state_display()})"

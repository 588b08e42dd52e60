"""催收案件 (collection cases) and 承诺还款 (promises to pay).

A case is an overdue plan's follow-up: who works it, when they next act, what state the conversation is in.
The overdue sweep opens and closes cases (``installments.services.sweep``, set-based SQL); staff change
them through ``installments.services.collections`` only. A promise to pay is a customer's dated promise of
an amount, checked by the daily run against the money the journal says reached the plan.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from installments.models.negotiation import ContactLog
from installments.models.plans import ZERO, DelinquencyBucket, InstallmentPlan, money_field


class CaseStatus(models.TextChoices):
    OPEN = "open", _("open")
    IN_PROGRESS = "in_progress", _("in progress")
    PROMISE_TO_PAY = "promise_to_pay", _("promise to pay")
    BROKEN_PROMISE = "broken_promise", _("broken promise")
    HARDSHIP = "hardship", _("hardship (negotiation open)")
    RESOLVED = "resolved", _("resolved")


# Every state but resolved: the case is still worked.
OPEN_CASE_STATUSES = (
    CaseStatus.OPEN,
    CaseStatus.IN_PROGRESS,
    CaseStatus.PROMISE_TO_PAY,
    CaseStatus.BROKEN_PROMISE,
    CaseStatus.HARDSHIP,
)


class CaseCloseReason(models.TextChoices):
    CURED = "cured", _("cured (plan current again)")
    RESTAGED = "restaged", _("re-staged")
    PAID_OFF = "paid_off", _("paid off")
    CHARGED_OFF = "charged_off", _("charged off")


class CollectionCase(models.Model):
    """One overdue plan's follow-up, from the day it passed its grace days to its cure or closing.

    ``days_past_due``, ``bucket`` and ``amount_overdue`` are the plan's as of the last sweep (the queue
    sorts and filters on them without joining the installments); ``opened_bucket`` is where the case
    started, which the round-robin and the cure rate by bucket count by."""

    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="collection_cases", verbose_name=_("plan")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="collection_cases",
        verbose_name=_("customer"),
    )
    bucket = models.CharField(_("bucket"), max_length=3, choices=DelinquencyBucket.choices)
    opened_bucket = models.CharField(_("opened in bucket"), max_length=3, choices=DelinquencyBucket.choices)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    amount_overdue = money_field(_("amount overdue"), default=ZERO)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("assignee"),
    )
    next_action_date = models.DateField(_("next action date"))
    status = models.CharField(_("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    close_reason = models.CharField(
        _("close reason"), max_length=16, choices=CaseCloseReason.choices, blank=True
    )

    class Meta:
        verbose_name = _("collection case")
        verbose_name_plural = _("collection cases (催收案件)")
        ordering = ("next_action_date", "-days_past_due", "id")
        permissions = [("reassign_case", _("Can reassign collection cases in bulk"))]
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=Q(closed_at__isnull=True), name="collection_case_one_open_per_plan"
            ),
            models.CheckConstraint(
                condition=(Q(status="resolved") & Q(closed_at__isnull=False) & ~Q(close_reason=""))
                | (~Q(status="resolved") & Q(closed_at__isnull=True) & Q(close_reason="")),
                name="collection_case_resolved_iff_closed",
            ),
            models.CheckConstraint(condition=Q(amount_overdue__gte=0), name="collection_case_amount_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=["assignee", "next_action_date"],
                condition=Q(closed_at__isnull=True),
                name="collection_case_queue",
            ),
        ]

    def __str__(self) -> str:
        # The page title and the admin's log: the plan as staff know it, never a raw status code.
        return f"{self.plan.display_name} #{self.pk}"


class PromiseStatus(models.TextChoices):
    OPEN = "open", _("awaiting payment")
    KEPT = "kept", _("kept")
    BROKEN = "broken", _("broken")


class PromiseToPay(models.Model):
    """承诺还款: the amount and date are this row's; the contact log entry written with it (``contact``)
    records the call, with the same figures, and neither is edited afterwards. ``status`` is decided once,
    by the daily run (``promises_check``)."""

    case = models.ForeignKey(
        CollectionCase, on_delete=models.PROTECT, related_name="promises", verbose_name=_("case")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="promises",
        verbose_name=_("customer"),
    )
    amount = money_field(_("promised amount"))
    # The case's bucket when the promise was made: the promise-kept rate is read by bucket.
    bucket = models.CharField(_("bucket"), max_length=3, choices=DelinquencyBucket.choices)
    promised_date = models.DateField(_("promised date"))
    note = models.TextField(_("note"), blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    contact = models.OneToOneField(
        ContactLog,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promise",
        verbose_name=_("contact log entry"),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=PromiseStatus.choices, default=PromiseStatus.OPEN
    )
    created_at = models.DateTimeField(_("recorded at"))
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay (承诺还款)")
        ordering = ("-created_at", "-id")
        permissions = [
            ("record_promise_after_broken", _("Can record a promise after two broken promises in a row"))
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(status="open") | Q(checked_at__isnull=False), name="promise_checked_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["promised_date"], condition=Q(status="open"), name="promise_open_by_date"),
        ]

    def __str__(self) -> str:
        return f"¥{self.amount:,.2f} {self.promised_date.isoformat()} {self.get_status_display()}"

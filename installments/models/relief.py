"""Hardship relief on a plan: the freeze (暂停计息) that stops the clock while relief is decided.

A ``PlanFreeze`` covers the days ``started_on <= day < ended_on or planned_end``: on those days the sweep
charges no penalty and the plan does not age (days past due = today - due date - frozen days), overdue
SMS wait, and auto-debit runs only if the customer opted in. Frozen days are never charged later. The
row is the audit record too: who or what started it, why, and how it ended.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from installments.models.negotiation import NegotiationApplication
from installments.models.plans import InstallmentPlan

# A freeze ends by itself after this many days (the application's decision usually ends it sooner).
FREEZE_MAX_DAYS = 30


class FreezeReason(models.TextChoices):
    NEGOTIATION = "negotiation", _("协商 application under review")
    HARDSHIP_CASE = "hardship_case", _("hardship case opened by staff")


class FreezeEnd(models.TextChoices):
    ACCEPTED = "accepted", _("offer accepted (new plan)")
    REJECTED = "rejected", _("application rejected")
    EXPIRED = "expired", _("application or offer expired")
    WITHDRAWN = "withdrawn", _("application withdrawn")
    MAX_DAYS = "max_days", _("longest freeze reached")
    STAFF = "staff", _("ended by staff")
    PLAN_CLOSED = "plan_closed", _("plan paid off or closed")


class PlanFreeze(models.Model):
    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="freezes", verbose_name=_("plan")
    )
    reason = models.CharField(_("reason"), max_length=16, choices=FreezeReason.choices)
    # Started by the customer's own application (one such freeze per plan per 12 months), or by staff.
    self_started = models.BooleanField(_("started by the customer"), default=True)
    application = models.ForeignKey(
        NegotiationApplication,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="freezes",
        verbose_name=_("协商 application"),
    )
    started_on = models.DateField(_("frozen from"))
    planned_end = models.DateField(_("frozen until at the latest"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    end_reason = models.CharField(_("how it ended"), max_length=16, choices=FreezeEnd.choices, blank=True)
    autodebit_opt_in = models.BooleanField(_("auto-debit continues"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by (staff)"),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("hardship freeze")
        verbose_name_plural = _("hardship freezes")
        ordering = ("-started_on", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=Q(ended_on__isnull=True), name="freeze_one_open_per_plan"
            ),
            models.CheckConstraint(
                condition=Q(planned_end__gt=F("started_on")), name="freeze_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True)
                | (Q(ended_on__gte=F("started_on")) & Q(ended_on__lte=F("planned_end"))),
                name="freeze_ended_within_plan",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True, end_reason="")
                | (Q(ended_on__isnull=False) & ~Q(end_reason="")),
                name="freeze_end_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["plan", "started_on"], name="freeze_plan_started")]

    def __str__(self) -> str:
        return f"{self.plan} {self.started_on}..{self.ended_on or self.planned_end}"

    @property
    def last_day(self) -> date:
        """The first day no longer frozen."""
        return self.ended_on or self.planned_end

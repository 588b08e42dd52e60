"""延期还款: one installment's due date moved a few days at the customer's request.

A ``PlanExtension`` is the record of one extension and its idempotency: the customer's key is unique per
customer, so the same request sent twice (a retry, a double click) finds the first one's row and answers
it again instead of extending twice. The money (the due date, the fee) is on the installment, written by
``installments.ledger.reschedule``; this row says what was asked and what it cost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from installments.models.plans import Installment, InstallmentPlan, money_field


class PlanExtension(models.Model):
    plan = models.ForeignKey(
        InstallmentPlan, on_delete=models.PROTECT, related_name="extensions", verbose_name=_("plan")
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("customer")
    )
    installment = models.ForeignKey(
        Installment, on_delete=models.PROTECT, related_name="+", verbose_name=_("installment")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    days = models.PositiveSmallIntegerField(_("days"))
    old_due_date = models.DateField(_("due date before"))
    new_due_date = models.DateField(_("new due date"))
    fee = money_field(_("extension fee"))
    apr_percent = models.DecimalField(_("APR after the extension (%)"), max_digits=6, decimal_places=2)
    business_date = models.DateField(_("business date"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("due-date extension")
        verbose_name_plural = _("due-date extensions")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["customer", "idempotency_key"], name="extension_unique_key"),
            models.CheckConstraint(condition=Q(days__gte=1), name="extension_days_gte_1"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="extension_fee_gte_0"),
            models.CheckConstraint(
                condition=Q(new_due_date__gt=F("old_due_date")), name="extension_moves_later"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}: {self.old_due_date} -> {self.new_due_date}"

"""Setting installment money up the way no service does, for tests of what happens next.

A test that writes installment columns directly (a waiver staff cannot yet make through a service, a
state that takes months to reach) bypasses the journal; ``update_installments`` levels the journal with
what was written, through the same opening-balances posting a book started with open plans uses, so the
after-test ledger check still proves everything the code under test posted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from installments.journal import opening_balances
from installments.models import Installment, InstallmentPlan


def update_installments(queryset: QuerySet[Installment], **values: Any) -> int:
    plan_ids = set(queryset.values_list("plan_id", flat=True))
    changed = queryset.update(**values)
    opening_balances(plan_ids, today=timezone.localdate())
    if "penalty_due" in values:  # the plan's running total of penalty charged follows (check_ledger)
        for plan in InstallmentPlan.objects.filter(pk__in=plan_ids):
            total = plan.installments.aggregate(total=Sum("penalty_due"))["total"] or Decimal("0.00")
            plan.penalty_total = total
            plan.penalty_cap_amount = max(plan.penalty_cap_amount, total)
            plan.save(update_fields=["penalty_total", "penalty_cap_amount"])
    return changed

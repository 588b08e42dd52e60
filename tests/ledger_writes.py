"""Setting installment money up the way no service does, for tests of what happens next.

A test that writes installment columns directly (a waiver staff cannot yet make through a service, a
state that takes months to reach) bypasses the journal; ``update_installments`` levels the journal with
what was written, through the same opening-balances posting a book started with open plans uses, so the
after-test ledger check still proves everything the code under test posted.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from installments.journal import opening_balances
from installments.models import Installment


def update_installments(queryset: QuerySet[Installment], **values: Any) -> int:
    plan_ids = set(queryset.values_list("plan_id", flat=True))
    changed = queryset.update(**values)
    opening_balances(plan_ids, today=timezone.localdate())
    return changed

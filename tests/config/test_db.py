"""bulk_update_fast writes exactly what Django's bulk_update would, on every backend."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from config.db import bulk_update_fast
from installments.models import Installment
from installments.services import plan_create


def test_bulk_update_fast_updates_only_the_given_rows_and_fields(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer, product=flat_product, principal="1200.00", tenor=3, purchase_date=date(2026, 1, 5)
    )
    first, second, third = plan.installments.order_by("sequence")
    now = timezone.now()
    first.principal_paid, first.status, first.paid_at = Decimal("400.00"), "pending", None
    second.fee_paid, second.status, second.paid_at = Decimal("6.00"), "paid", now
    second.principal_paid = Decimal("400.00")
    third.due_date = third.due_date + timedelta(days=1)  # not in the field list: must not be written
    bulk_update_fast([first, second, third], ["principal_paid", "fee_paid", "status", "paid_at"])
    rows = {i.sequence: i for i in Installment.objects.filter(plan=plan)}
    assert rows[1].principal_paid == Decimal("400.00") and rows[1].paid_at is None
    assert rows[2].status == "paid" and rows[2].paid_at == now and rows[2].fee_paid == Decimal("6.00")
    assert rows[3].due_date == date(2026, 4, 5)
    bulk_update_fast([], ["status"])

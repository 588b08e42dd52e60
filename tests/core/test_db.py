"""The bulk writers of the debit engine write exactly what Django's own would, on every backend."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import insert_rows, update_rows
from installments.models import Installment
from installments.services import plan_create
from repayments.models import Repayment, RepaymentEvent


@pytest.mark.ledger_corrupted
def test_update_rows_updates_only_the_given_rows_and_fields(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer, product=flat_product, principal="1200.00", tenor=3, purchase_date=date(2026, 1, 5)
    )
    first, second, third = plan.installments.order_by("sequence")
    now = timezone.now()
    first.principal_paid, first.status, first.paid_at = Decimal("400.00"), "pending", None
    second.fee_paid, second.status, second.paid_at = Decimal("6.00"), "paid", now
    second.principal_paid = Decimal("400.00")
    third.due_date = third.due_date + timedelta(days=1)  # not in the field list: must not be written
    fields = ("principal_paid", "fee_paid", "status", "paid_at")
    update_rows(
        Installment, fields, [(i.pk, *(getattr(i, f) for f in fields)) for i in (first, second, third)]
    )
    rows = {i.sequence: i for i in Installment.objects.filter(plan=plan)}
    assert rows[1].principal_paid == Decimal("400.00")
    assert rows[1].paid_at is None
    assert rows[2].status == "paid"
    assert rows[2].paid_at == now
    assert rows[2].fee_paid == Decimal("6.00")
    assert rows[3].due_date == date(2026, 4, 5)


def test_insert_rows_fills_defaults_and_returns_the_new_rows_in_order(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer, product=flat_product, principal="1200.00", tenor=3, purchase_date=date(2026, 1, 5)
    )
    rows = [
        {
            "customer_id": customer.pk,
            "plan_id": plan.pk,
            "amount": Decimal(f"{n}.50"),
            "mode": "due_now",
            "channel": "auto_debit",
            "idempotency_key": f"key-{n}",
        }
        for n in range(1, 4)
    ]
    returned = insert_rows(Repayment, rows, returning=("id", "idempotency_key"))
    assert [key for _, key in returned] == ["key-1", "key-2", "key-3"]
    saved = {r.pk: r for r in Repayment.objects.filter(pk__in=[pk for pk, _ in returned])}
    assert [saved[pk].amount for pk, _ in returned] == [Decimal("1.50"), Decimal("2.50"), Decimal("3.50")]
    first = saved[returned[0][0]]
    assert first.status == "pending"
    assert first.note == ""
    assert first.requested_at is not None
    assert len({r.public_id for r in saved.values()}) == 3  # a callable default runs once per row
    insert_rows(
        RepaymentEvent, [{"repayment_id": first.pk, "kind": "succeeded", "data": {"reference": "ch_1"}}]
    )
    assert RepaymentEvent.objects.get(repayment=first).data == {"reference": "ch_1"}
    # A conflicting row is skipped when asked, and refused otherwise; nothing half-written either way.
    insert_rows(Repayment, rows[:1], ignore_conflicts=True)
    assert Repayment.objects.filter(idempotency_key="key-1").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Repayment, rows[:1])
    with pytest.raises(ValueError, match="no default"):
        insert_rows(Repayment, [{"customer_id": customer.pk, "amount": Decimal("1.00")}])


@pytest.mark.ledger_corrupted
def test_update_rows_writes_tuples_by_primary_key(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer, product=flat_product, principal="1200.00", tenor=3, purchase_date=date(2026, 1, 5)
    )
    first, second, _third = plan.installments.order_by("sequence")
    update_rows(
        Installment,
        ("fee_paid", "status"),
        [(first.pk, Decimal("4.00"), "overdue"), (second.pk, Decimal("1.00"), "overdue")],
    )
    rows = {i.sequence: (i.fee_paid, i.status) for i in Installment.objects.filter(plan=plan)}
    assert rows == {
        1: (Decimal("4.00"), "overdue"),
        2: (Decimal("1.00"), "overdue"),
        3: (Decimal("0.00"), "pending"),
    }
    update_rows(Installment, ("status",), [])

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from installments.models import Installment, InstallmentPlan, InstallmentStatus, PlanStatus
from installments.services import overdue_sweep, plan_create, plan_quote


def test_quote_writes_nothing_and_matches_known_values(flat_product) -> None:
    quote = plan_quote(product=flat_product, principal="1200.00", tenor=12, purchase_date=date(2026, 1, 31))
    assert [row.total for row in quote.schedule.rows] == [Decimal("106.00")] * 12
    assert quote.total_fee == Decimal("72.00")
    assert quote.first_due_date == date(2026, 2, 28)
    assert Decimal("10") < quote.apr_percent < Decimal("12")
    assert not InstallmentPlan.objects.exists()


def test_plan_create_writes_plan_and_installments_with_frozen_terms(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=date(2026, 1, 31),
        merchant_order_ref="JD-1",
        description="手机",
    )
    flat_product.fee_rate = Decimal("0.009")
    flat_product.save()
    plan.refresh_from_db()
    assert plan.fee_rate == Decimal("0.005000")
    assert plan.total_fee == Decimal("72.00")
    assert plan.status == PlanStatus.ACTIVE
    assert plan.first_due_date == date(2026, 2, 28)
    rows = list(plan.installments.order_by("sequence"))
    assert [r.sequence for r in rows] == list(range(1, 13))
    assert sum(r.principal_due for r in rows) == Decimal("1200.00")
    assert sum(r.fee_due for r in rows) == plan.total_fee
    assert [r.due_date for r in rows][:3] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert all(r.status == InstallmentStatus.PENDING for r in rows)


def test_equal_installment_plan(customer, equal_installment_product) -> None:
    plan = plan_create(
        customer=customer,
        product=equal_installment_product,
        principal="10000.00",
        tenor=12,
        purchase_date=date(2026, 3, 15),
    )
    totals = [i.principal_due + i.fee_due for i in plan.installments.order_by("sequence")]
    assert totals[:-1] == [Decimal("888.49")] * 11
    assert sum(i.principal_due for i in plan.installments.all()) == Decimal("10000.00")
    assert plan.apr_percent == Decimal("12.00")


def test_customer_may_hold_many_plans(customer, flat_product) -> None:
    for ref in ("A", "B", "C"):
        plan_create(
            customer=customer,
            product=flat_product,
            principal="600",
            tenor=3,
            merchant_order_ref=ref,
        )
    assert customer.plans.count() == 3


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"tenor": 5}, "tenor_not_offered"),
        ({"principal": "0"}, "invalid_amount"),
        ({"principal": "-100.00"}, "invalid_amount"),
        ({"principal": "12.345"}, "invalid_amount"),
        ({"principal": "abc"}, "invalid_amount"),
        ({"principal": 1200.0}, "invalid_amount"),
        ({"principal": "50.00"}, "principal_below_minimum"),
        ({"principal": "50000.01"}, "principal_above_maximum"),
    ],
)
def test_plan_create_refusals_write_nothing(customer, flat_product, kwargs, code) -> None:
    args = {"customer": customer, "product": flat_product, "principal": "1200.00", "tenor": 12}
    args.update(kwargs)
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(**args)
    assert excinfo.value.code == code
    assert excinfo.value.message
    assert not InstallmentPlan.objects.exists()
    assert not Installment.objects.exists()


def test_apr_above_product_maximum_is_refused(customer, flat_product) -> None:
    flat_product.fee_rate = Decimal("0.02")  # 2% a period flat is about 36% APR at 12 periods
    flat_product.save()
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(customer=customer, product=flat_product, principal="1200.00", tenor=12)
    assert excinfo.value.code == "apr_above_maximum"
    assert not InstallmentPlan.objects.exists()


def test_inactive_product_and_customer_are_refused(customer, flat_product) -> None:
    flat_product.is_active = False
    flat_product.save()
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(customer=customer, product=flat_product, principal="1200.00", tenor=12)
    assert excinfo.value.code == "product_inactive"
    flat_product.is_active = True
    flat_product.save()
    customer.is_active = False
    customer.save()
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(customer=customer, product=flat_product, principal="1200.00", tenor=12)
    assert excinfo.value.code == "customer_inactive"


def test_future_purchase_date_is_refused(customer, flat_product) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(
            customer=customer,
            product=flat_product,
            principal="1200.00",
            tenor=12,
            purchase_date=timezone.localdate() + timedelta(days=1),
        )
    assert excinfo.value.code == "purchase_date_in_future"


def test_same_merchant_order_is_financed_once(customer, other_customer, flat_product) -> None:
    plan_create(
        customer=customer,
        product=flat_product,
        principal="1200",
        tenor=3,
        merchant_order_ref="JD-9",
    )
    with pytest.raises(ApplicationError) as excinfo:
        plan_create(
            customer=customer,
            product=flat_product,
            principal="1200",
            tenor=3,
            merchant_order_ref="JD-9",
        )
    assert excinfo.value.code == "duplicate_merchant_order"
    assert excinfo.value.status == 409
    assert InstallmentPlan.objects.count() == 1
    assert Installment.objects.count() == 3
    # Another customer's order with the same reference is a different order.
    plan_create(
        customer=other_customer,
        product=flat_product,
        principal="1200",
        tenor=3,
        merchant_order_ref="JD-9",
    )


def test_mark_overdue_is_idempotent(customer, flat_product) -> None:
    today = timezone.localdate()
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=3,
        purchase_date=today - timedelta(days=70),
    )
    assert overdue_sweep(as_of=today).marked_overdue == 2
    assert overdue_sweep(as_of=today).marked_overdue == 0
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    statuses = list(plan.installments.order_by("sequence").values_list("status", flat=True))
    assert statuses == ["overdue", "overdue", "pending"]

"""The database refuses rows that break a money invariant, whatever code writes them.

These run on SQLite locally and on PostgreSQL in CI (.ci/run), where they prove PostgreSQL's refusals.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from psycopg2 import errorcodes

from installments.models import Installment, InstallmentPlan, InstallmentProduct, PlanKind
from installments.services import plan_create


@pytest.fixture
def plan(customer, flat_product) -> InstallmentPlan:
    return plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=3,
        purchase_date=date(2026, 1, 5),
    )


def _refused(queryset_update) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        queryset_update()


@pytest.mark.parametrize(
    "changes",
    [
        {"principal_due": Decimal("-0.01")},
        {"fee_paid": Decimal("-1.00")},
        {"penalty_waived": Decimal("-0.01")},
        {"principal_paid": F("principal_due") + Decimal("0.01")},
        {"fee_paid": F("fee_due"), "fee_waived": Decimal("0.01")},
        {"penalty_paid": Decimal("0.01")},  # no penalty is due yet
        {"status": "paid"},  # paid without paid_at
        {"sequence": 0},
    ],
)
def test_installment_invariants_are_constraints(plan, changes) -> None:
    first = plan.installments.filter(sequence=1)
    _refused(lambda: first.update(**changes))
    # The row is unchanged after the refusal.
    row = first.get()
    assert row.principal_due == Decimal("400.00")
    assert row.total_paid == Decimal("0.00")


def test_one_installment_per_plan_and_sequence(plan) -> None:
    _refused(
        lambda: Installment.objects.create(
            plan=plan, sequence=1, due_date=date(2026, 2, 5), principal_due=Decimal("1.00")
        )
    )


@pytest.mark.ledger_corrupted
def test_paid_equal_to_due_is_allowed(plan) -> None:
    row = plan.installments.get(sequence=1)
    Installment.objects.filter(pk=row.pk).update(principal_paid=F("principal_due"), fee_paid=F("fee_due"))
    row.refresh_from_db()
    assert row.outstanding == Decimal("0.00")


@pytest.mark.parametrize(
    "changes",
    [
        {"principal": Decimal("0.00")},
        {"tenor": 0},
        {"total_fee": Decimal("-0.01")},
        {"first_due_date": date(2026, 1, 5)},  # not after the purchase date
        {"kind": PlanKind.SECONDARY},  # a secondary plan needs its source
    ],
)
def test_plan_invariants_are_constraints(plan, changes) -> None:
    _refused(lambda: InstallmentPlan.objects.filter(pk=plan.pk).update(**changes))


def test_product_invariants_are_constraints(flat_product) -> None:
    products = InstallmentProduct.objects.filter(pk=flat_product.pk)
    _refused(lambda: products.update(fee_rate=Decimal("-0.001")))
    _refused(lambda: products.update(max_principal=Decimal("10.00")))
    _refused(lambda: products.update(max_apr_percent=Decimal("0")))


@pytest.mark.postgres
def test_postgresql_holds_every_declared_constraint(db) -> None:
    """Each model constraint exists in PostgreSQL's catalog, so no writer can get around it."""
    declared = {
        c.name
        for model in (Installment, InstallmentPlan, InstallmentProduct)
        for c in model._meta.constraints
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint UNION SELECT indexname FROM pg_indexes")
        present = {row[0] for row in cursor.fetchall()}
    assert declared - present == set()


@pytest.mark.postgres
def test_postgresql_reports_a_check_violation(plan) -> None:
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        plan.installments.filter(sequence=1).update(principal_paid=Decimal("999.00"))
    assert excinfo.value.__cause__.pgcode == errorcodes.CHECK_VIOLATION
    assert "installment_principal_paid_lte_due" in str(excinfo.value)

"""One owner for the plan ledger (DESIGN.md): only ``installments`` writes plan and installment rows, and
the journal that mirrors them.

Every INSERT, UPDATE or DELETE on those two tables during each money journey is caught as it reaches the
database, and the Python stack that sent it is walked to the innermost frame of project code (kernel
helpers in ``core/``, such as the bulk writers, are followed through to their caller): that frame must
be in ``installments/``. A repayments module that writes installments or plans directly fails here.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from installments.models import Installment, InstallmentPlan, JournalEntry, JournalLine
from installments.services import (
    adjustment_create,
    charge_off_undo_request,
    plan_create,
    plan_restage,
    plans_charge_off,
)
from repayments.services import (
    autodebit_set,
    debit_run_inline,
    repayment_create,
    repayment_record_offline,
    repayment_reverse,
)
from tests.schedule_dates import first_due_on, purchase_due_on

ROOT = Path(__file__).resolve().parents[2]
TABLES = (
    Installment._meta.db_table,
    InstallmentPlan._meta.db_table,
    JournalEntry._meta.db_table,
    JournalLine._meta.db_table,
)
_WRITE = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from)\s+\"?(" + "|".join(map(re.escape, TABLES)) + r")\"?[\s(]",
    re.IGNORECASE,
)


def _writer(stack: list[traceback.FrameSummary]) -> str:
    """The innermost frame of project code below the test, kernel helpers (core/) looked through."""
    for frame in reversed(stack):
        path = Path(frame.filename).resolve()
        if ROOT not in path.parents or ".venv" in path.parts:
            continue
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("core", "tests"):
            continue
        return f"{relative}:{frame.lineno} {frame.name}"
    return "<no project frame>"


@contextmanager
def ledger_writes() -> Iterator[list[tuple[str, str]]]:
    """(table, writing frame) for every write to the plan or installment table inside the block."""
    writes: list[tuple[str, str]] = []

    def watch(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        for table in {m.group(1) for m in _WRITE.finditer(sql)}:
            writes.append((table, _writer(traceback.extract_stack()[:-1])))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        yield writes


def assert_ledger_owned(writes: list[tuple[str, str]]) -> None:
    assert writes, "the journey wrote no plan or installment row: the check saw nothing"
    strangers = [(table, frame) for table, frame in writes if not frame.startswith("installments/")]
    assert strangers == [], f"written outside installments/: {strangers}"
    assert JournalLine._meta.db_table in {table for table, _frame in writes}, "no journal lines posted"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("+8613900000019", "admin-pw-1234", real_name="客服")


def test_a_customer_payment_writes_the_ledger_only_through_installments(customer, card, overdue_plan) -> None:
    with ledger_writes() as writes:
        repayment_create(
            customer=customer,
            plan=overdue_plan,
            mode="due_now",
            card=card,
            channel="web",
            idempotency_key="o1",
        )
    assert_ledger_owned(writes)


def test_an_auto_debit_chunk_writes_the_ledger_only_through_installments(
    customer, flat_product, card
) -> None:
    today = timezone.localdate()
    plans = []
    for n in range(3):
        plan = plan_create(
            customer=customer,
            product=flat_product,
            principal=Decimal("1200.00"),
            tenor=12,
            purchase_date=purchase_due_on(today),
            merchant_order_ref=f"AD-{n}",
        )
        plans.append(first_due_on(plan, today))
        autodebit_set(customer=customer, plan=plan, enabled=True)
    with ledger_writes() as writes:
        run = debit_run_inline(business_date=today, slot=1)
    assert run.succeeded == 3
    assert_ledger_owned(writes)


def test_a_reversal_writes_the_ledger_only_through_installments(customer, card, overdue_plan, staff) -> None:
    payment = repayment_create(
        customer=customer, plan=overdue_plan, mode="payoff", card=card, channel="web", idempotency_key="r1"
    )
    with ledger_writes() as writes:
        repayment_reverse(staff=staff, repayment=payment, reason="disputed")
    assert_ledger_owned(writes)


def test_an_offline_payment_writes_the_ledger_only_through_installments(overdue_plan, staff) -> None:
    with ledger_writes() as writes:
        repayment_record_offline(staff=staff, plan=overdue_plan, amount="212.00", reference="TRF-9")
    assert_ledger_owned(writes)


def test_a_restaging_writes_the_ledger_only_through_installments(customer, current_plan) -> None:
    with ledger_writes() as writes:
        plan_restage(customer=customer, plan_id=current_plan.pk, tenor=12)
    assert_ledger_owned(writes)


def test_a_charge_off_and_its_undo_write_the_ledger_only_through_installments(
    overdue_plan, staff, settings
) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100000.00"
    InstallmentPlan.objects.filter(pk=overdue_plan.pk).update(charge_off_after_days=1)
    today = timezone.localdate()
    with ledger_writes() as writes:
        assert plans_charge_off(business_date=today).charged_off == 1
        charge_off_undo_request(staff=staff, plan=overdue_plan, reason="a test of the writers", today=today)
    assert_ledger_owned(writes)


def test_a_staff_waiver_writes_the_ledger_only_through_installments(current_plan, staff) -> None:
    with ledger_writes() as writes:
        adjustment_create(
            plan=current_plan, kind="waive_fee", amount="6.00", reason_code="goodwill", note="", actor=staff
        )
    assert_ledger_owned(writes)


def test_the_check_sees_a_write_from_outside(customer, current_plan) -> None:
    """The check itself: a write sent from this test module (not installments/) is reported."""
    with ledger_writes() as writes:
        InstallmentPlan.objects.filter(pk=current_plan.pk).update(updated_at=timezone.now())
    assert writes
    assert writes[0][0] == InstallmentPlan._meta.db_table
    with pytest.raises(AssertionError, match="written outside installments/"):
        assert_ledger_owned(writes)

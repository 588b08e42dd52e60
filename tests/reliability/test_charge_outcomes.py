"""A charge's outcome is decided once and never dropped (issue 15, finding 1 of the outside review).

Reconciliation runs beside a slow bank with its real rule (ask about a pending repayment whose last call is
older than the threshold), while the charger is still working through its batch: no payment may be failed
while its charge can still be sent, and the bank must end equal to the books (``ledger_breaches``, which
compares the simulated bank's charges with our allocations). The threshold is scaled down from 5 minutes to
a second and the bank answers in 0.8 s, so the old shape of the defect (stamp at claim, fail at threshold,
charge anyway) shows in seconds. Before the fix every test here failed with a breach like
``charged but repayment ... is failed``.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from installments.models import Installment, InstallmentPlan
from installments.schedules import add_months
from installments.services import plan_create
from repayments.gateway import reset_gateway_cache
from repayments.ledger import ledger_breaches
from repayments.models import (
    DebitAttempt,
    DebitRun,
    DebitRunStatus,
    Repayment,
    RepaymentStatus,
)
from repayments.services import (
    autodebit_set,
    card_bind_verified,
    debit_chunk_process,
    debit_run_plan,
    repayment_create,
    repayments_reconcile,
    repayments_run_scheduled,
)
from simulators.bank import SimulatedGateway, simulator_set_balance
from simulators.models import SimulatedCharge
from tests.cards import ICBC_DEBIT
from tests.reliability.workers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
LATENCY_MS = 800
THRESHOLD = timedelta(seconds=1)


class SlowChargeBank(SimulatedGateway):
    """The simulated bank, slow to charge and quick to look a key up: as when the reconciler runs in
    another process than the charger (the review's reproduction), so its lookup can come before a charge
    that is still on its way."""

    def __init__(self) -> None:
        super().__init__(latency_ms=0)

    def charge(self, **kwargs):
        time.sleep(LATENCY_MS / 1000)
        return super().charge(**kwargs)


@pytest.fixture
def slow_bank(settings):
    settings.PAYMENT_GATEWAY = f"{__name__}.SlowChargeBank"
    reset_gateway_cache()
    yield
    settings.PAYMENT_GATEWAY = "simulated"
    reset_gateway_cache()


def portfolio(flat_product, count: int, *, due_today: bool = True) -> tuple[User, object, list]:
    today = timezone.localdate()
    customer = User.objects.create_user("+8613877770000", "Lease-pass-2026", real_name="孙八")
    card = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="孙八", reserved_phone="13877770000"
    )
    simulator_set_balance(card.gateway_token, Decimal("100000.00"))
    purchase = today - timedelta(days=31 if due_today else 5)
    if due_today:
        while add_months(purchase, 1) != today:
            purchase += timedelta(days=1)
    plans = [
        plan_create(
            customer=customer,
            product=flat_product,
            principal="1200.00",
            tenor=12,
            purchase_date=purchase,
            merchant_order_ref=f"L{i}",
        )
        for i in range(count)
    ]
    return customer, card, plans


def in_thread(target) -> tuple[threading.Thread, list]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def reconcile_while(thread: threading.Thread, rounds: int = 8) -> None:
    """Beat's reconcile task, every half second while the charger works (the real rule, a short threshold)."""
    for _ in range(rounds):
        if not thread.is_alive():
            break
        time.sleep(0.5)
        repayments_reconcile(older_than=THRESHOLD)
        connection.close()


def test_scheduled_payments_behind_a_slow_bank_are_never_failed_while_chargeable(
    flat_product, slow_bank
) -> None:
    customer, card, plans = portfolio(flat_product, 4, due_today=False)
    tomorrow = timezone.localdate() + timedelta(days=1)
    for i, plan in enumerate(plans):
        repayment_create(
            customer=customer, plan=plan, mode="custom", amount="10.00", card=card, channel="api",
            idempotency_key=f"sched-{i}", scheduled_for=tomorrow,
        )  # fmt: skip
    thread, errors = in_thread(lambda: repayments_run_scheduled(today=tomorrow))
    reconcile_while(thread)
    thread.join(timeout=30)
    assert not errors
    repayments_reconcile(older_than=THRESHOLD)
    statuses = list(Repayment.objects.values_list("status", flat=True))
    assert statuses == [RepaymentStatus.SUCCEEDED] * 4, statuses
    assert SimulatedCharge.objects.filter(status="succeeded").count() == 4
    assert list(ledger_breaches()) == []


@pytest.mark.parametrize("concurrency", [1, 2])
def test_debit_chunk_behind_a_slow_bank_is_never_failed_while_chargeable(
    flat_product, slow_bank, settings, concurrency
) -> None:
    """Sequential calls (SQLite's path, one thread) and the worker's concurrent gateway threads."""
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = concurrency
    customer, _card, plans = portfolio(flat_product, 6)
    for plan in plans:
        autodebit_set(customer=customer, plan=plan, enabled=True)
    run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    assert len(chunks) == 1
    thread, errors = in_thread(lambda: debit_chunk_process(chunk=chunks[0]))
    reconcile_while(thread)
    thread.join(timeout=30)
    assert not errors
    run.refresh_from_db()
    assert (run.attempts, run.succeeded, run.failed, run.status) == (6, 6, 0, DebitRunStatus.FINISHED)
    assert Installment.objects.filter(due_date=timezone.localdate(), status="paid").count() == 6
    assert SimulatedCharge.objects.filter(status="succeeded").count() == 6
    assert list(ledger_breaches()) == []


def test_double_click_on_confirm_shows_one_payment_to_both_submissions(flat_product) -> None:
    """Two submissions of one idempotency key both pass the first lookup, then queue on the plan lock:
    the second must get the first's payment, not "nothing due" (black-box walk, issue 15 point 15)."""
    customer, card, plans = portfolio(flat_product, 1)
    plan = plans[0]
    results: list[object] = []
    gate = threading.Event()
    held = threading.Event()

    def hold_plan_lock() -> None:
        with transaction.atomic():
            InstallmentPlan.objects.select_for_update().get(pk=plan.pk)
            held.set()
            gate.wait(10)

    def submit() -> None:
        try:
            results.append(
                repayment_create(
                    customer=customer,
                    plan=plan,
                    mode="due_now",
                    card=card,
                    channel="web",
                    idempotency_key="double-click",
                )
            )
        except ApplicationError as exc:
            results.append(exc.code)

    holder, holder_errors = in_thread(hold_plan_lock)
    assert held.wait(10)
    clicks = [in_thread(submit) for _ in range(2)]
    assert wait_until(lambda: _waiting_on_locks() >= 2, timeout=10), (
        "both submissions should be waiting for the plan lock"
    )
    gate.set()
    for thread, errors in [(holder, holder_errors), *clicks]:
        thread.join(timeout=30)
        assert not errors
    assert all(isinstance(r, Repayment) for r in results), results
    assert results[0].pk == results[1].pk
    assert Repayment.objects.count() == 1
    assert list(ledger_breaches()) == []


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_two_processes_on_one_run_count_each_chunk_and_attempt_once(flat_product, settings) -> None:
    """Finding 14: every chunk run twice at once (a second ``run_daily``, a redelivery), then the slot
    planned again: the run's counts are those of its attempts, and it finishes once."""
    settings.AUTODEBIT_CHUNK_SIZE = 2
    customer, _card, plans = portfolio(flat_product, 6)
    for plan in plans:
        autodebit_set(customer=customer, plan=plan, enabled=True)
    today = timezone.localdate()
    run, chunks = debit_run_plan(business_date=today, slot=1)
    assert len(chunks) == 3
    threads = [in_thread(lambda c=c: debit_chunk_process(chunk=c)) for c in chunks for _ in range(2)]
    for thread, errors in threads:
        thread.join(timeout=60)
        assert not errors
    run.refresh_from_db()
    assert (run.chunks_done, run.chunks_total) == (3, 3)
    assert (run.attempts, run.succeeded, run.failed) == (6, 6, 0)
    assert run.amount_charged == Decimal("636.00")
    assert run.status == DebitRunStatus.FINISHED
    # Planned again (an operator's re-run): nothing left to debit, and the counts stay true.
    again, new_chunks = debit_run_plan(business_date=today, slot=1)
    for c in new_chunks:
        debit_chunk_process(chunk=c)
    again.refresh_from_db()
    assert (again.chunks_done, again.chunks_total, again.attempts, again.succeeded) == (3, 3, 6, 6)
    assert DebitAttempt.objects.count() == 6
    assert DebitRun.objects.get(pk=run.pk).status == DebitRunStatus.FINISHED
    assert list(ledger_breaches()) == []

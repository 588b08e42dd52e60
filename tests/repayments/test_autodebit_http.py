"""The debit engine's batch path against the bank service in a real subprocess (``PAYMENT_GATEWAY=http``,
``POST /v1/charges/batch``): per-item outcomes, a batch answered too late (every item unknown, then
settled by reconciliation's poll), an item charged but unanswered, and two workers sharing a run. After
each test the ledger check compares the bank's books with ours charge by charge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from installments.models import Installment, InstallmentPlan
from installments.services import plan_create
from repayments.gateway import BatchCharging, close_gateway_connections, get_gateway
from repayments.http_gateway import HttpGateway
from repayments.ledger import ledger_breaches
from repayments.models import BankCard, DebitAttempt, Repayment, RepaymentStatus
from repayments.services import (
    autodebit_set,
    debit_chunk_process,
    debit_run_inline,
    debit_run_plan,
    repayments_reconcile,
)
from tests.bank_service import SECRET, BankProcess
from tests.factories import BoundCardFactory

pytestmark = pytest.mark.bank_service

D = Decimal
DECLINED = "6222020000000007"
INSUFFICIENT = "6222020000000015"
ANSWER_LOST = "6222020000000031"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """As in test_http_gateway.py: module-scoped, so the after-test ledger check reads this bank."""
    process = BankProcess(tmp_path_factory.mktemp("bank") / "bank.sqlite3").start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        GATEWAY_HTTP_READ_TIMEOUT=1.0,
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture
def http_gateway(bank: BankProcess, tmp_path: Path) -> Iterator[HttpGateway]:
    bank.database = tmp_path / "bank.sqlite3"
    bank.restart()
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    assert isinstance(gateway, BatchCharging)
    yield gateway
    gateway.close()


@pytest.fixture
def today():
    return timezone.localdate()


def _balance(gateway: HttpGateway, card: BankCard) -> Decimal:
    return D(gateway.simulator_admin("GET", f"balance/{card.gateway_token}")["balance"])


def _due_today(customer, product, today, cards: list[BankCard], ref: str) -> list[InstallmentPlan]:
    """One plan per card, installment 1 (106.00) due today, auto-debit on with that card."""
    plans = []
    for i, card in enumerate(cards):
        plan = plan_create(
            customer=customer,
            product=product,
            principal=D("1200.00"),
            tenor=12,
            purchase_date=today - timedelta(days=31),
            merchant_order_ref=f"{ref}{i}",
        )
        Installment.objects.filter(plan=plan, sequence=1).update(due_date=today)
        autodebit_set(customer=customer, plan=plan, enabled=True, card=card)
        plans.append(plan)
    return plans


def test_each_item_of_a_batch_takes_its_own_outcome(
    http_gateway, customer, flat_product, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 2
    good = BoundCardFactory(customer=customer)
    declined = BoundCardFactory(customer=customer, number=DECLINED)
    poor = BoundCardFactory(customer=customer, number=INSUFFICIENT)
    _due_today(customer, flat_product, today, [good, declined, good, poor, good], "MIX")
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.failed, run.status) == (5, 3, 2, "finished")
    assert run.failures_by_reason == {"declined": 1, "insufficient_funds": 1}
    assert _balance(http_gateway, good) == D("10000.00") - 3 * D("106.00")
    assert _balance(http_gateway, declined) == D("10000.00")
    # Each debit is at the bank under its own key, with the outcome we recorded.
    for repayment in Repayment.objects.filter(debit_attempt__run=run):
        charge = http_gateway.get_charge(idempotency_key=f"repayment:{repayment.public_id}")
        assert charge is not None
        assert charge.succeeded == (repayment.status == RepaymentStatus.SUCCEEDED)
    assert list(ledger_breaches()) == []


def test_a_batch_answered_too_late_is_unknown_until_the_poll(
    http_gateway, customer, flat_product, today, settings
) -> None:
    """The bank charges the batch and answers after our read timeout: every debit stays pending (the run
    open), nothing is charged again by a later slot, and reconciliation's poll settles each once."""
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 10
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 3, "LATE")
    http_gateway.simulator_admin("POST", "faults", {"timeout_rate": 1, "timeout_seconds": 3})
    run = debit_run_inline(business_date=today, slot=1)
    http_gateway.simulator_admin("POST", "faults", {"timeout_rate": 0})
    assert (run.attempts, run.succeeded, run.failed, run.status) == (3, 0, 0, "running")
    assert Repayment.objects.filter(status=RepaymentStatus.PENDING).count() == 3
    assert _balance(http_gateway, card) == D("10000.00") - 3 * D("106.00")  # the bank did charge them
    debit_run_inline(business_date=today, slot=2)
    assert DebitAttempt.objects.count() == 3
    assert repayments_reconcile(older_than=timedelta(0)) == 3
    run.refresh_from_db()
    assert (run.succeeded, run.status, run.amount_charged) == (3, "finished", D("318.00"))
    assert Installment.objects.filter(due_date=today, status="paid").count() == 3
    assert _balance(http_gateway, card) == D("10000.00") - 3 * D("106.00")
    assert list(ledger_breaches()) == []


def test_an_item_charged_but_unanswered_is_settled_by_the_poll(
    http_gateway, customer, flat_product, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 10
    good = BoundCardFactory(customer=customer)
    lost = BoundCardFactory(customer=customer, number=ANSWER_LOST)
    _first, unanswered, _third = _due_today(customer, flat_product, today, [good, lost, good], "ITEM")
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.status) == (3, 2, "running")
    pending = Repayment.objects.get(status=RepaymentStatus.PENDING)
    assert pending.plan_id == unanswered.pk
    assert _balance(http_gateway, lost) == D("9894.00")
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    run.refresh_from_db()
    assert (run.succeeded, run.status) == (3, "finished")
    assert _balance(http_gateway, lost) == D("9894.00")
    assert list(ledger_breaches()) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sharing_a_run_never_debit_twice(
    http_gateway, customer, flat_product, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 3
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4
    settings.AUTODEBIT_CHUNK_SIZE = 6
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 12, "PAIR")
    run, chunks = debit_run_plan(business_date=today, slot=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(order: list) -> None:
        try:
            barrier.wait()
            for chunk in order:
                debit_chunk_process(chunk=chunk)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(o,)) for o in (chunks, chunks[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    run.refresh_from_db()
    assert (run.attempts, run.succeeded, run.failed, run.status) == (12, 12, 0, "finished")
    assert _balance(http_gateway, card) == D("10000.00") - 12 * D("106.00")
    assert list(ledger_breaches()) == []

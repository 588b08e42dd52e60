"""The debit engine's batch path (批量代扣) on the in-process simulated bank: each debit charged once with its
own key, per-item outcomes settled as single charges are, a batch whose answer is lost left unknown until
reconciliation asks the bank key by key, and two workers sharing a run never debiting twice.

The live bank process runs the same cases in test_autodebit_http.py."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
from django.db import connection
from django.utils import timezone

from installments.models import Installment, InstallmentPlan
from installments.services import plan_create
from repayments.gateway import ChargeRequest, ChargeResult, GatewayError, GatewayTimeout, get_gateway
from repayments.ledger import ledger_breaches
from repayments.models import AutoDebitMandate, BankCard, DebitAttempt, DebitRun, Repayment, RepaymentStatus
from repayments.services import (
    autodebit_set,
    debit_chunk_process,
    debit_run_inline,
    debit_run_plan,
    repayments_reconcile,
)
from repayments.services.settlement import gateway_key
from simulators.bank import SimulatedGateway, simulator_balance
from simulators.models import SimulatedCharge
from tests.factories import BoundCardFactory

D = Decimal
DECLINED = "6222020000000007"
INSUFFICIENT = "6222020000000015"
SOFT_FAIL = "6222020000000023"
ANSWER_LOST = "6222020000000031"


class CountingGateway(SimulatedGateway):
    """The simulated bank, counting its batch calls; ``lose_next_batch`` charges the next batch in full and
    then answers nothing, as a batch request whose answer never came back."""

    batches: ClassVar[list[int]] = []
    lose_next_batch: ClassVar[bool] = False

    def charge_batch(self, items: Sequence[ChargeRequest]) -> list[ChargeResult | GatewayError]:
        type(self).batches.append(len(items))
        results = super().charge_batch(items)
        if type(self).lose_next_batch:
            type(self).lose_next_batch = False
            raise GatewayTimeout("The bank did not answer the batch.")
        return results


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def counting(settings) -> type[CountingGateway]:
    settings.PAYMENT_GATEWAY = f"{__name__}.CountingGateway"
    CountingGateway.batches = []
    CountingGateway.lose_next_batch = False
    assert isinstance(get_gateway(), CountingGateway)
    return CountingGateway


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


def _charged_once_each(run: DebitRun) -> None:
    """Every debit of the run has exactly one charge at the bank, under its repayment's key."""
    keys = [gateway_key(r.public_id) for r in Repayment.objects.filter(debit_attempt__run=run)]
    assert SimulatedCharge.objects.filter(idempotency_key__in=keys).count() == len(keys)


@pytest.mark.parametrize("batch_size", [2, 100])
def test_batches_charge_every_debit_once(
    customer, flat_product, counting, today, settings, batch_size
) -> None:
    _every_debit_charged_once(customer, flat_product, counting, today, settings, batch_size)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_in_flight_at_once_charge_every_debit_once(
    customer, flat_product, counting, today, settings
) -> None:
    """Committed rows, so the worker's gateway threads (their own connections) see them."""
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4
    _every_debit_charged_once(customer, flat_product, counting, today, settings, 2)


def _every_debit_charged_once(customer, flat_product, counting, today, settings, batch_size: int) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = batch_size
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 5, "ALL")
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.failed, run.status) == (5, 5, 0, "finished")
    # Every debit went in a batch of at most the batch size.
    assert sum(counting.batches) == 5
    assert max(counting.batches) == min(batch_size, 5)
    assert simulator_balance(card.gateway_token) == D("10000.00") - 5 * D("106.00")
    assert Installment.objects.filter(due_date=today, status="paid").count() == 5
    _charged_once_each(run)
    # The next slot finds them paid: nothing is charged again.
    debit_run_inline(business_date=today, slot=2)
    assert DebitAttempt.objects.count() == 5


def test_batch_size_zero_charges_one_call_per_debit(
    customer, flat_product, counting, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 0
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 3, "ONE")
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded) == (3, 3)
    assert counting.batches == []


def test_each_item_of_a_batch_takes_its_own_outcome(
    customer, flat_product, counting, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 10
    cards = [
        BoundCardFactory(customer=customer),
        BoundCardFactory(customer=customer, number=DECLINED),
        BoundCardFactory(customer=customer, number=INSUFFICIENT),
        BoundCardFactory(customer=customer, number=SOFT_FAIL),
    ]
    good, declined, poor, busy = _due_today(customer, flat_product, today, cards, "MIX")
    run = debit_run_inline(business_date=today, slot=1)
    assert counting.batches == [4]
    assert (run.attempts, run.succeeded, run.failed) == (4, 1, 3)
    assert run.failures_by_reason == {"declined": 1, "insufficient_funds": 1, "failed": 1}
    outcome = {a.plan_id: (a.status, a.failure_code) for a in DebitAttempt.objects.all()}
    assert outcome == {
        good.pk: ("succeeded", ""),
        declined.pk: ("failed", "declined"),
        poor.pk: ("failed", "insufficient_funds"),
        busy.pk: ("failed", "failed"),
    }
    # A hard decline moves auto-debit off that card (the customer's default card here), as a single call's.
    assert AutoDebitMandate.objects.get(plan=declined).card_id != cards[1].pk
    assert simulator_balance(cards[0].gateway_token) == D("9894.00")
    _charged_once_each(run)


def test_a_batch_whose_answer_is_lost_stays_unknown_until_reconciled(
    customer, flat_product, counting, today, settings
) -> None:
    """The bank charged every item and its answer never came: every debit is pending (not failed, not
    retried under a new key), the run stays open, and reconciliation settles each by asking for its key."""
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 10
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 3, "LOST")
    counting.lose_next_batch = True
    run = debit_run_inline(business_date=today, slot=1)
    assert (run.attempts, run.succeeded, run.failed, run.status) == (3, 0, 0, "running")
    assert Repayment.objects.filter(status=RepaymentStatus.PENDING).count() == 3
    assert set(DebitAttempt.objects.values_list("status", flat=True)) == {"pending"}
    assert simulator_balance(card.gateway_token) == D("10000.00") - 3 * D("106.00")  # charged meanwhile
    debit_run_inline(business_date=today, slot=2)  # a later slot does not charge them again
    assert SimulatedCharge.objects.count() == 3
    assert repayments_reconcile(older_than=timedelta(0)) == 3
    run.refresh_from_db()
    assert (run.succeeded, run.failed, run.status, run.amount_charged) == (3, 0, "finished", D("318.00"))
    assert Installment.objects.filter(due_date=today, status="paid").count() == 3
    assert simulator_balance(card.gateway_token) == D("10000.00") - 3 * D("106.00")
    assert list(ledger_breaches()) == []


def test_an_item_charged_but_unanswered_is_settled_by_reconciliation(
    customer, flat_product, counting, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 10
    good = BoundCardFactory(customer=customer)
    lost = BoundCardFactory(customer=customer, number=ANSWER_LOST)
    _first, unanswered, _third = _due_today(customer, flat_product, today, [good, lost, good], "ITEM")
    run = debit_run_inline(business_date=today, slot=1)
    assert counting.batches == [3]
    assert (run.attempts, run.succeeded, run.status) == (3, 2, "running")
    pending = Repayment.objects.get(status=RepaymentStatus.PENDING)
    assert pending.plan_id == unanswered.pk
    assert simulator_balance(lost.gateway_token) == D("9894.00")  # the bank did charge it
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    run.refresh_from_db()
    assert (run.succeeded, run.status) == (3, "finished")
    pending.refresh_from_db()
    assert pending.status == RepaymentStatus.SUCCEEDED
    assert simulator_balance(lost.gateway_token) == D("9894.00")  # not charged twice
    _charged_once_each(run)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sharing_a_run_never_debit_twice_with_batches(
    customer, flat_product, counting, today, settings
) -> None:
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 3
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4
    settings.AUTODEBIT_CHUNK_SIZE = 6
    card = BoundCardFactory(customer=customer)
    _due_today(customer, flat_product, today, [card] * 12, "PAIR")
    run, chunks = debit_run_plan(business_date=today, slot=1)
    assert len(chunks) == 2
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

    threads = [
        threading.Thread(target=worker, args=(chunks,)),
        threading.Thread(target=worker, args=(chunks[::-1],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    run.refresh_from_db()
    assert (run.attempts, run.succeeded, run.failed, run.status) == (12, 12, 0, "finished")
    assert DebitAttempt.objects.count() == 12
    assert Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED).count() == 12
    assert simulator_balance(card.gateway_token) == D("10000.00") - 12 * D("106.00")
    _charged_once_each(run)
    assert list(ledger_breaches()) == []

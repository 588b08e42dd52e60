"""Faults of the bank as an outside service (issue 17, section 2), against the bank service in a real
subprocess with its webhooks pointed at Django's live server: the process killed in the middle of a debit
run and restarted, answers that come after our read timeout, webhooks lost on the way, and a bank slow for a
whole slot. The in-process simulator's versions are in test_worker_faults.py and test_charge_outcomes.py.

Every case ends the same way: no repayment left pending, every installment charged at most once, the
bank's books (its ``GET /v1/charges`` listing and its settlement file for the day, through the T+1
reconciliation) equal to our succeeded repayments key by key and amount by amount, and, after the test,
``check_ledger`` clean against this bank (the module-scoped settings outlive the after-test check).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from installments.models import Installment
from installments.schedules import add_months
from installments.services import plan_create
from repayments.gateway import close_gateway_connections, get_gateway
from repayments.http_gateway import HttpGateway
from repayments.models import (
    DebitRun,
    DebitRunStatus,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentStatus,
)
from repayments.services import (
    autodebit_set,
    card_bind_verified,
    debit_run_inline,
    gateway_key,
    reconciliation_run,
    repayment_create,
    repayments_reconcile,
)
from tests.bank_service import SECRET, BankProcess
from tests.cards import ICBC_DEBIT

# PostgreSQL, as the other reliability tests: the debit thread, the live server's webhook thread and the
# test write at once, which SQLite's in-memory test database refuses ("table is locked").
pytestmark = [pytest.mark.bank_service, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal
INSTALLMENT = D("106.00")  # 1,200.00 over 12 periods at the flat product's rate


@pytest.fixture(scope="module")
def bank(live_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """The bank service with webhooks to the live server (quick backoff) and ``PAYMENT_GATEWAY=http`` at
    it, with a short read timeout so a late answer is quick to provoke."""
    process = BankProcess(
        tmp_path_factory.mktemp("bank") / "bank.sqlite3",
        env={
            "BANK_WEBHOOK_URL": f"{live_server.url}/webhooks/bank/",
            "BANK_WEBHOOK_BACKOFF_SECONDS": "0.1",
            "BANK_WEBHOOK_MAX_BACKOFF_SECONDS": "0.5",
        },
    ).start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        GATEWAY_HTTP_READ_TIMEOUT=1.0,
        BANK_WEBHOOK_SECRET="",
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture
def http_gateway(bank: BankProcess, tmp_path: Path, settings) -> Iterator[HttpGateway]:
    """Empty books for each test (the same address, a new file), and the worker's gateway threads."""
    settings.AUTODEBIT_GATEWAY_CONCURRENCY = 4  # threads on PostgreSQL; SQLite charges one at a time
    bank.database = tmp_path / "bank.sqlite3"
    bank.restart()
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    yield gateway
    gateway.close()


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def _faults(gateway: HttpGateway, **faults: float) -> None:
    gateway.simulator_admin("POST", "faults", faults)


def _webhook_faults(gateway: HttpGateway, **faults: float) -> None:
    gateway.simulator_admin("POST", "webhook-faults", faults)


def _portfolio(flat_product, count: int) -> tuple[User, list]:
    """``count`` plans of one customer with an installment due today and auto-debit on, paid by one card
    bound and funded at the bank service."""
    today = timezone.localdate()
    customer = User.objects.create_user("+8613877770001", "Bank-pass-2026", real_name="周九")
    card = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="周九", reserved_phone="13877770001"
    )
    get_gateway().simulator_admin(  # type: ignore[attr-defined]
        "POST", "balance", {"token_or_fingerprint": card.gateway_token, "amount": "100000.00"}
    )
    purchase = today - timedelta(days=31)
    while add_months(purchase, 1) != today:
        purchase += timedelta(days=1)
    plans = [
        plan_create(
            customer=customer,
            product=flat_product,
            principal="1200.00",
            tenor=12,
            purchase_date=purchase,
            merchant_order_ref=f"HB{i}",
        )
        for i in range(count)
    ]
    for plan in plans:
        autodebit_set(customer=customer, plan=plan, enabled=True)
    return customer, plans


def _slot(slot: int = 1) -> DebitRun:
    """One debit slot, its chunks processed here (a worker's tasks, without the broker)."""
    return debit_run_inline(business_date=timezone.localdate(), slot=slot)


def _in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
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


def _reconcile() -> None:
    """Beat's minute reconciliation, with the waiting time of its rule already passed."""
    repayments_reconcile(older_than=timedelta(0), unclaimed_after=timedelta(0))


def _status_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Repayment.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def _books_agree(gateway: HttpGateway) -> None:
    """The bank's books are ours: its succeeded charges (the listing) are our succeeded card repayments,
    same keys, same amounts, nothing refunded; its settlement file for today reconciles with no break;
    every webhook delivered (so nothing is still on its way when the test's database goes)."""
    _until(lambda: gateway.simulator_admin("GET", "webhooks") == {"pending": 0})
    assert not Repayment.objects.filter(status=RepaymentStatus.PENDING).exists(), _status_counts()
    charges = list(gateway.succeeded_charges(key_prefix="repayment:"))
    bank = {charge.idempotency_key: charge.amount for charge in charges}
    ours = {
        gateway_key(public_id): amount
        for public_id, amount in Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED)
        .exclude(channel=RepaymentChannel.STAFF)
        .values_list("public_id", "amount")
    }
    assert bank == ours
    assert all(charge.refunded == 0 for charge in charges)
    # Each succeeded repayment was told once, by whichever of answer, webhook and poll came first.
    succeeded_events = RepaymentEvent.objects.filter(kind="succeeded").count()
    assert succeeded_events == len(ours)
    reconciled = reconciliation_run(business_date=timezone.localdate())
    assert reconciled.breaks == []
    assert reconciled.matched == len(ours)


def _paid_today() -> int:
    return Installment.objects.filter(due_date=timezone.localdate(), status="paid").count()


def test_the_bank_killed_mid_run_and_restarted(http_gateway, bank, flat_product, settings) -> None:
    """The bank dies holding the answers of the charges in flight (made, not yet answered) while the rest
    of the chunk is unsent; it comes back on the same books. The charges it made are unknown to us until
    the poll (or their webhook, sent after the restart from the bank's outbox) settles them; the ones it
    never saw are failed by the poll and charged at the next slot; nothing is charged twice."""
    settings.GATEWAY_HTTP_READ_TIMEOUT = 30.0  # only the kill ends the wait for an answer
    # One call per debit, so the kill lands between charges (a batch is one request: it dies whole, which
    # tests/repayments/test_autodebit_batch.py and test_autodebit_http.py cover).
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 0
    count = 12
    _portfolio(flat_product, count)
    _faults(http_gateway, timeout_rate=1, timeout_seconds=60)  # charge, then hold the answer
    watcher = bank.gateway(retries=0)
    thread, errors = _in_thread(lambda: _slot(1))
    _until(lambda: any(True for _ in watcher.succeeded_charges(key_prefix="repayment:")))
    time.sleep(0.3)  # the other gateway threads' charges reach the bank too
    watcher.close()
    bank.stop()  # SIGKILL, as a crash: every answer held is lost
    time.sleep(1.0)  # charges meanwhile find nobody: refused, never sent
    bank.start()  # same file, same port; no faults
    thread.join(timeout=60)
    assert not errors, errors
    charged = sum(1 for _ in http_gateway.succeeded_charges(key_prefix="repayment:"))
    assert 1 <= charged < count  # the kill landed mid-run
    # Unknown to us: at least the charges sent while the bank was down (never seen), and those whose
    # answers died with it unless their webhook, sent from the outbox after the restart, settled them.
    assert Repayment.objects.filter(status=RepaymentStatus.PENDING).exists()
    _reconcile()
    assert not Repayment.objects.filter(status=RepaymentStatus.PENDING).exists()
    charged = sum(1 for _ in http_gateway.succeeded_charges(key_prefix="repayment:"))
    assert Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED).count() == charged
    assert _paid_today() == charged  # what the bank took, and only that, is applied
    run = _slot(2)  # the next slot charges what the bank never saw
    assert (run.status, run.succeeded) == (DebitRunStatus.FINISHED, count - charged)
    assert _paid_today() == count
    _books_agree(http_gateway)


def test_answers_after_our_read_timeout_are_resolved_by_the_status_poll(
    http_gateway, flat_product, settings
) -> None:
    """Half the charges are answered only after our 1 s read timeout (the bank did charge them) and no
    webhook gets through: those debits stay pending, unknown, until the poll asks the bank by key."""
    settings.AUTODEBIT_GATEWAY_BATCH_SIZE = 0  # one call per debit: a timeout hits some charges, not all
    count = 6
    _portfolio(flat_product, count)
    _webhook_faults(http_gateway, drop_rate=1)
    _faults(http_gateway, timeout_rate=0.5, timeout_seconds=1.5, seed=3)
    run = _slot(1)
    pending = Repayment.objects.filter(status=RepaymentStatus.PENDING).count()
    assert 0 < pending < count
    assert run.status == DebitRunStatus.RUNNING  # not finished while an outcome is unknown
    assert run.failed == 0  # an unknown outcome is never a failure
    _faults(http_gateway, timeout_rate=0)
    _reconcile()
    run.refresh_from_db()
    assert (run.status, run.succeeded, run.failed) == (DebitRunStatus.FINISHED, count, 0)
    assert _paid_today() == count
    _webhook_faults(http_gateway, drop_rate=0)  # the late webhooks now arrive: duplicates of the poll
    _books_agree(http_gateway)


def test_webhooks_lost_then_the_poll_settles(http_gateway, customer, overdue_plan, flat_product) -> None:
    """Every answer is lost on the way back (charged at the bank) and every webhook is dropped: a debit
    chunk and a customer's payment are all unknown until the poll settles them; the webhooks that finally
    arrive change nothing."""
    count = 4
    _portfolio(flat_product, count)
    _webhook_faults(http_gateway, drop_rate=1)
    _faults(http_gateway, lost_rate=1)
    card = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name=customer.real_name, reserved_phone="13811112222"
    )
    payment = repayment_create(
        customer=customer, plan=overdue_plan, mode="due_now", card=card, channel="web", idempotency_key="lost"
    )
    run = _slot(1)
    assert payment.status == RepaymentStatus.PENDING
    assert Repayment.objects.filter(status=RepaymentStatus.PENDING).count() == count + 1
    assert http_gateway.simulator_admin("GET", "webhooks")["pending"] == count + 1  # retried, dropped
    _faults(http_gateway, lost_rate=0)
    _reconcile()
    payment.refresh_from_db()
    run.refresh_from_db()
    assert payment.status == RepaymentStatus.SUCCEEDED
    assert (run.status, run.succeeded) == (DebitRunStatus.FINISHED, count)
    _webhook_faults(http_gateway, drop_rate=0)
    _books_agree(http_gateway)


def test_the_bank_slow_for_a_whole_slot(http_gateway, flat_product) -> None:
    """Every charge of the slot takes 0.4 s while beat's reconciliation runs beside it with a short
    threshold, and the bank's webhooks reach us before the chunk settles: no debit is failed while its
    charge can still be made, each is settled once (webhook or chunk, whichever first), the run counts
    each once."""
    count = 8
    _portfolio(flat_product, count)
    _faults(http_gateway, latency_ms=400)
    thread, errors = _in_thread(lambda: _slot(1))
    while thread.is_alive():
        time.sleep(0.3)
        repayments_reconcile(older_than=timedelta(seconds=0.5))
        connection.close()
    thread.join(timeout=60)
    assert not errors, errors
    _faults(http_gateway, latency_ms=0)
    _until(lambda: not Repayment.objects.filter(status=RepaymentStatus.PENDING).exists())
    run = DebitRun.objects.get(slot=1)
    assert (run.status, run.attempts, run.succeeded, run.failed) == (DebitRunStatus.FINISHED, count, count, 0)
    assert _paid_today() == count
    _books_agree(http_gateway)

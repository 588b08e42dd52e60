"""Fault injection with real worker processes on PostgreSQL and Redis.

* A worker's process is SIGKILLed at random points of a debit run (acks_late + reject_on_worker_lost):
  after recovery every due installment is charged exactly once and the ledger is clean.
* One run on two worker processes: both take chunks, nothing is charged twice.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from accounts.models import User
from installments.models import Installment
from installments.services import plan_create
from repayments.ledger import ledger_breaches
from repayments.models import DebitAttempt, Repayment
from repayments.services import autodebit_set, card_bind_verified, debit_run_plan, repayments_reconcile
from repayments.tasks import debit_chunk
from simulators.bank import simulator_balance, simulator_set_balance
from simulators.models import SimulatedCharge
from tests.cards import ICBC_DEBIT
from tests.reliability.workers import Worker, wait_until
from tests.schedule_dates import first_due_on, purchase_due_on

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def due_today_portfolio(flat_product, count: int) -> tuple[User, object]:
    """``count`` plans of one customer, each with installment 1 (106.00) due today and auto-debit on."""
    today = timezone.localdate()
    customer = User.objects.create_user("+8613899990000", "Fault-pass-2026", real_name="钱七")
    card = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="钱七", reserved_phone="13899990000"
    )
    simulator_set_balance(card.gateway_token, Decimal("1000000.00"))
    purchase = purchase_due_on(today)
    for i in range(count):
        plan = plan_create(
            customer=customer, product=flat_product, principal="1200.00", tenor=12, purchase_date=purchase,
            merchant_order_ref=f"F{i}",
        )  # fmt: skip
        first_due_on(plan, today)
        autodebit_set(customer=customer, plan=plan, enabled=True)
    assert Installment.objects.filter(due_date=today).count() == count
    return customer, card


def settled(count: int) -> bool:
    return (
        DebitAttempt.objects.filter(status="pending").count() == 0
        and Repayment.objects.filter(status="succeeded").count() >= count
    )


def test_sigkilled_workers_still_charge_every_installment_exactly_once(flat_product, settings) -> None:
    count = 40
    settings.AUTODEBIT_CHUNK_SIZE = 5
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    worker = Worker(queue, "victim", GATEWAY_SIM_LATENCY_MS="40")
    rng = random.Random(20261129)
    kills = 0
    try:
        for chunk in chunks:
            debit_chunk.apply_async((chunk.run_id, chunk.first_plan_id, chunk.last_plan_id), queue=queue)
        assert wait_until(lambda: worker.children(), timeout=30)
        for _ in range(3):
            time.sleep(rng.uniform(0.3, 1.0))
            kills += worker.kill_child()
        assert wait_until(lambda: settled(count), timeout=180), "the run did not recover"
    finally:
        worker.stop()
    repayments_reconcile(older_than=timedelta(0))
    assert kills >= 2
    charges = SimulatedCharge.objects.filter(token=card.gateway_token, status="succeeded")
    assert charges.count() == count  # one charge per due installment, none twice
    assert Repayment.objects.filter(status="succeeded").count() == count
    assert DebitAttempt.objects.filter(run=run).count() == count
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * count
    assert list(ledger_breaches()) == []


def test_one_run_on_two_worker_processes(flat_product, settings) -> None:
    count = 24
    settings.AUTODEBIT_CHUNK_SIZE = 3
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    _run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    queue = f"pair-{uuid.uuid4().hex[:8]}"
    workers = [Worker(queue, f"w{i}", GATEWAY_SIM_LATENCY_MS="30") for i in range(2)]
    try:
        assert wait_until(lambda: all(w.children() for w in workers), timeout=30)
        time.sleep(1)  # both consumers registered before the chunks arrive
        results = [
            debit_chunk.apply_async((c.run_id, c.first_plan_id, c.last_plan_id), queue=queue) for c in chunks
        ]
        outcomes = [r.get(timeout=120) for r in results]
    finally:
        for w in workers:
            w.stop()
    hosts = {o["worker"].split("@")[0] for o in outcomes}
    assert hosts == {"w0", "w1"}, f"chunks went to {hosts} only"
    assert sum(o["attempts"] for o in outcomes) == count
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * count
    assert list(ledger_breaches()) == []


def test_timeouts_and_soft_failures_across_a_run_lose_and_double_nothing(flat_product, settings) -> None:
    """20% of charges time out after the money moved (unknown outcome), 10% fail softly."""
    count = 40
    settings.AUTODEBIT_CHUNK_SIZE = 10
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    today = timezone.localdate()
    queue = f"flaky-{uuid.uuid4().hex[:8]}"
    worker = Worker(queue, "flaky", GATEWAY_SIM_TIMEOUT_RATE="0.2", GATEWAY_SIM_FAILURE_RATE="0.1",
                    GATEWAY_SIM_SEED="7")  # fmt: skip
    try:
        for slot in (1, 2, 3):  # the day's three slots retry what failed softly
            _run, chunks = debit_run_plan(business_date=today, slot=slot)
            results = [
                debit_chunk.apply_async((c.run_id, c.first_plan_id, c.last_plan_id), queue=queue)
                for c in chunks
            ]
            for result in results:
                result.get(timeout=120)
            repayments_reconcile(older_than=timedelta(0))  # the timed-out ones: ask the bank by key
    finally:
        worker.stop()
    succeeded = Repayment.objects.filter(status="succeeded").count()
    charges = SimulatedCharge.objects.filter(token=card.gateway_token, status="succeeded").count()
    assert Repayment.objects.filter(status="pending").count() == 0
    assert charges == succeeded  # every charge has its repayment, none twice
    assert Repayment.objects.filter(status="failed").count() > 0  # soft failures happened and were retried
    assert succeeded >= count - 2  # after three slots nearly all are paid
    paid = Installment.objects.filter(due_date=today, status="paid").count()
    assert paid == succeeded  # one success per installment
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * succeeded
    assert list(ledger_breaches()) == []


def test_database_connections_dropped_mid_run(flat_product, settings) -> None:
    """Every worker database connection is terminated twice while the run is going."""
    count = 40
    settings.AUTODEBIT_CHUNK_SIZE = 5
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    _run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    queue = f"dbdrop-{uuid.uuid4().hex[:8]}"
    worker = Worker(queue, "dbdrop", GATEWAY_SIM_LATENCY_MS="40")
    dropped = 0
    try:
        assert wait_until(lambda: worker.children(), timeout=30)
        for chunk in chunks:
            debit_chunk.apply_async((chunk.run_id, chunk.first_plan_id, chunk.last_plan_id), queue=queue)
        for delay in (0.8, 1.5):
            time.sleep(delay)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                dropped += cursor.fetchone()[0]
        assert wait_until(lambda: settled(count), timeout=180), "the run did not recover"
    finally:
        worker.stop()
    repayments_reconcile(older_than=timedelta(0))
    assert dropped >= 1
    charges = SimulatedCharge.objects.filter(token=card.gateway_token, status="succeeded")
    assert charges.count() == count == Repayment.objects.filter(status="succeeded").count()
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * count
    assert list(ledger_breaches()) == []


def test_redis_restarted_in_the_middle_of_a_run(flat_product, settings, tmp_path) -> None:
    """The broker (a Redis of the test's own, with its append-only file) is restarted while chunks run;
    the worker reconnects, and running the slot again (as beat or an operator would) finishes the rest."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis() -> subprocess.Popen:
        process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),  # noqa: S607
             "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with socket.socket() as s:
            assert wait_until(lambda: s.connect_ex(("127.0.0.1", port)) == 0, timeout=10)
        return process

    count = 30
    settings.AUTODEBIT_CHUNK_SIZE = 5
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    today = timezone.localdate()
    redis = start_redis()
    # Not the current app: the rest of the suite keeps sending to the configured broker.
    producer = Celery("broker-restart-test", broker=url, backend=url, set_as_current=False)
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    worker = Worker(queue, "restart", GATEWAY_SIM_LATENCY_MS="40", REDIS_URL=url)
    try:
        _run, chunks = debit_run_plan(business_date=today, slot=1)
        for c in chunks:
            producer.send_task(
                "repayments.debit_chunk", (c.run_id, c.first_plan_id, c.last_plan_id), queue=queue
            )
        time.sleep(1.0)
        redis.terminate()
        redis.wait(timeout=10)
        time.sleep(1.0)
        redis = start_redis()
        wait_until(lambda: settled(count), timeout=60)
        # Whatever the restart cost, the slot run again finishes it, charging nothing twice.
        _run, chunks = debit_run_plan(business_date=today, slot=1)
        for c in chunks:
            producer.send_task(
                "repayments.debit_chunk", (c.run_id, c.first_plan_id, c.last_plan_id), queue=queue
            )
        assert wait_until(lambda: settled(count), timeout=120), "the run did not finish after the restart"
    finally:
        worker.stop()
        redis.terminate()
        redis.wait(timeout=10)
    repayments_reconcile(older_than=timedelta(0))
    charges = SimulatedCharge.objects.filter(token=card.gateway_token, status="succeeded")
    assert charges.count() == count == Repayment.objects.filter(status="succeeded").count()
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * count
    assert list(ledger_breaches()) == []


def test_chunk_lost_with_its_whole_worker_is_redelivered_within_the_visibility_timeout(
    flat_product, settings
) -> None:
    """Finding 11: the worker's MAIN process is killed (a lost machine) after its chunk recorded and
    while its calls are in flight. With Celery's default (1 h) the chunk came back an hour later; with
    CELERY_VISIBILITY_TIMEOUT_SECONDS (here 3 s, 600 s in production) another worker takes it in the same
    slot, charges each debit once, and the run ends finished with true counts."""
    count = 6
    settings.AUTODEBIT_CHUNK_SIZE = 6
    _customer, card = due_today_portfolio(flat_product, count)
    before = simulator_balance(card.gateway_token)
    run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    queue = f"lost-{uuid.uuid4().hex[:8]}"
    env = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "3", "AUTODEBIT_GATEWAY_CONCURRENCY": "2"}
    victim = Worker(queue, "lost", GATEWAY_SIM_LATENCY_MS="1500", **env)
    rescuer = None
    try:
        assert wait_until(lambda: victim.children(), timeout=30)
        for chunk in chunks:
            debit_chunk.apply_async((chunk.run_id, chunk.first_plan_id, chunk.last_plan_id), queue=queue)
        assert wait_until(lambda: DebitAttempt.objects.filter(run=run).count() == count, timeout=30)
        time.sleep(0.5)  # calls in flight
        for pid in victim.children():
            os.kill(pid, signal.SIGKILL)
        victim.process.kill()
        victim.process.wait(timeout=10)
        assert Repayment.objects.filter(status="succeeded").count() < count
        rescuer = Worker(queue, "rescuer", GATEWAY_SIM_LATENCY_MS="50", **env)
        assert wait_until(lambda: settled(count), timeout=90), "the lost chunk was not redelivered"
    finally:
        victim.stop()
        if rescuer is not None:
            rescuer.stop()
    run.refresh_from_db()
    assert (run.attempts, run.succeeded, run.failed) == (count, count, 0)
    assert (run.chunks_done, run.chunks_total, run.status) == (1, 1, "finished")
    charges = SimulatedCharge.objects.filter(token=card.gateway_token, status="succeeded")
    assert charges.count() == count
    assert simulator_balance(card.gateway_token) == before - Decimal("106.00") * count
    assert list(ledger_breaches()) == []

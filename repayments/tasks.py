"""Thin periodic tasks over repayments.services; each is safe to run twice or on many workers at once."""

import logging
import time
from datetime import date, timedelta

from celery import Task, shared_task
from django.utils import timezone

from core import logcontext
from core.locks import single_run
from core.tasks import RETRY_ON_DATABASE_ERRORS
from repayments.services import (
    Chunk,
    bank_webhook_events_prune,
    day_open,
    debit_chunk_process,
    debit_run_plan,
    ledger_check_daily,
    reconciliation_run,
    repayments_reconcile,
    repayments_run_scheduled,
)

logger = logging.getLogger(__name__)


@shared_task(name="repayments.reconcile", acks_late=True)
def reconcile_repayments() -> int:
    """Ask the gateway about payments left pending by a timeout or a crash, and finish them."""
    with single_run("repayments.reconcile", ttl_seconds=600) as mine:
        return repayments_reconcile() if mine else 0


@shared_task(name="repayments.settlement_reconcile", acks_late=True)
def settlement_reconcile(business_date: str | None = None) -> int:
    """T+1: match the bank's settlement file of ``business_date`` (yesterday by default) with our
    repayments; answers the number of breaks found (logged as an error when any is critical)."""
    day = date.fromisoformat(business_date) if business_date else timezone.localdate() - timedelta(days=1)
    with single_run(f"repayments.settlement_reconcile:{day}", ttl_seconds=3000) as mine:
        if not mine:
            return 0
        result = reconciliation_run(business_date=day)
        if result.critical:
            logger.error("settlement %s: %d critical break(s)", day, len(result.critical))
        return len(result.breaks)


@shared_task(name="repayments.prune_webhook_events", expires=3000)
def prune_webhook_events() -> int:
    """Records of bank webhooks older than BANK_WEBHOOK_KEEP_DAYS go (daily, one run at a time)."""
    with single_run("repayments.prune_webhook_events", ttl_seconds=3000) as mine:
        return bank_webhook_events_prune() if mine else 0


@shared_task(name="repayments.run_scheduled", acks_late=True)
def run_scheduled_repayments() -> int:
    """Charge scheduled payments whose date has come; rows are claimed with SKIP LOCKED."""
    with single_run("repayments.run_scheduled", ttl_seconds=3000) as mine:
        return repayments_run_scheduled() if mine else 0


@shared_task(name="repayments.debit_slot", acks_late=True, expires=3600)
def debit_slot(slot: int, business_date: str | None = None) -> int:
    """Plan one auto-debit slot and fan its chunks out to the workers."""
    day = date.fromisoformat(business_date) if business_date else timezone.localdate()
    with single_run(f"repayments.debit_slot:{day}:{slot}", ttl_seconds=600) as mine:
        if not mine:
            return 0
        _run, chunks = debit_run_plan(business_date=day, slot=slot)
        for chunk in chunks:
            debit_chunk.delay(chunk.run_id, chunk.first_plan_id, chunk.last_plan_id)
        return len(chunks)


@shared_task(
    name="repayments.debit_chunk",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # The chunk is idempotent, so a retry after a database error only finishes what the first try left.
    max_retries=8,
    **RETRY_ON_DATABASE_ERRORS,
)
def debit_chunk(self: Task, run_id: int, first_plan_id: int, last_plan_id: int) -> dict[str, object]:
    """One chunk of a run; a redelivery or a second worker on the same chunk charges nothing twice."""
    logcontext.run_id.set(str(run_id))
    logcontext.chunk.set(f"{first_plan_id}-{last_plan_id}")
    started = time.perf_counter()
    attempts = debit_chunk_process(chunk=Chunk(run_id, first_plan_id, last_plan_id))
    seconds = round(time.perf_counter() - started, 4)
    logger.info("debit chunk done: %s attempts in %s s", attempts, seconds)
    return {"attempts": attempts, "seconds": seconds, "worker": self.request.hostname}


@shared_task(name="repayments.ledger_check", acks_late=True, expires=3600)
def ledger_check() -> int:
    """The day's closing check after the last debit slot: breaches logged and shown on the day's runs."""
    with single_run("repayments.ledger_check", ttl_seconds=3600) as mine:
        return len(ledger_check_daily(business_date=timezone.localdate())) if mine else 0


@shared_task(name="repayments.daily_morning", acks_late=True, expires=3600)
def daily_morning() -> str:
    """Before the first debit slot: open the business day (sweep, reminders, expired offers)."""
    today = timezone.localdate()
    with single_run(f"repayments.daily_morning:{today}", ttl_seconds=3600) as mine:
        if not mine:
            return "already running"
        return f"{today}: {day_open(business_date=today)}"

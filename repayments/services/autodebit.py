"""自动扣款: the auto-debit setting per plan and the debit engine.

A ``DebitRun`` is one slot of one business date. It splits the plans to debit into id ranges (chunks),
and each chunk, on any worker:
1. claims its plans with ``SELECT ... FOR UPDATE SKIP LOCKED`` and records one pending repayment and one
   ``DebitAttempt`` per plan (unique on installment + date + attempt number), then commits;
2. charges the gateway with no lock held, concurrently (gateways are slow): in batches of
   ``AUTODEBIT_GATEWAY_BATCH_SIZE`` when the gateway charges batches (``BatchCharging``, 批量代扣), else
   one call per debit; either way each debit's own key, and an unanswered call or batch leaves its debits'
   outcomes unknown (pending) for reconciliation to ask the gateway about, key by key;
3. settles each charge through the same code as a customer's payment (allocation, plan status).
A redelivered chunk finds its attempts recorded and only finishes those still pending, so nothing is
charged twice; the gateway key is the repayment's, so even a charge in flight is not repeated.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from core.db import insert_rows, update_rows
from core.money import ZERO
from installments.allocation import due_now_total
from installments.freezes import plan_frozen_exists
from installments.ledger import OPEN_STATUSES, PAYABLE_PLAN_STATUSES, installment_rows, lock_plans, plan_dues
from installments.models import InstallmentPlan
from notifications.services import NotificationRequest, notifications_create_bulk, recipients
from repayments.gateway import (
    BatchCharging,
    ChargeRequest,
    ChargeResult,
    GatewayError,
    GatewayTimeout,
    close_gateway_connections,
    get_gateway,
)
from repayments.models import (
    AutoDebitMandate,
    CardStatus,
    DebitAttempt,
    DebitAttemptStatus,
    DebitChunk,
    DebitRun,
    DebitRunStatus,
    Repayment,
    RepaymentChannel,
    RepaymentMode,
    RepaymentStatus,
)
from repayments.services.mandates import mandate_fallback
from repayments.services.payments import charges_claim, charges_release
from repayments.services.settlement import NOT_CHARGED, Settlement, gateway_key, repayments_settle

logger = logging.getLogger(__name__)

# --- which plans a slot debits -----------------------------------------------------------------------


def slots() -> list[str]:
    return list(settings.AUTODEBIT_SLOTS)


def candidate_plans(business_date: date, slot: int) -> QuerySet[InstallmentPlan, int]:
    """Plans with auto-debit on and an open installment due today (any slot) or, on the first slot,
    within the last ``AUTODEBIT_MAX_GRACE_DAYS`` days; each plan's own grace days and its product's
    ``autodebit_retry_in_grace`` are checked per plan (``_attempt_number``). A plan frozen today (暂停计息)
    is left out unless the customer chose that auto-debit continues during the review."""
    lookback = settings.AUTODEBIT_MAX_GRACE_DAYS if slot == 1 else 0
    return (
        InstallmentPlan.objects.filter(
            autodebit__enabled=True,
            status__in=PAYABLE_PLAN_STATUSES,
            installments__status__in=OPEN_STATUSES,
            installments__due_date__lte=business_date,
            installments__due_date__gte=business_date - timedelta(days=lookback),
        )
        .exclude(plan_frozen_exists(business_date, autodebit_paused=True))
        .values_list("id", flat=True)
        .distinct()
        .order_by("id")
    )


@dataclass(frozen=True)
class Chunk:
    run_id: int
    first_plan_id: int
    last_plan_id: int


def debit_run_plan(*, business_date: date, slot: int) -> tuple[DebitRun, list[Chunk]]:
    """Create (or find) the run and cut its plans into id-range chunks for workers to claim.

    Planning a slot again (an operator's re-run, a second beat delivery) adds its chunks to the run and
    opens them again; the run's chunk counts are those of its chunk rows, never overwritten."""
    run, _created = DebitRun.objects.get_or_create(business_date=business_date, slot=slot)
    ids = list(candidate_plans(business_date, slot))
    size = settings.AUTODEBIT_CHUNK_SIZE
    chunks = [Chunk(run.pk, ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    with transaction.atomic():
        run = DebitRun.objects.select_for_update().get(pk=run.pk)
        DebitChunk.objects.bulk_create(
            [DebitChunk(run=run, first_plan_id=c.first_plan_id, last_plan_id=c.last_plan_id) for c in chunks],
            ignore_conflicts=True,
        )
        planned = {(c.first_plan_id, c.last_plan_id) for c in chunks}
        reopen = [
            pk
            for pk, first, last in DebitChunk.objects.filter(run=run, done_at__isnull=False).values_list(
                "pk", "first_plan_id", "last_plan_id"
            )
            if (first, last) in planned
        ]
        DebitChunk.objects.filter(pk__in=reopen).update(done_at=None)  # they run again
        run.chunks_total = DebitChunk.objects.filter(run=run).count()
        run.chunks_done = DebitChunk.objects.filter(run=run, done_at__isnull=False).count()
        if chunks:
            run.status, run.finished_at = DebitRunStatus.RUNNING, None
        run.save(update_fields=["chunks_total", "chunks_done", "status", "finished_at"])
    if not chunks:
        # Nothing to debit: no chunk will ever report done, and only a chunk's end used to finish a run, so a
        # slot with nothing due stayed "running 0/0" for ever on the workers (review). It finishes here,
        # unless chunks of an earlier planning are still out (they finish it).
        debit_run_finish_if_done(run.pk)
        run.refresh_from_db()
    return run, chunks


def debit_chunk_done(chunk: Chunk) -> None:
    """Count a chunk once, however many times it ran, then finish the run if nothing is left open."""
    with transaction.atomic():
        first = DebitChunk.objects.filter(
            run_id=chunk.run_id,
            first_plan_id=chunk.first_plan_id,
            last_plan_id=chunk.last_plan_id,
            done_at__isnull=True,
        ).update(done_at=timezone.now())
        if first:
            DebitRun.objects.filter(pk=chunk.run_id).update(chunks_done=F("chunks_done") + 1)
    debit_run_finish_if_done(chunk.run_id)


# --- one chunk -----------------------------------------------------------------------------------------


def _attempt_number(plan: _ClaimedPlan, trigger_due: date, business_date: date, slot: int) -> int | None:
    """Slots on the due date are attempts 1..n (up to the product's ``autodebit_slots_per_day``); during
    the grace days the first slot retries once a day (if the product says so). None: not this slot."""
    if trigger_due == business_date:
        return slot if slot <= plan.slots_per_day else None
    days_late = (business_date - trigger_due).days
    if slot == 1 and plan.retry_in_grace and 0 < days_late <= plan.grace_days:
        return 1
    return None


@dataclass(slots=True)
class _ClaimedPlan:
    """What recording an attempt reads of a plan and its product (``plan_dues`` reads the fee policy)."""

    pk: int
    customer_id: int
    grace_days: int
    prepayment_fee_policy: str
    prepayment_fee_rate: Decimal
    slots_per_day: int
    retry_in_grace: bool


@dataclass(slots=True)
class PendingDebit:
    """A recorded attempt still to charge, as a plain row: what the gateway call needs and the repayment
    whose answer ``repayments_settle`` records (it reads the rest itself, under its locks)."""

    repayment_id: int
    repayment_public_id: uuid.UUID
    amount: Decimal
    gateway_token: str

    COLUMNS: ClassVar[tuple[str, ...]] = ("id", "public_id", "amount", "card__gateway_token")  # of Repayment


def _record_attempts(run: DebitRun, chunk: Chunk) -> int:
    """Phase 1: claim the chunk's plans and record a pending repayment + attempt for each, in bulk."""
    business_date, slot = run.business_date, run.slot
    with transaction.atomic():
        in_range = candidate_plans(business_date, slot).filter(
            id__gte=chunk.first_plan_id, id__lte=chunk.last_plan_id
        )
        claimed, _none = lock_plans(in_range, no_key=False, installments=False, skip_locked=True)
        plans = [
            _ClaimedPlan(*values)
            for values in InstallmentPlan.objects.filter(pk__in=list(claimed))
            .order_by("id")
            .values_list(
                "id",
                "customer_id",
                "grace_days",
                "prepayment_fee_policy",
                "prepayment_fee_rate",
                "product__autodebit_slots_per_day",
                "product__autodebit_retry_in_grace",
            )
        ]
        if not plans:
            return 0
        plan_ids = [p.pk for p in plans]
        mandates = {
            plan_id: (mandate_id, card_id, card_status)
            for plan_id, mandate_id, card_id, card_status in AutoDebitMandate.objects.filter(
                plan_id__in=plan_ids
            ).values_list("plan_id", "id", "card_id", "card__status")
        }
        installments = installment_rows(plan_ids)
        today_attempts = list(
            DebitAttempt.objects.filter(plan_id__in=plan_ids, business_date=business_date)
            .exclude(failure_code=NOT_CHARGED)  # never reached the bank: this slot records it anew
            .values_list("installment_id", "attempt_number", "status")
        )
        done = {(installment_id, number) for installment_id, number, _status in today_attempts}
        # An installment debited successfully today is not debited again today, even if that payment was
        # reversed since (a staff reversal answers a dispute: taking the money again hours later would not).
        debited = {i for i, _n, status in today_attempts if status == DebitAttemptStatus.SUCCEEDED}
        given_up = {
            (installment_id, number): n
            for installment_id, number, n in DebitAttempt.objects.filter(
                plan_id__in=plan_ids, business_date=business_date, failure_code=NOT_CHARGED
            )
            .values_list("installment_id", "attempt_number")
            .annotate(n=Count("id"))
        }
        hard_declined = set(
            DebitAttempt.objects.filter(plan_id__in=plan_ids, failure_code="declined").values_list(
                "installment_id", "card_id"
            )
        )
        reserved = dict(
            Repayment.objects.filter(plan_id__in=plan_ids, status=RepaymentStatus.PENDING)
            .values_list("plan_id")
            .annotate(total=Sum("amount"))
        )
        attempts: list[dict[str, object]] = []
        repayments: list[dict[str, object]] = []
        for plan in plans:
            mandate_id, card_id, card_status = mandates[plan.pk]
            if card_status != CardStatus.ACTIVE:
                # Rare: the card was unbound or blocked since the mandate was set; the ORM path is fine.
                mandate = AutoDebitMandate.objects.select_related("card", "plan__customer").get(pk=mandate_id)
                card = mandate_fallback(mandate, "declined")
                if card is None:
                    continue
                card_id = card.pk
            dues = plan_dues(plan, installments[plan.pk], today=business_date)
            due_now = [d for d in dues if d.due_date <= business_date]
            if not due_now:
                continue  # the customer already paid
            trigger = due_now[-1]  # the installment this slot is for: due today, or in its grace days
            number = _attempt_number(plan, trigger.due_date, business_date, slot)
            if number is None or (trigger.installment_id, number) in done:
                continue  # not this slot's business, or recorded by an earlier delivery of this chunk
            if trigger.installment_id in debited:
                continue  # paid by a debit today (and reversed since): not again today
            if (trigger.installment_id, card_id) in hard_declined:
                continue  # no retry after a hard decline on this card
            # A customer's payment still pending already covers part of what is due: debit only the rest.
            amount = due_now_total(due_now, today=business_date) - reserved.get(plan.pk, ZERO)
            if amount <= 0:
                continue
            key = f"autodebit:{trigger.installment_id}:{business_date}:{number}"
            if (trigger.installment_id, number) in given_up:
                key += f":{given_up[trigger.installment_id, number] + 1}"  # a new key: the old one failed
            repayments.append(
                {
                    "customer_id": plan.customer_id,
                    "plan_id": plan.pk,
                    "amount": amount,
                    "mode": RepaymentMode.DUE_NOW,
                    "channel": RepaymentChannel.AUTO_DEBIT,
                    "status": RepaymentStatus.PENDING,
                    "card_id": card_id,
                    "idempotency_key": key,
                }
            )
            attempts.append(
                {
                    "run_id": run.pk,
                    "plan_id": plan.pk,
                    "installment_id": trigger.installment_id,
                    "business_date": business_date,
                    "attempt_number": number,
                    "card_id": card_id,
                    "amount": amount,
                    "status": DebitAttemptStatus.PENDING,
                    "repayment_id": key,  # replaced by the id below
                }
            )
        ids = dict(
            (key, pk) for pk, key in insert_rows(Repayment, repayments, returning=("id", "idempotency_key"))
        )
        for attempt in attempts:
            attempt["repayment_id"] = ids[attempt["repayment_id"]]
        insert_rows(DebitAttempt, attempts)
        if attempts:
            debit_runs_count({}, {run.pk: len(attempts)})  # counted with the rows, once
    return len(attempts)


def _charge(debit: PendingDebit) -> tuple[PendingDebit, ChargeResult | None]:
    try:
        return debit, get_gateway().charge(
            token=debit.gateway_token,
            amount=debit.amount,
            idempotency_key=gateway_key(debit.repayment_public_id),
        )
    except (GatewayTimeout, GatewayError):
        return debit, None  # unknown outcome: the repayment stays pending for reconciliation


_pool_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, size, pool)


def _gateway_pool(size: int) -> ThreadPoolExecutor:
    """One pool of gateway threads per worker process, kept between chunks (starting 100 threads per chunk
    is waste). Keyed by process id, so a forked child builds its own. The threads only wait on the
    gateway: the simulator does its bookkeeping on its own connections
    (``SimulatedGateway._bank_connections()``)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != size:
            old, _pool = (
                _pool,
                (os.getpid(), size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="gateway")),
            )
            if old is not None and old[0] == os.getpid():
                old[2].shutdown(wait=False)
        return _pool[2]


def close_gateway_pool() -> None:
    """Stop the gateway threads and close the gateway's own connections (tests, shutdown)."""
    global _pool
    with _pool_lock:
        current, _pool = _pool, None
    if current is not None and current[0] == os.getpid():
        current[2].shutdown(wait=True)
    close_gateway_connections()


def _charge_all(pending: list[PendingDebit], workers: int) -> list[tuple[PendingDebit, ChargeResult | None]]:
    """Charge each debit with its lease taken immediately before its own call, never for the whole chunk
    at once: with 500 debits and a slow bank, the last call starts minutes after the first, and a lease
    taken at the start would lapse while that debit waits. Up to ``workers`` calls are in flight on the
    worker's gateway threads; the leases of the next ones are taken in one statement as calls free up."""
    if connection.vendor == "sqlite" or workers <= 1 or len(pending) < 2:
        return [_charge(d) for d in pending if d.repayment_id in charges_claim([d.repayment_id])]
    pool = _gateway_pool(workers)
    waiting = deque(pending)
    running: set[Future] = set()
    outcomes: list[tuple[PendingDebit, ChargeResult | None]] = []
    refill = max(1, workers // 8)  # take leases a few at a time rather than one statement per call
    while waiting or running:
        free = workers - len(running)
        if waiting and free and (free >= min(refill, len(waiting)) or not running):
            batch = [waiting.popleft() for _ in range(min(free, len(waiting)))]
            claimed = charges_claim([d.repayment_id for d in batch])
            running.update(pool.submit(_charge, d) for d in batch if d.repayment_id in claimed)
            continue
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        outcomes.extend(f.result() for f in finished)
    return outcomes


def _charge_batch(debits: list[PendingDebit]) -> list[tuple[PendingDebit, ChargeResult | None]]:
    """One batch call (批量代扣): each debit with its own key. An item the gateway did not answer or
    refused, or the whole batch unanswered, is an unknown outcome (None), as a single call's timeout is."""
    gateway = get_gateway()
    if not isinstance(gateway, BatchCharging):  # the gateway setting changed since the chunk began
        return [_charge(d) for d in debits]
    items = [
        ChargeRequest(
            token=d.gateway_token, amount=d.amount, idempotency_key=gateway_key(d.repayment_public_id)
        )
        for d in debits
    ]
    try:
        results = gateway.charge_batch(items)
    except GatewayError as exc:  # GatewayTimeout included: every item may or may not have been charged
        logger.warning("batch of %d debits unanswered (%s): left pending for reconciliation", len(items), exc)
        return [(d, None) for d in debits]
    if len(results) != len(debits):
        logger.warning("batch of %d debits answered %d results: left pending", len(debits), len(results))
        return [(d, None) for d in debits]
    return [(d, r if isinstance(r, ChargeResult) else None) for d, r in zip(debits, results, strict=True)]


def _charge_batches(
    pending: list[PendingDebit], workers: int, size: int
) -> list[tuple[PendingDebit, ChargeResult | None]]:
    """``_charge_all`` for a gateway that charges batches: the chunk cut into batches of ``size``, up to
    ``workers`` batches in flight on the worker's gateway threads (one batch waits on the bank while
    another is sent). The leases of the batches about to be sent are taken in one statement immediately
    before they go (a chunk's batches usually all go at once: one statement per chunk)."""
    batches = [pending[i : i + size] for i in range(0, len(pending), size)]

    def claimed(group: list[list[PendingDebit]]) -> list[list[PendingDebit]]:
        ids = charges_claim([d.repayment_id for batch in group for d in batch])
        kept = [[d for d in batch if d.repayment_id in ids] for batch in group]
        return [batch for batch in kept if batch]

    outcomes: list[tuple[PendingDebit, ChargeResult | None]] = []
    if connection.vendor == "sqlite" or workers <= 1 or len(batches) < 2:
        for batch in batches:
            for ready in claimed([batch]):
                outcomes.extend(_charge_batch(ready))
        return outcomes
    pool = _gateway_pool(workers)
    waiting = deque(batches)
    running: set[Future] = set()
    while waiting or running:
        free = workers - len(running)
        if waiting and free:
            group = [waiting.popleft() for _ in range(min(free, len(waiting)))]
            running.update(pool.submit(_charge_batch, batch) for batch in claimed(group))
            continue
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            outcomes.extend(future.result())
    return outcomes


def debit_chunk_process(*, chunk: Chunk) -> int:
    """Run one chunk end to end; safe to run again (a redelivered task) or on several workers at once."""
    run = DebitRun.objects.get(pk=chunk.run_id)
    _record_attempts(run, chunk)
    # Two queries, not one join: right after a bulk insert the planner's statistics still say "no rows",
    # and it joined the chunk's attempts to *every* pending repayment of the run (a nested loop over the
    # pending-status index: 160 ms by the fourth chunk, growing with the pending repayments). Repayments by
    # primary key cost the same whatever the statistics say.
    attempted = DebitAttempt.objects.filter(
        run=run,
        status=DebitAttemptStatus.PENDING,
        plan_id__gte=chunk.first_plan_id,
        plan_id__lte=chunk.last_plan_id,
    ).values_list("repayment_id", flat=True)
    pending = [
        PendingDebit(*values)
        for values in Repayment.objects.filter(pk__in=list(attempted), status=RepaymentStatus.PENDING)
        .order_by("id")
        .values_list(*PendingDebit.COLUMNS)
    ]
    workers, batch_size = settings.AUTODEBIT_GATEWAY_CONCURRENCY, settings.AUTODEBIT_GATEWAY_BATCH_SIZE
    if batch_size > 0 and isinstance(get_gateway(), BatchCharging):
        outcomes = _charge_batches(pending, workers, batch_size)
    else:
        outcomes = _charge_all(pending, workers)
    charges_release([debit.repayment_id for debit, result in outcomes if result is None])
    repayments_settle(
        [(debit.repayment_id, result) for debit, result in outcomes if result is not None],
        today=run.business_date,
        after_settle=DebitsSettled(),
    )
    debit_chunk_done(chunk)
    return len(pending)


# --- after settling: attempts, run counts, the customer told -----------------------------------------------


@dataclass
class RunCounts:
    """What one settle transaction changes in a run's counts, written in that same transaction: a count
    moves only with the attempt whose state it counts, so two processes on one run never count twice."""

    succeeded: int = 0
    failed: int = 0
    amount_charged: Decimal = ZERO
    reasons: dict[str, int] = field(default_factory=dict)

    def failure(self, reason: str, n: int = 1) -> None:
        self.failed += n
        self.reasons[reason] = self.reasons.get(reason, 0) + n


def debit_runs_count(counts: dict[int, RunCounts], attempts: dict[int, int] | None = None) -> None:
    """Add to runs' counts inside the caller's transaction. The run rows are locked last and briefly
    (the caller commits right after), in id order, so chunks of one run settling at once only queue here."""
    attempts = attempts or {}
    for run_id in sorted(set(counts) | set(attempts)):
        run = DebitRun.objects.select_for_update().get(pk=run_id)
        delta = counts.get(run_id, RunCounts())
        run.attempts += attempts.get(run_id, 0)
        run.succeeded += delta.succeeded
        run.failed += delta.failed
        run.amount_charged += delta.amount_charged
        reasons = dict(run.failures_by_reason)
        for reason, n in delta.reasons.items():
            left = reasons.get(reason, 0) + n
            if left:
                reasons[reason] = left
            else:
                reasons.pop(reason, None)
        run.failures_by_reason = reasons
        run.save(update_fields=["attempts", "succeeded", "failed", "amount_charged", "failures_by_reason"])


def debit_run_finish_if_done(run_id: int) -> bool:
    """A run is finished when every chunk has run once and no attempt's outcome is still unknown (a
    timed-out charge counts only when reconciliation settles it, and then finishes the run)."""
    run = DebitRun.objects.filter(pk=run_id).values("status", "chunks_done", "chunks_total").first()
    if run is None or run["status"] != DebitRunStatus.RUNNING or run["chunks_done"] < run["chunks_total"]:
        return False
    if DebitAttempt.objects.filter(run_id=run_id, status=DebitAttemptStatus.PENDING).exists():
        return False
    return bool(
        DebitRun.objects.filter(
            pk=run_id, status=DebitRunStatus.RUNNING, chunks_done__gte=F("chunks_total")
        ).update(status=DebitRunStatus.FINISHED, finished_at=timezone.now())
    )


class DebitsSettled:
    """The debit engine's step after a settle, inside the settle's transaction (``after_settle``): each
    settled debit's attempt takes the outcome, the run's counts move with it (issue 15: a count moves only
    with the attempt whose state it counts), the customer gets the auto-debit SMS, and a hard decline
    moves the mandate off the card. Settlements that are not debits are left alone. ``run_ids`` are the
    runs touched, for the caller to finish once the transaction is over."""

    def __init__(self) -> None:
        self.run_ids: set[int] = set()

    def __call__(self, settled: list[Settlement]) -> None:
        by_repayment = {done.repayment_id: done for done in settled}
        rows = DebitAttempt.objects.filter(repayment_id__in=by_repayment).values_list(
            "repayment_id", "id", "run_id", "status", "failure_code"
        )
        if not rows:
            return
        to = recipients(done.customer_id for done in settled)
        attempts: list[tuple] = []
        messages: list[NotificationRequest] = []
        declined: list[Settlement] = []
        runs: dict[int, RunCounts] = {}
        for repayment_id, attempt_id, run_id, attempt_status, failure_code in rows:
            done = by_repayment[repayment_id]
            counts = runs.setdefault(run_id, RunCounts())
            self.run_ids.add(run_id)
            if done.succeeded:
                attempts.append((attempt_id, DebitAttemptStatus.SUCCEEDED, failure_code if done.late else ""))
                counts.succeeded += 1
                counts.amount_charged += done.amount
                if attempt_status == DebitAttemptStatus.FAILED:
                    counts.failure(failure_code, -1)  # counted as failed when it was given up
                if done.applied > 0:
                    messages.append(
                        NotificationRequest(
                            recipient=to[done.customer_id],
                            code="autodebit_succeeded",
                            context={
                                "plan": done.plan_name,
                                "amount": done.applied,
                                "remaining": done.remaining,
                                "card_last4": done.card_last4,
                            },
                            dedupe_key=f"autodebit_succeeded:{done.public_id}",
                        )
                    )
                continue
            reason = done.reason
            # A customer sees their own payment fail on the page; an auto-debit fails unseen, so say so.
            attempts.append((attempt_id, DebitAttemptStatus.FAILED, reason))
            counts.failure(reason)
            messages.append(
                NotificationRequest(
                    recipient=to[done.customer_id],
                    code="autodebit_failed",
                    context={"amount": done.amount, "card_last4": done.card_last4, "reason": reason},
                    dedupe_key=f"autodebit_failed:{attempt_id}",
                )
            )
            if done.result is not None and done.result.hard_decline:
                declined.append(done)
        update_rows(DebitAttempt, ("status", "failure_code"), attempts)
        notifications_create_bulk(messages)
        for done in declined:
            mandate = AutoDebitMandate.objects.select_related("card", "plan__customer").get(
                plan_id=done.plan_id
            )
            if mandate.card_id == done.card_id:
                mandate_fallback(mandate, "declined")
        debit_runs_count(runs)


def debit_run_inline(*, business_date: date, slot: int) -> DebitRun:
    """The whole slot in this process, chunk after chunk: for run_daily, demos and tests."""
    run, chunks = debit_run_plan(business_date=business_date, slot=slot)
    for chunk in chunks:
        debit_chunk_process(chunk=chunk)
    debit_run_finish_if_done(run.pk)  # the last chunk's pending charges may have settled since
    run.refresh_from_db()
    return run

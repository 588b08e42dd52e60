"""自动扣款: the auto-debit setting per plan and the debit engine.

A ``DebitRun`` is one slot of one business date. It splits the plans to debit into id ranges (chunks),
and each chunk, on any worker:
1. claims its plans with ``SELECT ... FOR UPDATE SKIP LOCKED`` and records one pending repayment and one
   ``DebitAttempt`` per plan (unique on installment + date + attempt number), then commits;
2. charges the gateway with no lock held, concurrently (gateways are slow);
3. settles each charge through the same code as a customer's payment (allocation, plan status).
A redelivered chunk finds its attempts recorded and only finishes those still pending, so nothing is
charged twice; the gateway key is the repayment's, so even a charge in flight is not repeated.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from config.db import bulk_update_fast
from config.errors import ApplicationError
from installments.models import Installment, InstallmentPlan
from notifications.services import NotificationRequest, notification_create, notifications_create_bulk
from repayments.gateway import ChargeResult, GatewayError, GatewayTimeout, get_gateway
from repayments.models import (
    AutoDebitMandate,
    BankCard,
    CardStatus,
    DebitAttempt,
    DebitAttemptStatus,
    DebitRun,
    DebitRunStatus,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentMode,
    RepaymentStatus,
)
from repayments.services.payments import (
    OPEN_STATUSES,
    PAYABLE_PLAN_STATUSES,
    ZERO,
    Posting,
    allocate_in_memory,
    gateway_key,
    plan_dues,
)

logger = logging.getLogger(__name__)


# --- the setting ------------------------------------------------------------------------------------


def autodebit_set(
    *, customer: User, plan: InstallmentPlan, enabled: bool, card: BankCard | None = None, otp_code: str = ""
) -> AutoDebitMandate:
    """Turn auto-debit on or off for a plan, or move it to another card (which needs the SMS code)."""
    if plan.customer_id != customer.pk:
        raise ApplicationError("plan_not_found", _("No such plan."), status=404)
    current = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
    if card is None:
        card = (
            current.card if current else BankCard.objects.filter(customer=customer, is_default=True).first()
        )
    if enabled:
        if card is None or card.customer_id != customer.pk or card.status != CardStatus.ACTIVE:
            raise ApplicationError(
                "card_required", _("Bind a bank card first, then turn on auto-debit."), status=400
            )
        if plan.status not in PAYABLE_PLAN_STATUSES:
            raise ApplicationError("plan_not_payable", _("Nothing is left to pay on this plan."), status=409)
    if current and card and current.card_id != card.pk:
        otp_verify(user=customer, purpose=OtpPurpose.CHANGE_AUTODEBIT_CARD, code=otp_code)
    with transaction.atomic():
        mandate, _created = AutoDebitMandate.objects.update_or_create(
            plan=plan, defaults={"card": card or current.card, "enabled": enabled}
        )
    return mandate


def _fallback_card(mandate: AutoDebitMandate, reason: str) -> BankCard | None:
    """The plan's card is gone or hard-declined: use the default card, else switch auto-debit off."""
    default = (
        BankCard.objects.filter(
            customer_id=mandate.plan.customer_id, is_default=True, status=CardStatus.ACTIVE
        )
        .exclude(pk=mandate.card_id)
        .first()
    )
    if default is not None:
        AutoDebitMandate.objects.filter(pk=mandate.pk).update(card=default)
        return default
    AutoDebitMandate.objects.filter(pk=mandate.pk).update(enabled=False)
    notification_create(
        user=mandate.plan.customer,
        code="autodebit_disabled",
        context={"plan": _plan_name(mandate.plan), "card_last4": mandate.card.last4, "reason": reason},
        dedupe_key=f"autodebit_disabled:{mandate.pk}:{mandate.card_id}",
    )
    return None


def _plan_name(plan: InstallmentPlan) -> str:
    return plan.display_name


# --- which plans a slot debits -----------------------------------------------------------------------


def slots() -> list[str]:
    return list(settings.AUTODEBIT_SLOTS)


def candidate_plans(business_date: date, slot: int):
    """Plans with auto-debit on and an open installment due today (any slot) or, on the first slot,
    within the last ``AUTODEBIT_MAX_GRACE_DAYS`` days; each plan's own grace days are checked per plan."""
    lookback = settings.AUTODEBIT_MAX_GRACE_DAYS if slot == 1 and settings.AUTODEBIT_RETRY_IN_GRACE else 0
    return (
        InstallmentPlan.objects.filter(
            autodebit__enabled=True,
            status__in=PAYABLE_PLAN_STATUSES,
            installments__status__in=OPEN_STATUSES,
            installments__due_date__lte=business_date,
            installments__due_date__gte=business_date - timedelta(days=lookback),
        )
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
    """Create (or find) the run and cut its plans into id-range chunks for workers to claim."""
    run, _created = DebitRun.objects.get_or_create(business_date=business_date, slot=slot)
    ids = list(candidate_plans(business_date, slot))
    size = settings.AUTODEBIT_CHUNK_SIZE
    chunks = [Chunk(run.pk, ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    DebitRun.objects.filter(pk=run.pk).update(chunks_total=len(chunks))
    run.chunks_total = len(chunks)
    return run, chunks


# --- one chunk -----------------------------------------------------------------------------------------


def _attempt_number(plan: InstallmentPlan, trigger_due: date, business_date: date, slot: int) -> int | None:
    """Slots on the due date are attempts 1..n (up to the product's ``autodebit_slots_per_day``); during
    the grace days the first slot retries once a day (if the product says so). None: not this slot."""
    product = plan.product
    if trigger_due == business_date:
        return slot if slot <= product.autodebit_slots_per_day else None
    days_late = (business_date - trigger_due).days
    retry_in_grace = settings.AUTODEBIT_RETRY_IN_GRACE and product.autodebit_retry_in_grace
    if slot == 1 and retry_in_grace and 0 < days_late <= plan.grace_days:
        return 1
    return None


def _record_attempts(run: DebitRun, chunk: Chunk) -> int:
    """Phase 1: claim the chunk's plans and record a pending repayment + attempt for each, in bulk."""
    business_date, slot = run.business_date, run.slot
    with transaction.atomic():
        in_range = candidate_plans(business_date, slot).filter(
            id__gte=chunk.first_plan_id, id__lte=chunk.last_plan_id
        )
        plans = list(
            InstallmentPlan.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=in_range)
            .select_related("product")
            .order_by("id")
        )
        if not plans:
            return 0
        plan_ids = [p.pk for p in plans]
        # The plans are loaded already: each mandate gets its plan object instead of a second copy (and the
        # customer's row, with its phone number to parse, is read only on the rare fallback path).
        by_id = {p.pk: p for p in plans}
        mandates = {}
        for m in AutoDebitMandate.objects.filter(plan_id__in=plan_ids).select_related("card"):
            m.plan = by_id[m.plan_id]
            mandates[m.plan_id] = m
        installments: dict[int, list[Installment]] = {}
        for inst in Installment.objects.filter(plan_id__in=plan_ids).order_by("plan_id", "sequence"):
            installments.setdefault(inst.plan_id, []).append(inst)
        done = set(
            DebitAttempt.objects.filter(plan_id__in=plan_ids, business_date=business_date).values_list(
                "installment_id", "attempt_number"
            )
        )
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
        attempts: list[DebitAttempt] = []
        repayments: list[Repayment] = []
        now = timezone.now()
        for plan in plans:
            mandate = mandates[plan.pk]
            card = mandate.card
            if card.status != CardStatus.ACTIVE:
                card = _fallback_card(mandate, "declined")
                if card is None:
                    continue
            dues = plan_dues(plan, installments[plan.pk], today=business_date)
            due_now = [d for d in dues if d.due_date <= business_date]
            if not due_now:
                continue  # the customer already paid
            trigger = due_now[-1]  # the installment this slot is for: due today, or in its grace days
            number = _attempt_number(plan, trigger.due_date, business_date, slot)
            if number is None or (trigger.installment_id, number) in done:
                continue  # not this slot's business, or recorded by an earlier delivery of this chunk
            if (trigger.installment_id, card.pk) in hard_declined:
                continue  # no retry after a hard decline on this card
            # A customer's payment still pending already covers part of what is due: debit only the rest.
            amount = sum((d.total for d in due_now), ZERO) - reserved.get(plan.pk, ZERO)
            if amount <= 0:
                continue
            repayment = Repayment(
                customer_id=plan.customer_id,
                plan=plan,
                amount=amount,
                mode=RepaymentMode.DUE_NOW,
                channel=RepaymentChannel.AUTO_DEBIT,
                card=card,
                idempotency_key=f"autodebit:{trigger.installment_id}:{business_date}:{number}",
                charge_attempted_at=now,
            )
            repayments.append(repayment)
            attempts.append(
                DebitAttempt(
                    run=run,
                    plan=plan,
                    installment_id=trigger.installment_id,
                    business_date=business_date,
                    attempt_number=number,
                    card=card,
                    amount=amount,
                    repayment=repayment,
                )
            )
        Repayment.objects.bulk_create(repayments, batch_size=1000)
        for attempt in attempts:
            attempt.repayment_id = attempt.repayment.pk
        DebitAttempt.objects.bulk_create(attempts, batch_size=1000)
    return len(attempts)


def _charge(attempt: DebitAttempt) -> tuple[DebitAttempt, ChargeResult | None]:
    try:
        return attempt, get_gateway().charge(
            token=attempt.card.gateway_token,
            amount=attempt.amount,
            idempotency_key=gateway_key(attempt.repayment),
        )
    except (GatewayTimeout, GatewayError):
        return attempt, None  # unknown outcome: the repayment stays pending for reconciliation


def _charge_concurrently(
    pending: list[DebitAttempt], workers: int
) -> list[tuple[DebitAttempt, ChargeResult | None]]:
    """Gateway calls are slow and independent: run them on a thread pool, then close each thread's
    database connection (the simulated gateway uses one) so none is left open."""
    workers = min(workers, len(pending)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(_charge, pending))
        barrier = threading.Barrier(workers)

        def close(_: int) -> None:
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            connection.close()

        list(pool.map(close, range(workers)))
    return outcomes


def debit_chunk_process(*, chunk: Chunk) -> int:
    """Run one chunk end to end; safe to run again (a redelivered task) or on several workers at once."""
    run = DebitRun.objects.get(pk=chunk.run_id)
    _record_attempts(run, chunk)
    pending = list(
        DebitAttempt.objects.filter(
            run=run,
            status=DebitAttemptStatus.PENDING,
            plan_id__gte=chunk.first_plan_id,
            plan_id__lte=chunk.last_plan_id,
            repayment__status=RepaymentStatus.PENDING,
        ).select_related("card", "repayment")
    )
    if connection.vendor == "sqlite" or settings.AUTODEBIT_GATEWAY_CONCURRENCY <= 1 or len(pending) < 2:
        outcomes = [_charge(a) for a in pending]
    else:
        outcomes = _charge_concurrently(pending, settings.AUTODEBIT_GATEWAY_CONCURRENCY)
    settled = [(attempt, result) for attempt, result in outcomes if result is not None]
    succeeded, failed, charged, reasons = _settle_bulk(settled, run.business_date)
    _count(run, len(pending), succeeded, failed, charged, reasons)
    return len(pending)


def _settle_bulk(
    settled: list[tuple[DebitAttempt, ChargeResult]], business_date: date
) -> tuple[int, int, Decimal, dict[str, int]]:
    """Phase 3 for a whole chunk in one transaction: the same allocation as a customer's payment,
    written with a handful of bulk queries instead of a dozen per debit."""
    succeeded = failed = 0
    charged = ZERO
    reasons: dict[str, int] = {}
    if not settled:
        return succeeded, failed, charged, reasons
    declined: list[DebitAttempt] = []
    with transaction.atomic():
        plan_ids = sorted({a.plan_id for a, _ in settled})
        plans = {
            p.pk: p
            for p in InstallmentPlan.objects.select_for_update(of=("self",))
            .filter(pk__in=plan_ids)
            .select_related("customer")
            .order_by("id")
        }
        installments: dict[int, list[Installment]] = {}
        for inst in (
            Installment.objects.select_for_update()
            .filter(plan_id__in=plan_ids)
            .order_by("plan_id", "sequence")
        ):
            installments.setdefault(inst.plan_id, []).append(inst)
        repayments = {
            r.pk: r
            for r in Repayment.objects.select_for_update()
            .filter(pk__in=[a.repayment_id for a, _ in settled])
            .order_by("id")
        }
        posting = Posting()
        now = timezone.now()
        events: list[RepaymentEvent] = []
        messages: list[NotificationRequest] = []
        changed_repayments: list[Repayment] = []
        changed_attempts: list[DebitAttempt] = []
        for attempt, result in settled:
            repayment = repayments[attempt.repayment_id]
            if repayment.status != RepaymentStatus.PENDING:
                continue  # settled by an earlier delivery or by reconciliation
            plan = plans[attempt.plan_id]
            if result.succeeded:
                repayment.status = RepaymentStatus.SUCCEEDED
                repayment.gateway_reference = result.reference
                repayment.settled_at = now
                excess = allocate_in_memory(
                    posting, repayment, plan, installments[plan.pk], repayment.amount, business_date
                )
                if excess:
                    logger.error(
                        "auto-debit %s: %s did not fit and needs a refund", repayment.public_id, excess
                    )
                attempt.status = DebitAttemptStatus.SUCCEEDED
                succeeded += 1
                charged += repayment.amount
                remaining = sum(
                    (d.total for d in plan_dues(plan, installments[plan.pk], today=business_date)), ZERO
                )
                messages.append(
                    NotificationRequest(
                        user=plan.customer,
                        code="autodebit_succeeded",
                        context={
                            "plan": _plan_name(plan),
                            "amount": repayment.amount,
                            "card_last4": attempt.card.last4,
                            "remaining": remaining,
                        },
                        dedupe_key=f"autodebit_succeeded:{repayment.public_id}",
                    )
                )
                events.append(
                    RepaymentEvent(
                        repayment=repayment, kind="succeeded", data={"reference": result.reference}
                    )
                )
            else:
                code = str(result.status)
                repayment.status = RepaymentStatus.FAILED
                repayment.failure_code = code
                repayment.failure_message = (result.message or "")[:255]
                repayment.gateway_reference = result.reference or ""
                attempt.status = DebitAttemptStatus.FAILED
                attempt.failure_code = code
                failed += 1
                reasons[code] = reasons.get(code, 0) + 1
                messages.append(
                    NotificationRequest(
                        user=plan.customer,
                        code="autodebit_failed",
                        context={"amount": attempt.amount, "card_last4": attempt.card.last4, "reason": code},
                        dedupe_key=f"autodebit_failed:{attempt.pk}",
                    )
                )
                events.append(RepaymentEvent(repayment=repayment, kind="failed", data={"code": code}))
                if result.hard_decline:
                    declined.append(attempt)
            repayment.updated_at = now
            changed_repayments.append(repayment)
            changed_attempts.append(attempt)
        bulk_update_fast(
            changed_repayments,
            ["status", "gateway_reference", "settled_at", "failure_code", "failure_message", "updated_at"],
        )
        posting.write()
        bulk_update_fast(changed_attempts, ["status", "failure_code"])
        RepaymentEvent.objects.bulk_create(events, batch_size=1000)
        notifications_create_bulk(messages)
        for attempt in declined:
            mandate = AutoDebitMandate.objects.select_related("card", "plan__customer").get(
                plan_id=attempt.plan_id
            )
            if mandate.card_id == attempt.card_id:
                _fallback_card(mandate, "declined")
    return succeeded, failed, charged, reasons


def _count(
    run: DebitRun, attempts: int, succeeded: int, failed: int, charged: Decimal, reasons: dict
) -> None:
    with transaction.atomic():
        locked = DebitRun.objects.select_for_update().get(pk=run.pk)
        locked.chunks_done += 1
        locked.attempts += attempts
        locked.succeeded += succeeded
        locked.failed += failed
        locked.amount_charged += charged
        for reason, n in reasons.items():
            locked.failures_by_reason[reason] = locked.failures_by_reason.get(reason, 0) + n
        if locked.chunks_done >= locked.chunks_total:
            locked.status = DebitRunStatus.FINISHED
            locked.finished_at = timezone.now()
        locked.save()


def debit_run_inline(*, business_date: date, slot: int) -> DebitRun:
    """The whole slot in this process, chunk after chunk: for run_daily, demos and tests."""
    run, chunks = debit_run_plan(business_date=business_date, slot=slot)
    for chunk in chunks:
        debit_chunk_process(chunk=chunk)
    if not chunks:
        DebitRun.objects.filter(pk=run.pk).update(status=DebitRunStatus.FINISHED, finished_at=timezone.now())
    run.refresh_from_db()
    return run

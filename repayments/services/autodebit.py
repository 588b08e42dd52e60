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
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from config.errors import ApplicationError
from installments.models import Installment, InstallmentPlan
from notifications.services import notification_create
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
    RepaymentMode,
    RepaymentStatus,
)
from repayments.services.payments import (
    OPEN_STATUSES,
    PAYABLE_PLAN_STATUSES,
    ZERO,
    _reserved,
    gateway_key,
    plan_dues,
    repayment_settle,
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
    return plan.description or plan.merchant_order_ref or str(plan.public_id)[:8]


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
    """Slots on the due date are attempts 1..n; during the grace days the first slot retries once a day.
    None: this slot does not debit the plan."""
    if trigger_due == business_date:
        return slot
    days_late = (business_date - trigger_due).days
    if slot == 1 and settings.AUTODEBIT_RETRY_IN_GRACE and 0 < days_late <= plan.grace_days:
        return 1
    return None


def _record_attempts(run: DebitRun, chunk: Chunk) -> int:
    """Phase 1: claim the chunk's plans and record a pending repayment + attempt for each. Returns count."""
    business_date, slot = run.business_date, run.slot
    created = 0
    with transaction.atomic():
        plans = list(
            InstallmentPlan.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                pk__in=candidate_plans(business_date, slot).filter(
                    id__gte=chunk.first_plan_id, id__lte=chunk.last_plan_id
                )
            )
            .order_by("id")
        )
        if not plans:
            return 0
        plan_ids = [p.pk for p in plans]
        mandates = {
            m.plan_id: m
            for m in AutoDebitMandate.objects.filter(plan_id__in=plan_ids).select_related(
                "card", "plan__customer"
            )
        }
        installments: dict[int, list[Installment]] = {}
        for inst in Installment.objects.filter(plan_id__in=plan_ids).order_by("plan_id", "sequence"):
            installments.setdefault(inst.plan_id, []).append(inst)
        hard_declined = set(
            DebitAttempt.objects.filter(
                plan_id__in=plan_ids, failure_code="declined", card__status=CardStatus.ACTIVE
            )
            .filter(card_id__in=[m.card_id for m in mandates.values()])
            .values_list("installment_id", flat=True)
        )
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
            if number is None or trigger.installment_id in hard_declined:
                continue  # not this slot's business, or no retry after a hard decline on this card
            amount = min(
                sum((d.total for d in due_now), ZERO), sum((d.payable for d in dues), ZERO) - _reserved(plan)
            )
            if amount <= 0:
                continue
            if DebitAttempt.objects.filter(
                installment_id=trigger.installment_id, business_date=business_date, attempt_number=number
            ).exists():
                continue  # recorded by an earlier delivery of this chunk
            try:
                with transaction.atomic():
                    repayment = Repayment.objects.create(
                        customer_id=plan.customer_id,
                        plan=plan,
                        amount=amount,
                        mode=RepaymentMode.DUE_NOW,
                        channel=RepaymentChannel.AUTO_DEBIT,
                        card=card,
                        idempotency_key=f"autodebit:{trigger.installment_id}:{business_date}:{number}",
                        charge_attempted_at=timezone.now(),
                    )
                    DebitAttempt.objects.create(
                        run=run,
                        plan=plan,
                        installment_id=trigger.installment_id,
                        business_date=business_date,
                        attempt_number=number,
                        card=card,
                        amount=amount,
                        repayment=repayment,
                    )
            except IntegrityError:
                continue
            created += 1
    return created


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
    succeeded = failed = 0
    charged = ZERO
    reasons: dict[str, int] = {}
    for attempt, result in outcomes:
        if result is None:
            continue
        _settle_attempt(attempt, result)
        if result.succeeded:
            succeeded += 1
            charged += attempt.amount
        else:
            failed += 1
            reasons[str(result.status)] = reasons.get(str(result.status), 0) + 1
    _count(run, len(pending), succeeded, failed, charged, reasons)
    return len(pending)


def _settle_attempt(attempt: DebitAttempt, result: ChargeResult) -> None:
    repayment_settle(repayment_id=attempt.repayment_id, result=result)
    status = DebitAttemptStatus.SUCCEEDED if result.succeeded else DebitAttemptStatus.FAILED
    with transaction.atomic():
        DebitAttempt.objects.filter(pk=attempt.pk).update(
            status=status, failure_code="" if result.succeeded else str(result.status)
        )
        plan = attempt.plan
        if not result.succeeded:
            notification_create(
                user=plan.customer,
                code="autodebit_failed",
                context={
                    "amount": attempt.amount,
                    "card_last4": attempt.card.last4,
                    "reason": str(result.status),
                },
                dedupe_key=f"autodebit_failed:{attempt.pk}",
            )
            if result.hard_decline:
                mandate = AutoDebitMandate.objects.select_related("card", "plan__customer").get(plan=plan)
                if mandate.card_id == attempt.card_id:
                    _fallback_card(mandate, "declined")


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

"""立即还款: a customer's (or staff's) payment on a plan, in phases that never lose or double a fen.

1. Record: under the plan lock, check the amount against what is open minus what other pending payments
   already claim, and write the repayment ``pending`` with its idempotency key (or ``scheduled``).
2. Charge: call the gateway with no lock held, keyed by the repayment, so a retry cannot charge twice.
3. Settle: under the plan lock again, record the outcome and allocate (冲账) oldest first.
A gateway timeout leaves the repayment pending; ``repayments_reconcile`` asks the gateway later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.db import insert_rows, update_rows
from core.errors import ApplicationError
from core.money import ZERO
from core.money_input import parse_money
from installments.allocation import due_now_total, payable_total
from installments.ledger import (
    PAYABLE_PLAN_STATUSES,
    Entry,
    Posted,
    Posting,
    installment_rows,
    lock_plan,
    lock_plans,
    plan_dues,
    plan_remaining,
    post,
    unpost,
)
from installments.models import (
    InstallmentPlan,
    PlanStatus,
)
from notifications.services import (
    NotificationRequest,
    notification_create,
    notifications_create_bulk,
    recipients,
)
from repayments.gateway import CardRejected, ChargeResult, GatewayError, GatewayTimeout, get_gateway
from repayments.models import (
    Allocation,
    AutoDebitMandate,
    BankCard,
    CardStatus,
    CardType,
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
from repayments.services.cards import card_number_check, mandate_fallback

logger = logging.getLogger(__name__)


# --- what a plan owes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanBalance:
    """The three amounts 立即还款 offers: due now, full payoff, and the most a custom amount may be."""

    due_now: Decimal
    payoff: Decimal
    reserved: Decimal  # claimed by pending payments not settled yet
    next_due_date: date | None

    @property
    def available(self) -> Decimal:
        return max(self.payoff - self.reserved, ZERO)


def _reserved(plan_id: int, exclude: Repayment | None = None) -> Decimal:
    pending = Repayment.objects.filter(plan_id=plan_id, status=RepaymentStatus.PENDING)
    if exclude is not None:
        pending = pending.exclude(pk=exclude.pk)
    return pending.aggregate(total=Sum("amount"))["total"] or ZERO


def plan_balance(plan: InstallmentPlan, *, today: date | None = None) -> PlanBalance:
    today = today or timezone.localdate()
    dues = plan_dues(plan, installment_rows([plan.pk]).get(plan.pk, []), today=today)
    due_now = due_now_total(dues, today=today)
    upcoming = [d.due_date for d in dues if d.due_date > today]
    return PlanBalance(
        due_now=due_now,
        payoff=payable_total(dues),
        reserved=_reserved(plan.pk),
        next_due_date=min(upcoming) if upcoming else None,
    )


# --- recording a request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneTimeCard:
    """A card used for this payment only: tokenized single-use, never bound, never stored."""

    number: str
    holder_name: str


def _fingerprint(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _event(repayment: Repayment, kind: str, *, actor: User | None = None, reason: str = "", **data) -> None:
    RepaymentEvent.objects.create(repayment=repayment, kind=kind, actor=actor, reason=reason, data=data)


def repayment_create(
    *,
    customer: User,
    plan: InstallmentPlan,
    mode: str,
    channel: str,
    idempotency_key: str,
    amount: Decimal | str | None = None,
    card: BankCard | None = None,
    one_time_card: OneTimeCard | None = None,
    scheduled_for: date | None = None,
) -> Repayment:
    """Pay a plan now (or schedule it). The same idempotency key returns the first repayment."""
    idempotency_key = (idempotency_key or "").strip()
    if not idempotency_key or len(idempotency_key) > 100:
        raise ApplicationError(
            "idempotency_key_invalid", _("An idempotency key of 1-100 characters is required."), status=400
        )
    if mode not in RepaymentMode.values:
        raise ApplicationError("invalid_mode", _("Choose what to pay."), fields={"mode": mode}, status=400)
    if mode == RepaymentMode.CUSTOM:
        if amount is None:
            raise ApplicationError(
                "invalid_amount", _("Enter an amount."), fields={"amount": _("Required.")}, status=400
            )
        amount = parse_money(amount, field="amount")
        if amount < Decimal("0.01"):
            raise ApplicationError(
                "invalid_amount",
                _("The amount must be at least ¥0.01."),
                fields={"amount": _("Too small.")},
                status=400,
            )
    fingerprint = _fingerprint(
        plan=plan.pk,
        mode=mode,
        amount=amount,
        card=card.pk if card else None,
        one_time=one_time_card.number[-4:] if one_time_card else None,
        scheduled_for=scheduled_for,
    )
    existing = Repayment.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replay(existing, fingerprint)

    if plan.customer_id != customer.pk:
        raise ApplicationError("plan_not_found", _("No such plan."), status=404)
    if (card is None) == (one_time_card is None):
        raise ApplicationError(
            "card_required", _("Pay with one bound card or one card used once."), status=400
        )
    if card is not None:
        if card.customer_id != customer.pk or card.status != CardStatus.ACTIVE:
            raise ApplicationError("card_not_found", _("No such card."), status=404)
        if card.card_type == CardType.CREDIT and not plan.product.allow_credit_cards:
            raise ApplicationError(
                "credit_card_not_allowed", _("This plan cannot be repaid with a credit card.")
            )
    today = timezone.localdate()
    if scheduled_for is not None:
        if one_time_card is not None:
            raise ApplicationError(
                "one_time_card_pay_now_only",
                _("A card used once can only pay now; bind it to schedule a payment."),
                status=400,
            )
        if scheduled_for <= today:
            raise ApplicationError(
                "scheduled_date_invalid",
                _("Choose a date after today, or pay now."),
                fields={"scheduled_for": _("Not after today.")},
                status=400,
            )

    one_time_token = None
    if one_time_card is not None:
        digits = card_number_check(one_time_card.number)
        if one_time_card.holder_name.strip() != customer.real_name.strip():
            raise ApplicationError("card_holder_mismatch", _("The card holder must be the account holder."))
        try:
            one_time_token = get_gateway().tokenize_card(
                number=digits,
                holder_name=one_time_card.holder_name.strip(),
                reserved_phone=str(customer.phone),
                single_use=True,
            )
        except CardRejected as exc:
            raise ApplicationError(f"card_{exc.code}", str(exc)) from None
        if one_time_token.card_type == CardType.CREDIT and not plan.product.allow_credit_cards:
            raise ApplicationError(
                "credit_card_not_allowed", _("This plan cannot be repaid with a credit card.")
            )

    try:
        with transaction.atomic():
            locked_plan, installments = lock_plan(plan.pk, no_key=True)
            # A second submission of the same key (a double click) waited here for the first: it gets the
            # first's payment, not "nothing due" computed after the first already claimed the amount.
            existing = Repayment.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
            if existing is not None:
                return _replay(existing, fingerprint)
            if locked_plan.status not in PAYABLE_PLAN_STATUSES:
                raise ApplicationError(
                    "plan_not_payable", _("Nothing is left to pay on this plan."), status=409
                )
            dues = plan_dues(locked_plan, installments, today=today)
            payoff = payable_total(dues)
            available = payoff - _reserved(locked_plan.pk)
            now = timezone.now()
            if scheduled_for is not None:
                next_due = min((d.due_date for d in dues if d.due_date > today), default=None)
                if next_due is None or scheduled_for > next_due:
                    raise ApplicationError(
                        "scheduled_date_invalid",
                        _("A payment can be scheduled up to the next due date (%(date)s).")
                        % {"date": next_due},
                        fields={"scheduled_for": _("After the next due date.")},
                        status=400,
                    )
            if mode == RepaymentMode.DUE_NOW:
                # A payment still pending (an auto-debit in flight) already covers part of what is due.
                due = due_now_total(dues, today=scheduled_for or today)
                amount = due - (ZERO if scheduled_for else _reserved(locked_plan.pk))
                if amount <= 0:
                    raise ApplicationError("nothing_due", _("Nothing is due now on this plan."), status=409)
            elif mode == RepaymentMode.PAYOFF:
                amount = payoff
            if amount > available:
                raise ApplicationError(
                    "amount_exceeds_outstanding",
                    _("The most you can pay on this plan now is ¥%(max)s.")
                    % {"max": f"{max(available, ZERO):,.2f}"},
                    fields={"amount": _("More than what is left to pay.")},
                )
            repayment = Repayment.objects.create(
                customer=customer,
                plan=plan,
                amount=amount,
                mode=mode,
                channel=channel,
                status=RepaymentStatus.SCHEDULED if scheduled_for else RepaymentStatus.PENDING,
                card=card,
                one_time_card_token=one_time_token.token if one_time_token else "",
                one_time_card_last4=one_time_token.last4 if one_time_token else "",
                one_time_card_bank=one_time_token.bank_name if one_time_token else "",
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                scheduled_for=scheduled_for,
                # Made chargeable here, charged right after commit: this is its charge lease.
                charge_attempted_at=None if scheduled_for else now,
                charge_lease_until=None if scheduled_for else _lease_ends(now),
            )
            _event(repayment, "scheduled" if scheduled_for else "requested", channel=channel)
            if scheduled_for:
                notification_create(
                    user=customer,
                    code="repayment_scheduled",
                    context={
                        "plan": locked_plan.description or locked_plan.merchant_order_ref,
                        "amount": amount,
                        "card_last4": card.last4,
                        "pay_date": scheduled_for,
                    },
                    dedupe_key=f"repayment_scheduled:{repayment.public_id}",
                )
    except IntegrityError:
        existing = Repayment.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    if scheduled_for:
        return repayment
    return repayment_charge(repayment=repayment, claimed=True)


def _replay(existing: Repayment, fingerprint: str) -> Repayment:
    if existing.request_fingerprint and existing.request_fingerprint != fingerprint:
        raise ApplicationError(
            "idempotency_key_reused", _("This idempotency key was used for a different payment."), status=422
        )
    return existing


# --- charging and settling --------------------------------------------------------------------------


def gateway_key(public_id: uuid.UUID) -> str:
    """The idempotency key of a repayment's charge at the gateway."""
    return f"repayment:{public_id}"


def _lease_ends(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.CHARGE_LEASE_SECONDS)


def charges_claim(repayment_ids: list[int]) -> set[int]:
    """Take the charge lease of pending repayments, immediately before their gateway calls: stamp
    ``charge_attempted_at`` and give reconciliation a time before which it may not decide the bank never
    saw them. Returns the ids still pending (the others were decided meanwhile and must not be charged).

    One statement, so a caller and reconciliation exclude each other: reconciliation fails a repayment
    only with its lease over, in a statement that checks the lease again."""
    if not repayment_ids:
        return set()
    now = timezone.now()
    table = Repayment._meta.db_table
    marks = ", ".join(["%s"] * len(repayment_ids))
    sql = (
        f"UPDATE {table} SET charge_attempted_at = %s, charge_lease_until = %s "  # noqa: S608
        f"WHERE id IN ({marks}) AND status = %s RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [now, _lease_ends(now), *repayment_ids, RepaymentStatus.PENDING])
        return {row[0] for row in cursor.fetchall()}


def charges_release(repayment_ids: list[int]) -> None:
    """End the leases of calls that came back without an answer (timeout, gateway error): from now on
    only the gateway's memory of the key decides, so reconciliation may ask it."""
    if repayment_ids:
        Repayment.objects.filter(pk__in=repayment_ids, status=RepaymentStatus.PENDING).update(
            charge_lease_until=timezone.now()
        )


def repayment_charge(*, repayment: Repayment, claimed: bool = False) -> Repayment:
    """Phase 2 and 3 for a pending repayment: take its lease (unless the caller just did, in the
    transaction that made it chargeable), charge with no lock held, then settle."""
    if not claimed and repayment.pk not in charges_claim([repayment.pk]):
        return Repayment.objects.get(pk=repayment.pk)  # decided meanwhile (reconciled, settled)
    token = repayment.card.gateway_token if repayment.card_id else repayment.one_time_card_token
    try:
        result = get_gateway().charge(
            token=token, amount=repayment.amount, idempotency_key=gateway_key(repayment.public_id)
        )
    except GatewayTimeout:
        logger.warning(
            "gateway timeout for repayment %s: left pending for reconciliation", repayment.public_id
        )
        charges_release([repayment.pk])
        return repayment
    except GatewayError as exc:
        logger.warning("gateway error for repayment %s: %s", repayment.public_id, exc)
        charges_release([repayment.pk])
        return repayment
    return repayment_settle(repayment_id=repayment.pk, result=result)


def allocation_rows(repayment_id: int, posted: Posted) -> list[dict[str, object]]:
    """The repayment's own record of what the ledger posted: one row per split and per waiver."""
    return [
        {
            "repayment_id": repayment_id,
            "installment_id": line.installment_id,
            "component": line.component,
            "amount": line.amount,
            "waived": waived,
        }
        for lines, waived in ((posted.splits, False), (posted.waivers, True))
        for line in lines
    ]


NOT_CHARGED = "not_charged"  # the gateway never saw the key: nothing moved


@dataclass(slots=True)
class Settlement:
    """A charge outcome as ``repayments_settle`` recorded it. ``result`` None: the gateway never saw the
    charge. ``excess`` is what no installment could take (a waiver or another payment landed while the
    charge was in flight, or the charge landed after the repayment was given up) and is refunded.
    ``late``: a success for a repayment already failed or cancelled."""

    repayment_id: int
    public_id: uuid.UUID
    plan_id: int
    channel: str
    amount: Decimal
    card_id: int | None
    attempt_id: int | None
    run_id: int | None
    result: ChargeResult | None
    excess: Decimal = ZERO
    late: bool = False

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result.succeeded

    @property
    def reason(self) -> str:
        return NOT_CHARGED if self.result is None else str(self.result.status)


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


_SETTLE_COLUMNS = (
    "id",
    "public_id",
    "plan_id",
    "channel",
    "amount",
    "card_id",
    "card__last4",
    "one_time_card_last4",
    "status",
    "failure_code",
    "charge_lease_until",
    "debit_attempt__id",
    "debit_attempt__run_id",
    "debit_attempt__status",
)
_SUCCESS_FIELDS = (
    "status",
    "gateway_reference",
    "settled_at",
    "updated_at",
    "failure_code",
    "failure_message",
)
_FAILURE_FIELDS = ("status", "gateway_reference", "failure_code", "failure_message", "updated_at")
_NOT_CHARGED_MESSAGE = "The bank never received the charge."


def repayments_settle(outcomes: list[tuple[int, ChargeResult | None]], *, today: date) -> list[Settlement]:
    """Phase 3 for one payment or a whole debit chunk: record each gateway answer once, allocate (冲账)
    oldest first, tell the customer, and refund what did not fit.

    One code path for every answer, so a customer's payment, a reconciled timeout and an auto-debit settle
    alike: plans and installments are locked in id order (DESIGN.md), then the repayments. A charge's
    outcome is decided once and never dropped:
    * a pending repayment takes the answer; ``None`` (the gateway never saw the key) fails it
      ``not_charged``, but only once its charge lease is over (no caller can still be calling);
    * a success for a repayment already failed or cancelled (the charge landed after it was given up) is
      applied as far as the plan can still take it, and the rest refunded, with an event and an SMS;
    * anything else already decided is skipped, so a second call with the same answers changes nothing.
    Plain rows and bulk statements keep a 500-debit chunk to a handful of queries; the run's counts move
    in the same transaction as its attempts. Returns what this call settled.
    """
    if not outcomes:
        return []
    answers = dict(outcomes)
    settled: list[Settlement] = []
    with transaction.atomic():
        plan_ids = sorted(set(Repayment.objects.filter(pk__in=answers).values_list("plan_id", flat=True)))
        plans, installments = lock_plans(plan_ids, no_key=True)
        rows = (
            Repayment.objects.select_for_update(of=("self",))
            .filter(
                pk__in=answers,
                status__in=[RepaymentStatus.PENDING, RepaymentStatus.FAILED, RepaymentStatus.CANCELLED],
            )
            .order_by("id")
            .values_list(*_SETTLE_COLUMNS)
        )
        to = recipients(plan.customer_id for plan in plans.values())
        posting = Posting()
        allocations: list[dict[str, object]] = []
        now = timezone.now()
        events: list[dict[str, object]] = []
        messages: list[NotificationRequest] = []
        successes: list[tuple] = []
        failures: list[tuple] = []
        attempts: list[tuple] = []
        declined: list[Settlement] = []
        runs: dict[int, RunCounts] = {}
        for (
            repayment_id,
            public_id,
            plan_id,
            channel,
            amount,
            card_id,
            card_last4,
            one_time_last4,
            status,
            failure_code,
            lease_until,
            attempt_id,
            run_id,
            attempt_status,
        ) in rows:
            result = answers[repayment_id]
            late = status != RepaymentStatus.PENDING
            if late and (result is None or not result.succeeded):
                continue  # decided already, and this answer moved no money
            if result is None and lease_until is not None and lease_until >= now:
                continue  # a caller may still be calling the gateway with this key: not ours to decide
            plan = plans[plan_id]
            done = Settlement(
                repayment_id, public_id, plan_id, channel, amount, card_id, attempt_id, run_id, result,
                late=late,
            )  # fmt: skip
            settled.append(done)
            counts = runs.setdefault(run_id, RunCounts()) if run_id is not None else RunCounts()
            if done.succeeded:
                successes.append(
                    (repayment_id, RepaymentStatus.SUCCEEDED, result.reference, now, now, "", "")
                )
                posted = post(posting, plan, installments[plan_id], amount, today=today)
                allocations.extend(allocation_rows(repayment_id, posted))
                done.excess = posted.excess
                applied = amount - done.excess
                data: dict[str, object] = {"reference": result.reference}
                if late:
                    data.update(previous_status=status, previous_failure_code=failure_code)
                events.append(
                    {
                        "repayment_id": repayment_id,
                        "kind": "late_succeeded" if late else "succeeded",
                        "data": data,
                    }
                )
                if done.excess > 0:
                    # Owed from this moment, in the same transaction: a crash before the refund leaves the
                    # debt on record for reconciliation to pay (repayments_refunds_retry).
                    events.append(
                        {
                            "repayment_id": repayment_id,
                            "kind": "excess_owed",
                            "data": {"amount": str(done.excess)},
                        }
                    )
                if applied > 0:
                    remaining = plan_remaining(plan, installments[plan_id], today=today)
                    context: dict[str, object] = {
                        "plan": plan.display_name,
                        "amount": applied,
                        "remaining": remaining,
                    }
                    code = "repayment_received"
                    if channel == RepaymentChannel.AUTO_DEBIT:
                        code = "autodebit_succeeded"
                        context["card_last4"] = card_last4
                    messages.append(
                        NotificationRequest(
                            recipient=to[plan.customer_id],
                            code=code,
                            context=context,
                            dedupe_key=f"{code}:{public_id}",
                        )
                    )
                if attempt_id is not None:
                    attempts.append((attempt_id, DebitAttemptStatus.SUCCEEDED, failure_code if late else ""))
                    counts.succeeded += 1
                    counts.amount_charged += amount
                    if attempt_status == DebitAttemptStatus.FAILED:
                        counts.failure(failure_code, -1)  # counted as failed when it was given up
                continue
            reason = done.reason
            message = _NOT_CHARGED_MESSAGE if result is None else (result.message or "")
            failures.append(
                (
                    repayment_id,
                    RepaymentStatus.FAILED,
                    result.reference if result is not None else "",
                    reason,
                    message[:255],
                    now,
                )
            )
            events.append({"repayment_id": repayment_id, "kind": "failed", "data": {"code": reason}})
            if attempt_id is not None:
                # A customer sees their own payment fail on the page; an auto-debit fails unseen, so say so.
                attempts.append((attempt_id, DebitAttemptStatus.FAILED, reason))
                counts.failure(reason)
                messages.append(
                    NotificationRequest(
                        recipient=to[plan.customer_id],
                        code="autodebit_failed",
                        context={
                            "amount": amount,
                            "card_last4": card_last4 or one_time_last4,
                            "reason": reason,
                        },
                        dedupe_key=f"autodebit_failed:{attempt_id}",
                    )
                )
                if result is not None and result.hard_decline:
                    declined.append(done)
        update_rows(Repayment, _SUCCESS_FIELDS, successes)
        update_rows(Repayment, _FAILURE_FIELDS, failures)
        posting.write()
        insert_rows(Allocation, allocations)
        update_rows(DebitAttempt, ("status", "failure_code"), attempts)
        insert_rows(RepaymentEvent, events)
        notifications_create_bulk(messages)
        for done in declined:
            mandate = AutoDebitMandate.objects.select_related("card", "plan__customer").get(
                plan_id=done.plan_id
            )
            if mandate.card_id == done.card_id:
                mandate_fallback(mandate, "declined")
        debit_runs_count(runs)
    for done in settled:
        if done.excess > 0:
            _refund_excess(done.repayment_id, done.excess)
    return settled


def repayment_settle(*, repayment_id: int, result: ChargeResult | None) -> Repayment:
    """Phase 3 for one repayment (a customer's payment, or a charge reconciled later)."""
    for done in repayments_settle([(repayment_id, result)], today=timezone.localdate()):
        if done.run_id is not None:
            debit_run_finish_if_done(done.run_id)  # a debit whose answer was lost may have been the last
    return Repayment.objects.get(pk=repayment_id)


def _refund_excess(repayment_id: int, excess: Decimal) -> bool:
    """Money that no installment could take goes back to the card it came from, and the customer is told.
    A failure leaves the ``excess_owed`` event unanswered; reconciliation tries again."""
    repayment = Repayment.objects.select_related("plan", "card").get(pk=repayment_id)
    try:
        get_gateway().refund(
            reference=repayment.gateway_reference,
            amount=excess,
            idempotency_key=f"excess:{repayment.public_id}",
        )
    except GatewayError:
        logger.exception("refund of excess %s for repayment %s failed", excess, repayment.public_id)
        return False
    with transaction.atomic():
        if RepaymentEvent.objects.filter(repayment_id=repayment_id, kind="excess_refunded").exists():
            return True  # a concurrent retry recorded it (the gateway answered both with one refund)
        RepaymentEvent.objects.create(
            repayment_id=repayment_id, kind="excess_refunded", data={"amount": str(excess)}
        )
        notification_create(
            user=repayment.customer,
            code="repayment_refunded",
            context={
                "plan": repayment.plan.display_name,
                "amount": excess,
                "card_last4": repayment.card.last4 if repayment.card_id else repayment.one_time_card_last4,
            },
            dedupe_key=f"repayment_refunded:{repayment.public_id}",
        )
    return True


def repayments_refunds_retry(*, limit: int = 500) -> int:
    """Refunds we owe (``excess_owed``) whose refund did not go through: try each again, same key."""
    owed = (
        RepaymentEvent.objects.filter(kind="excess_owed")
        .exclude(repayment__events__kind="excess_refunded")
        .order_by("id")
        .values_list("repayment_id", "data")[:limit]
    )
    return sum(_refund_excess(repayment_id, Decimal(data["amount"])) for repayment_id, data in owed)


def repayments_reconcile(
    *,
    older_than: timedelta | None = None,
    unclaimed_after: timedelta | None = None,
    limit: int = 500,
) -> int:
    """Finish pending repayments whose charge outcome we never heard (timeouts, crashed workers).

    A repayment is asked about once its charge lease is over and its last call is ``older_than`` ago. One
    never sent (an auto-debit recorded by a chunk whose worker died before calling) is left for
    ``unclaimed_after`` (by default the broker's redelivery time plus ``older_than``), so the redelivered
    chunk charges it; after that, the gateway's "never saw it" fails it, and its slot run again records it
    anew. Also retries refunds we owe."""
    now = timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    if unclaimed_after is None:
        unclaimed_after = timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT_SECONDS) + older_than
    stale = (
        Repayment.objects.filter(status=RepaymentStatus.PENDING)
        .filter(
            Q(charge_attempted_at__lt=now - older_than)
            & (Q(charge_lease_until__isnull=True) | Q(charge_lease_until__lt=now))
            | Q(charge_attempted_at__isnull=True, requested_at__lt=now - unclaimed_after)
        )
        .order_by("id")
        .values_list("id", "public_id")[:limit]
    )
    gateway = get_gateway()
    finished = 0
    for repayment_id, public_id in stale:
        try:
            result = gateway.get_charge(idempotency_key=gateway_key(public_id))
        except GatewayError:
            continue
        repayment = repayment_settle(repayment_id=repayment_id, result=result)
        finished += repayment.status != RepaymentStatus.PENDING
    # A caller stalled past its lease (a paused process) may still have reached the bank after we gave
    # its payment up: look once more, for a day, and apply what landed.
    given_up = (
        Repayment.objects.filter(
            status=RepaymentStatus.FAILED,
            failure_code=NOT_CHARGED,
            charge_attempted_at__gte=now - timedelta(days=1),
        )
        .order_by("id")
        .values_list("id", "public_id")[:limit]
    )
    for repayment_id, public_id in given_up:
        try:
            result = gateway.get_charge(idempotency_key=gateway_key(public_id))
        except GatewayError:
            continue
        if result is not None and result.succeeded:
            repayment_settle(repayment_id=repayment_id, result=result)
            finished += 1
    repayments_refunds_retry()
    return finished


def repayment_cancel(*, customer: User, repayment: Repayment) -> Repayment:
    if repayment.customer_id != customer.pk:
        raise ApplicationError("repayment_not_found", _("No such repayment."), status=404)
    with transaction.atomic():
        updated = Repayment.objects.filter(pk=repayment.pk, status=RepaymentStatus.SCHEDULED).update(
            status=RepaymentStatus.CANCELLED, updated_at=timezone.now()
        )
        if not updated:
            raise ApplicationError(
                "repayment_not_cancellable", _("Only a scheduled payment can be cancelled."), status=409
            )
        _event(repayment, "cancelled", actor=customer)
    repayment.refresh_from_db()
    return repayment


def repayments_run_scheduled(*, today: date | None = None, limit: int = 500) -> int:
    """Charge the scheduled payments whose date has come, one after another.

    Each is made chargeable (scheduled -> pending) only in the transaction right before its own gateway
    call, which stamps its charge lease: a payment waiting behind a slow bank is still ``scheduled``, so
    reconciliation cannot give it up before it was even sent, and cancelling it stays possible until then.
    Any number of workers may run this at once; the state change decides which one charges."""
    today = today or timezone.localdate()
    ran = 0
    after = 0
    while True:
        batch = list(
            Repayment.objects.filter(status=RepaymentStatus.SCHEDULED, scheduled_for__lte=today, pk__gt=after)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not batch:
            return ran
        for repayment_id in batch:
            ran += _run_one_scheduled(repayment_id, today)
        after = batch[-1]


def _run_one_scheduled(repayment_id: int, today: date) -> bool:
    """At its date the amount is checked again: due-now and payoff are recomputed, custom is capped.
    Returns whether this call took the payment (another worker or a cancellation may have)."""
    repayment = Repayment.objects.select_related("card").get(pk=repayment_id)
    with transaction.atomic():
        plan, installments = lock_plan(repayment.plan_id, no_key=True)
        current = (
            Repayment.objects.select_for_update().filter(pk=repayment_id).values_list("status", flat=True)
        )
        if current.first() != RepaymentStatus.SCHEDULED:
            return False
        dues = plan_dues(plan, installments, today=today)
        payable = payable_total(dues) - _reserved(plan.pk, exclude=repayment)
        if repayment.mode == RepaymentMode.DUE_NOW:
            amount = due_now_total(dues, today=today)
        elif repayment.mode == RepaymentMode.PAYOFF:
            amount = payable
        else:
            amount = min(repayment.amount, payable)
        card_ok = repayment.card_id and repayment.card.status == CardStatus.ACTIVE
        now = timezone.now()
        if amount <= 0 or not card_ok or plan.status not in PAYABLE_PLAN_STATUSES:
            code = "card_removed" if not card_ok else "nothing_due"
            Repayment.objects.filter(pk=repayment_id).update(
                status=RepaymentStatus.FAILED, failure_code=code, updated_at=now
            )
            _event(repayment, "failed", code=code)
            return True
        Repayment.objects.filter(pk=repayment_id).update(
            status=RepaymentStatus.PENDING,
            amount=amount,
            charge_attempted_at=now,
            charge_lease_until=_lease_ends(now),
            updated_at=now,
        )
        repayment.amount = amount
        repayment.status = RepaymentStatus.PENDING
    repayment_charge(repayment=repayment, claimed=True)
    return True


# --- staff ------------------------------------------------------------------------------------------


def repayment_record_offline(
    *, staff: User, plan: InstallmentPlan, amount: Decimal | str, reference: str, note: str = ""
) -> Repayment:
    """A payment that reached us outside the gateway (bank transfer): recorded and allocated at once."""
    if not staff.is_staff:
        raise ApplicationError("staff_only", _("Only staff can record an offline payment."), status=403)
    reference = reference.strip()
    if not reference:
        raise ApplicationError(
            "reference_required",
            _("Enter the bank transfer reference."),
            fields={"reference": _("Required.")},
            status=400,
        )
    amount = parse_money(amount, field="amount")
    if amount <= 0:
        raise ApplicationError("invalid_amount", _("The amount must be positive."), status=400)
    today = timezone.localdate()
    with transaction.atomic():
        locked_plan, installments = lock_plan(plan.pk, no_key=True)
        available = payable_total(plan_dues(locked_plan, installments, today=today)) - _reserved(plan.pk)
        if amount > available:
            raise ApplicationError(
                "amount_exceeds_outstanding",
                _("The most that can be recorded on this plan now is ¥%(max)s.")
                % {"max": f"{max(available, ZERO):,.2f}"},
            )
        try:
            with transaction.atomic():
                repayment = Repayment.objects.create(
                    customer_id=locked_plan.customer_id,
                    plan=plan,
                    amount=amount,
                    mode=RepaymentMode.CUSTOM,
                    channel=RepaymentChannel.STAFF,
                    status=RepaymentStatus.SUCCEEDED,
                    idempotency_key=f"offline:{reference}",
                    gateway_reference=f"offline:{reference}"[:64],
                    settled_at=timezone.now(),
                    note=note[:255],
                    created_by=staff,
                )
        except IntegrityError:
            raise ApplicationError(
                "duplicate_reference", _("This transfer is already recorded."), status=409
            ) from None
        posting = Posting()
        posted = post(posting, locked_plan, installments, amount, today=today)
        posting.write()
        insert_rows(Allocation, allocation_rows(repayment.pk, posted))
        _event(repayment, "offline_recorded", actor=staff, reason=note, reference=reference)
        notification_create(
            user=plan.customer,
            code="repayment_received",
            context={
                "plan": locked_plan.display_name,
                "amount": amount,
                "remaining": plan_remaining(locked_plan, installments, today=today),
            },
            dedupe_key=f"repayment_received:{repayment.public_id}",
        )
    return repayment


def repayment_reverse(*, staff: User, repayment: Repayment, reason: str) -> Repayment:
    """Undo a succeeded repayment: refund it (card payments) and take its allocations off the installments."""
    if not staff.is_staff:
        raise ApplicationError("staff_only", _("Only staff can reverse a repayment."), status=403)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "reason_required", _("A reason is required."), fields={"reason": _("Required.")}, status=400
        )
    if repayment.status != RepaymentStatus.SUCCEEDED:
        raise ApplicationError(
            "repayment_not_reversible", _("Only a succeeded repayment can be reversed."), status=409
        )
    if repayment.plan.status == PlanStatus.RESTRUCTURED:
        # Its balance moved to a new plan at re-staging; reopening the old installments would count it twice.
        raise ApplicationError(
            "plan_restructured",
            _("This plan was re-staged; a payment made before that can no longer be reversed here."),
            status=409,
        )
    if repayment.channel != RepaymentChannel.STAFF:
        try:
            get_gateway().refund(
                reference=repayment.gateway_reference,
                amount=repayment.amount,
                idempotency_key=f"reversal:{repayment.public_id}",
            )
        except GatewayError as exc:
            raise ApplicationError(
                "refund_failed", _("The bank refused the refund: %(error)s") % {"error": exc}, status=502
            ) from None
    today = timezone.localdate()
    with transaction.atomic():
        plan, installments = lock_plan(repayment.plan_id, no_key=True)
        repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
        if repayment.status != RepaymentStatus.SUCCEEDED:
            return repayment
        posting = Posting()
        entries = [
            Entry(a.installment_id, a.component, a.amount, a.waived) for a in repayment.allocations.all()
        ]
        unpost(posting, plan, installments, entries, today=today)
        posting.write()
        repayment.status = RepaymentStatus.REVERSED
        repayment.save(update_fields=["status", "updated_at"])
        _event(repayment, "reversed", actor=staff, reason=reason)
    return repayment

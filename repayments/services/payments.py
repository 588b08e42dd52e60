"""立即还款: a customer's payment on a plan, phases 1 and 2 (record and charge), and scheduled payments.

1. Record: under the plan lock, check the amount against what is open minus what other pending payments
   already claim, and write the repayment ``pending`` with its idempotency key (or ``scheduled``).
2. Charge: call the gateway with no lock held, keyed by the repayment, so a retry cannot charge twice.
3. Settle (``settlement.py``): under the plan lock again, record the outcome and post it to the ledger.
A gateway timeout leaves the repayment pending; ``repayments_reconcile`` (``reconcile.py``) asks later.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.errors import AccountsError
from accounts.models import User
from core.error_codes import CommonError, error_code
from core.errors import ApplicationError
from core.money import ZERO
from core.money_input import parse_money
from installments.allocation import Due, due_now_total, payable_total
from installments.errors import InstallmentsError
from installments.ledger import (
    REPAYABLE_PLAN_STATUSES,
    installment_rows,
    lock_plan,
    plan_dues,
)
from installments.models import (
    InstallmentPlan,
)
from notifications.services import (
    notification_create,
)
from repayments.errors import RepaymentsError
from repayments.gateway import CardRejected, GatewayError, GatewayTimeout, get_gateway
from repayments.models import (
    BankCard,
    CardStatus,
    CardType,
    Repayment,
    RepaymentMode,
    RepaymentStatus,
)
from repayments.selectors import card_not_found, reserved_amount
from repayments.services.cards import bank_unavailable, card_number_check
from repayments.services.settlement import gateway_key, repayment_event, repayment_settle

logger = logging.getLogger(__name__)


# --- recording a request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneTimeCard:
    """A card used for this payment only: tokenized single-use, never bound, never stored."""

    number: str
    holder_name: str


def _fingerprint(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# --- the rules of 立即还款: one definition for the web's step 1, the API and the recording itself ---------


@dataclass(frozen=True)
class PaymentRequest:
    """A payment's terms once their shape is checked: ``custom`` is the amount asked for in mode custom,
    ``scheduled_for`` is None for "now" (a date of today is now: the scheduler's run of today may be over)."""

    mode: str
    custom: Decimal | None
    scheduled_for: date | None


def _date(value: date) -> str:
    return date_format(value, "DATE_FORMAT")


def repayment_request_check(
    *,
    customer: User,
    plan: InstallmentPlan,
    mode: str,
    amount: Decimal | str | None,
    card: BankCard | None,
    one_time: bool,
    scheduled_for: date | None,
    today: date,
) -> PaymentRequest:
    """What can be refused without the plan's figures: the mode, the amount's form, whose plan and card,
    and the date's lower bound. Each refusal names the field it is about, so a form shows it beside it."""
    if mode not in RepaymentMode.values:
        raise ApplicationError(
            RepaymentsError.INVALID_MODE, _("Choose what to pay."), fields={"mode": _("Choose what to pay.")}
        )
    custom: Decimal | None = None
    if mode == RepaymentMode.CUSTOM:
        if amount is None or amount == "":
            raise ApplicationError(
                CommonError.INVALID_AMOUNT,
                _("Enter an amount."),
                fields={"amount": _("Enter the amount to pay.")},
            )
        custom = parse_money(amount, field="amount")
        if custom < Decimal("0.01"):
            raise ApplicationError(
                CommonError.INVALID_AMOUNT,
                _("The amount must be at least ¥0.01."),
                fields={"amount": _("The amount must be at least ¥0.01.")},
            )
    if plan.customer_id != customer.pk:
        raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
    if (card is None) == (not one_time):
        raise ApplicationError(
            RepaymentsError.CARD_REQUIRED,
            _("Pay with one bound card or one card used once."),
            fields={"card": _("Choose a card.")},
        )
    if card is not None:
        if card.customer_id != customer.pk or card.status != CardStatus.ACTIVE:
            raise card_not_found()
        if card.card_type == CardType.CREDIT and not plan.product.allow_credit_cards:
            raise ApplicationError(
                RepaymentsError.CREDIT_CARD_NOT_ALLOWED,
                _("This plan cannot be repaid with a credit card."),
                fields={"card": _("This plan cannot be repaid with a credit card.")},
            )
    if scheduled_for is not None and scheduled_for < today:
        raise ApplicationError(
            RepaymentsError.SCHEDULED_DATE_INVALID,
            _("The date is in the past: choose today or a later date."),
            fields={"scheduled_for": _("The date is in the past: choose today or a later date.")},
        )
    if scheduled_for == today:
        scheduled_for = None
    if scheduled_for is not None and one_time:
        raise ApplicationError(
            RepaymentsError.ONE_TIME_CARD_PAY_NOW_ONLY,
            _("A card used once can only pay now; bind it to schedule a payment."),
            fields={"card": _("A card used once can only pay now; bind it to schedule a payment.")},
        )
    return PaymentRequest(mode=mode, custom=custom, scheduled_for=scheduled_for)


def repayment_amount_check(
    request: PaymentRequest, *, plan_status: str, dues: list[Due], reserved: Decimal, today: date
) -> Decimal:
    """The amount a payment charges, or the refusal: something must be due in mode due-now, no amount may
    pass what can be paid now (the payoff figure less what pending payments already claim), and a date runs
    from today to the next due date included. Read under the plan lock by ``repayment_create`` (the answer
    that counts) and without it by ``repayment_check`` (step 1 of the web page, before the confirmation)."""
    if plan_status not in REPAYABLE_PLAN_STATUSES:
        raise ApplicationError(
            RepaymentsError.PLAN_NOT_PAYABLE,
            _("Nothing is left to pay on this plan."),
            fields={"mode": _("Nothing is left to pay on this plan.")},
        )
    scheduled_for = request.scheduled_for
    if scheduled_for is not None:
        next_due = min((d.due_date for d in dues if d.due_date > today), default=None)
        if next_due is None:
            raise ApplicationError(
                RepaymentsError.SCHEDULED_DATE_INVALID,
                _("No installment falls due after today, so a payment cannot be scheduled: pay now."),
                fields={"scheduled_for": _("No installment falls due after today: pay now.")},
            )
        if scheduled_for > next_due:
            message = _("Choose a date from %(first)s to %(last)s (the next due date).") % {
                "first": _date(today),
                "last": _date(next_due),
            }
            raise ApplicationError(
                RepaymentsError.SCHEDULED_DATE_INVALID, message, fields={"scheduled_for": message}
            )
    available = payable_total(dues) - reserved
    if request.mode == RepaymentMode.DUE_NOW:
        # A payment still pending (an auto-debit in flight) already covers part of what is due.
        due = due_now_total(dues, today=scheduled_for or today)
        amount = due - (ZERO if scheduled_for else reserved)
        if amount <= 0:
            raise ApplicationError(
                RepaymentsError.NOTHING_DUE,
                _("Nothing is due now on this plan."),
                fields={"mode": _("Nothing is due now on this plan.")},
            )
    elif request.mode == RepaymentMode.PAYOFF:
        amount = payable_total(dues)
    elif request.custom is not None:
        amount = request.custom
    else:  # unreachable: repayment_request_check parsed a custom amount
        raise ValueError(f"No amount for a payment in mode {request.mode!r}.")
    if amount > available:
        message = _("The most you can pay on this plan now is ¥%(max)s.") % {
            "max": f"{max(available, ZERO):,.2f}"
        }
        raise ApplicationError(
            RepaymentsError.AMOUNT_EXCEEDS_OUTSTANDING,
            message,
            fields={"amount" if request.mode == RepaymentMode.CUSTOM else "mode": message},
        )
    return amount


@dataclass(frozen=True)
class PaymentCheck:
    amount: Decimal
    scheduled_for: date | None  # None: now


def repayment_check(
    *,
    customer: User,
    plan: InstallmentPlan,
    mode: str,
    amount: Decimal | str | None = None,
    card: BankCard | None = None,
    one_time: bool = False,
    scheduled_for: date | None = None,
    today: date | None = None,
) -> PaymentCheck:
    """Every rule of ``repayment_create`` that does not need the bank, without writing anything: step 1 of
    立即还款 refuses here, beside the field, before the confirmation page. ``repayment_create`` applies the
    same two checks again, the amount under the plan lock."""
    today = today or timezone.localdate()
    request = repayment_request_check(
        customer=customer,
        plan=plan,
        mode=mode,
        amount=amount,
        card=card,
        one_time=one_time,
        scheduled_for=scheduled_for,
        today=today,
    )
    rows = installment_rows([plan.pk]).get(plan.pk, [])
    charged = repayment_amount_check(
        request,
        plan_status=plan.status,
        dues=plan_dues(plan, rows, today=today),
        reserved=reserved_amount(plan.pk),
        today=today,
    )
    return PaymentCheck(amount=charged, scheduled_for=request.scheduled_for)


# --- recording a request ----------------------------------------------------------------------------


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
            AccountsError.IDEMPOTENCY_KEY_INVALID, _("An idempotency key of 1-100 characters is required.")
        )
    today = timezone.localdate()
    request = repayment_request_check(
        customer=customer,
        plan=plan,
        mode=mode,
        amount=amount,
        card=card,
        one_time=one_time_card is not None,
        scheduled_for=scheduled_for,
        today=today,
    )
    scheduled_for = request.scheduled_for
    fingerprint = _fingerprint(
        plan=plan.pk,
        mode=mode,
        amount=request.custom,
        card=card.pk if card else None,
        one_time=one_time_card.number[-4:] if one_time_card else None,
        scheduled_for=scheduled_for,
    )
    existing = Repayment.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replay(existing, fingerprint)

    one_time_token = None
    if one_time_card is not None:
        digits = card_number_check(one_time_card.number)
        if one_time_card.holder_name.strip() != customer.real_name.strip():
            raise ApplicationError(
                RepaymentsError.CARD_HOLDER_MISMATCH, _("The card holder must be the account holder.")
            )
        try:
            one_time_token = get_gateway().tokenize_card(
                number=digits,
                holder_name=one_time_card.holder_name.strip(),
                reserved_phone=str(customer.phone),
                single_use=True,
            )
        except CardRejected as exc:
            raise ApplicationError(error_code(f"card_{exc.code}"), str(exc)) from None
        except GatewayError:  # no money moves before the charge: the customer can simply try again
            raise bank_unavailable() from None
        if one_time_token.card_type == CardType.CREDIT and not plan.product.allow_credit_cards:
            raise ApplicationError(
                RepaymentsError.CREDIT_CARD_NOT_ALLOWED,
                _("This plan cannot be repaid with a credit card."),
                fields={"card": _("This plan cannot be repaid with a credit card.")},
            )

    try:
        with transaction.atomic():
            locked_plan, installments = lock_plan(plan.pk, no_key=True)
            # A second submission of the same key (a double click) waited here for the first: it gets the
            # first's payment, not "nothing due" computed after the first already claimed the amount.
            existing = Repayment.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
            if existing is not None:
                return _replay(existing, fingerprint)
            amount = repayment_amount_check(
                request,
                plan_status=locked_plan.status,
                dues=plan_dues(locked_plan, installments, today=today),
                reserved=reserved_amount(locked_plan.pk),
                today=today,
            )
            now = timezone.now()
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
            repayment_event(repayment, "scheduled" if scheduled_for else "requested", channel=channel)
            if scheduled_for:
                if card is None:  # unreachable: a card used once is refused above for a scheduled payment
                    raise ValueError("A scheduled payment needs a bound card.")
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
            AccountsError.IDEMPOTENCY_KEY_REUSED, _("This idempotency key was used for a different payment.")
        )
    return existing


# --- charging and settling --------------------------------------------------------------------------


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
    card = repayment.card
    token = card.gateway_token if card is not None else repayment.one_time_card_token
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


def repayment_cancel(*, customer: User, repayment: Repayment) -> Repayment:
    if repayment.customer_id != customer.pk:
        raise ApplicationError(RepaymentsError.REPAYMENT_NOT_FOUND, _("No such repayment."))
    with transaction.atomic():
        updated = Repayment.objects.filter(pk=repayment.pk, status=RepaymentStatus.SCHEDULED).update(
            status=RepaymentStatus.CANCELLED, updated_at=timezone.now()
        )
        if not updated:
            raise ApplicationError(
                RepaymentsError.REPAYMENT_NOT_CANCELLABLE, _("Only a scheduled payment can be cancelled.")
            )
        repayment_event(repayment, "cancelled", actor=customer)
    repayment.refresh_from_db()
    return repayment


def scheduled_payments_move(*, plan_id: int, moved_due_dates: dict[date, date]) -> int:
    """A plan's due dates moved (延期还款): a payment the customer scheduled for an old due date moves to
    the new one, so it is charged when the installment falls due again (on the old date nothing would be
    due, and the payment would fail as ``nothing_due``). Payments scheduled on other dates stay. Runs
    inside the plan change's transaction (the ``plan_changed`` receiver); returns how many moved."""
    moved = 0
    for old, new in moved_due_dates.items():
        rows = list(
            Repayment.objects.select_for_update()
            .filter(plan_id=plan_id, status=RepaymentStatus.SCHEDULED, scheduled_for=old)
            .order_by("id")
        )
        if not rows:
            continue
        Repayment.objects.filter(pk__in=[r.pk for r in rows]).update(
            scheduled_for=new, updated_at=timezone.now()
        )
        for repayment in rows:
            repayment_event(
                repayment, "rescheduled", previous_date=old.isoformat(), scheduled_for=new.isoformat()
            )
        moved += len(rows)
    return moved


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
        payable = payable_total(dues) - reserved_amount(plan.pk, exclude=repayment)
        if repayment.mode == RepaymentMode.DUE_NOW:
            amount = due_now_total(dues, today=today)
        elif repayment.mode == RepaymentMode.PAYOFF:
            amount = payable
        else:
            amount = min(repayment.amount, payable)
        card_ok = repayment.card is not None and repayment.card.status == CardStatus.ACTIVE
        now = timezone.now()
        if amount <= 0 or not card_ok or plan.status not in REPAYABLE_PLAN_STATUSES:
            code = "card_removed" if not card_ok else "nothing_due"
            Repayment.objects.filter(pk=repayment_id).update(
                status=RepaymentStatus.FAILED, failure_code=code, updated_at=now
            )
            repayment_event(repayment, "failed", code=code)
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

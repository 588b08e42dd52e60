"""Payment holidays (还款假期, staff): skip N periods and extend the term.

A support agent proposes a holiday for a plan from the customer workspace (``holiday_propose``). The quote:
every open installment from the next unpaid one moves ``N`` calendar months later
(``schedules.add_months`` of its own due date), so the plan ends ``N`` months later with the same number of
installments (``plan.tenor`` stays the count of installments, which ``check_ledger`` holds it to; the
term in months is what grows). The fee is the product's ``holiday_fee_policy``: ``free``, or
``period_fee`` = ``N`` x the plan's current period fee (the next unpaid installment's ``fee_due``), added to
the first moved installment. The re-quoted schedule must keep its dated APR (the principal on the purchase
date, each installment on its due date, actual/365) at or under the product's ``max_apr_percent`` and the
plan's all-in ceiling headroom (``cost.ceiling_headroom`` over the new flows plus the journal's penalties)
at or above zero; otherwise it is refused with a stable code.

Eligibility (documented limits): the plan is active or overdue, no open installment is past its due date
plus the plan's grace days and none has an open penalty (a later-stage plan goes to 协商 instead), the
periods are 1 to the product's ``holiday_max_periods``, and only one holiday per plan is open at a time.

Maker-checker: more than ``HOLIDAY_APPROVAL_ABOVE_PERIODS`` periods waits for a second staff member with
``installments.approve_holiday`` (approver or lead); nobody approves or rejects their own. An offered
holiday reaches the customer by SMS (``holiday_offered``, with the link to the plan's holiday page); they
accept it with an SMS code (``OtpPurpose.ACCEPT_HOLIDAY``) on the web or the API, or decline it. Accepting
re-quotes under the plan lock (the terms must be those offered), then the ledger moves the dates
(``ledger.reschedule``, credit event ``holiday``) between the plan-change pair: ``repayments`` refuses while
a charge is in flight and cancels the plan's scheduled payments (the customer schedules again against the
new dates). Offers not accepted within ``HOLIDAY_OFFER_VALID_DAYS`` expire in the daily run.

Lock order: the holiday row (the workflow row), then the plan and its installments via the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.ids import short_ref
from core.money import ZERO, quantize_money
from installments import cost, journal
from installments.errors import InstallmentsError
from installments.ledger import (
    PAYABLE_PLAN_STATUSES,
    InstallmentRow,
    Move,
    Source,
    installment_rows,
    lock_plan,
    owing,
    reschedule,
)
from installments.models import (
    OPEN_HOLIDAY_STATES,
    CreditEventKind,
    HolidayFeePolicy,
    HolidayReason,
    HolidayState,
    InstallmentPlan,
    InstallmentStatus,
    PaymentHoliday,
)
from installments.schedules import add_months
from installments.signals import HOLIDAY, plan_changed, plan_changing
from notifications.services import notification_create

REQUEST_HOLIDAY_PERMISSION = "installments.add_paymentholiday"
APPROVE_HOLIDAY_PERMISSION = "installments.approve_holiday"

_APR_STEP = Decimal("0.0001")


def holiday_approval_threshold() -> int:
    """``HOLIDAY_APPROVAL_ABOVE_PERIODS``, read at call time."""
    return int(settings.HOLIDAY_APPROVAL_ABOVE_PERIODS)


def _require_staff(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


# --- the quote ----------------------------------------------------------------------------------------------


def dated_apr_percent(
    *, principal: Decimal, purchase_date: date, flows: Sequence[tuple[date, Decimal]]
) -> Decimal:
    """The nominal annual rate (12 x monthly, actual/365 months, as ``installments.cost``) at which the
    dated ``flows`` are worth ``principal`` on the purchase date, to 0.01%: the rate where the ceiling
    headroom is zero (the headroom grows with the rate). Zero when the flows pay back no more than the
    principal."""
    if sum((amount for _on, amount in flows), ZERO) <= principal:
        return Decimal("0.00")

    def headroom(rate: Decimal) -> Decimal:
        return cost.ceiling_headroom(
            principal=principal, purchase_date=purchase_date, flows=flows, apr_percent=rate
        )

    low, high = Decimal(0), Decimal(100)
    while headroom(high) < 0 and high < Decimal(100000):
        low, high = high, high * 4
    while high - low > _APR_STEP:
        middle = (low + high) / 2
        if headroom(middle) < 0:
            low = middle
        else:
            high = middle
    return high.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class HolidayQuote:
    """What a holiday of ``periods`` does to a plan, as of the installments it was quoted on."""

    periods: int
    moves: tuple[Move, ...]
    fee: Decimal
    first_sequence: int
    next_due_before: date
    next_due_after: date
    last_due_before: date
    last_due_after: date
    next_amount_after: Decimal  # what the first moved installment then asks (its open amount + the fee)
    apr_percent_before: Decimal  # the dated APR of the schedule as it stands (the same method as after)
    apr_percent_after: Decimal
    ceiling_headroom_after: Decimal

    def same_terms(self, holiday: PaymentHoliday) -> bool:
        return (
            self.periods == holiday.periods
            and self.first_sequence == holiday.first_sequence
            and len(self.moves) == holiday.installments_moved
            and self.fee == holiday.fee
            and self.next_due_after == holiday.next_due_after
            and self.last_due_after == holiday.last_due_after
        )


@dataclass(frozen=True)
class HolidayOption:
    """One number of periods staff may offer, with its quote or why it is not possible."""

    periods: int
    quote: HolidayQuote | None
    refusal: str = ""


def holiday_options(*, plan: InstallmentPlan, today: date | None = None) -> list[HolidayOption]:
    """Every number of periods the product allows, quoted (the staff form lists them all before staff
    choose): a refusal is an answer here, not an error."""
    options = []
    for periods in range(1, plan.product.holiday_max_periods + 1):
        try:
            options.append(HolidayOption(periods, holiday_quote(plan=plan, periods=periods, today=today)))
        except ApplicationError as exc:
            options.append(HolidayOption(periods, None, exc.message))
    return options


def holiday_quote(
    *,
    plan: InstallmentPlan,
    periods: int,
    today: date | None = None,
    installments: list[InstallmentRow] | None = None,
) -> HolidayQuote:
    """The holiday's terms, or an ``ApplicationError`` with the first reason it is refused. Writes nothing;
    ``installments`` are the plan's (locked) rows when the caller holds the lock, else read now."""
    today = today or timezone.localdate()
    product = plan.product
    if not 1 <= periods <= product.holiday_max_periods:
        raise ApplicationError(
            InstallmentsError.HOLIDAY_PERIODS_OUT_OF_RANGE,
            _("A payment holiday on this plan skips 1 to %(max)s periods.")
            % {"max": product.holiday_max_periods},
            fields={"periods": _("From 1 to %(max)s.") % {"max": product.holiday_max_periods}},
        )
    if plan.status not in PAYABLE_PLAN_STATUSES:
        raise ApplicationError(
            InstallmentsError.PLAN_NOT_ACTIVE, _("Only an active or overdue plan can take a payment holiday.")
        )
    rows = installment_rows([plan.pk]).get(plan.pk, []) if installments is None else installments
    owed = sorted(owing(rows), key=lambda i: i.sequence)
    if not owed:
        raise ApplicationError(InstallmentsError.PLAN_NOT_ACTIVE, _("Nothing is left to pay on this plan."))
    late = [i for i in owed if (today - i.due_date).days > plan.grace_days or i.open("penalty") > 0]
    if late:
        raise ApplicationError(
            InstallmentsError.OVERDUE_BEYOND_GRACE,
            _(
                "Installment %(seq)s is past its grace days or has a late fee open: a payment holiday is "
                "for plans still within their grace days. Offer a negotiated plan instead."
            )
            % {"seq": late[0].sequence},
        )
    first = owed[0]
    fee = ZERO
    if product.holiday_fee_policy == HolidayFeePolicy.PERIOD_FEE:
        fee = quantize_money(first.fee_due * periods)
    moves = tuple(
        Move(
            installment_id=inst.pk,
            due_date=add_months(inst.due_date, periods),
            extra_fee=fee if inst.pk == first.pk else ZERO,
        )
        for inst in owed
    )
    by_pk = {move.installment_id: move for move in moves}
    flows: list[tuple[date, Decimal]] = []
    flows_before: list[tuple[date, Decimal]] = []
    for inst in rows:
        if inst.status == InstallmentStatus.RESTRUCTURED:
            continue
        flows_before.append((inst.due_date, inst.principal_due + inst.fee_due))
        move = by_pk.get(inst.pk)
        flows.append(
            (
                move.due_date if move else inst.due_date,
                inst.principal_due + inst.fee_due + (move.extra_fee if move else ZERO),
            )
        )
    apr = dated_apr_percent(principal=plan.principal, purchase_date=plan.purchase_date, flows=flows)
    if apr > product.max_apr_percent:  # to 0.01%, as every quote states and checks its APR
        raise ApplicationError(
            InstallmentsError.APR_ABOVE_MAXIMUM,
            _(
                "With the holiday the annualized rate would be %(apr)s%%, above this product's maximum of "
                "%(max)s%%."
            )
            % {"apr": apr, "max": product.max_apr_percent},
        )
    headroom = cost.ceiling_headroom(
        principal=plan.principal,
        purchase_date=plan.purchase_date,
        flows=[*flows, *journal.penalties_by_date(plan.pk)],
        apr_percent=plan.max_all_in_apr_percent,
    )
    if headroom < 0:
        raise ApplicationError(
            InstallmentsError.HOLIDAY_ABOVE_CEILING,
            _(
                "With the holiday the plan's all-in cost, late fees included, would be above its ceiling of "
                "%(max)s%% a year."
            )
            % {"max": plan.max_all_in_apr_percent},
        )
    return HolidayQuote(
        periods=periods,
        moves=moves,
        fee=fee,
        first_sequence=first.sequence,
        next_due_before=first.due_date,
        next_due_after=moves[0].due_date,
        last_due_before=owed[-1].due_date,
        last_due_after=moves[-1].due_date,
        next_amount_after=first.outstanding + fee,
        apr_percent_before=dated_apr_percent(
            principal=plan.principal, purchase_date=plan.purchase_date, flows=flows_before
        ),
        apr_percent_after=apr,
        ceiling_headroom_after=headroom,
    )


def _quote_fields(quote: HolidayQuote) -> dict[str, object]:
    return {
        "fee": quote.fee,
        "first_sequence": quote.first_sequence,
        "installments_moved": len(quote.moves),
        "next_due_before": quote.next_due_before,
        "next_due_after": quote.next_due_after,
        "last_due_before": quote.last_due_before,
        "last_due_after": quote.last_due_after,
        "next_amount_after": quote.next_amount_after,
        "apr_percent_before": quote.apr_percent_before,
        "apr_percent_after": quote.apr_percent_after,
    }


# --- staff: propose, approve, reject ------------------------------------------------------------------------


def holiday_propose(
    *,
    plan: InstallmentPlan,
    periods: int,
    reason: str,
    note: str,
    actor: User,
    today: date | None = None,
) -> PaymentHoliday:
    """A staff member proposes a holiday of ``periods`` for ``reason``. Up to the threshold it is offered to
    the customer at once (SMS); above, it waits for an approver. Audited either way."""
    _require_staff(actor, REQUEST_HOLIDAY_PERMISSION)
    today = today or timezone.localdate()
    if reason not in HolidayReason.values:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("Choose a reason."), fields={"reason": _("Required.")}
        )
    note = (note or "").strip()
    if reason == HolidayReason.OTHER and not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED,
            _("Say why in the note when the reason is 'other'."),
            fields={"note": _("Required.")},
        )
    with transaction.atomic():
        _locked, installments = lock_plan(plan.pk, no_key=True)
        plan = InstallmentPlan.objects.select_related("product", "customer").get(pk=plan.pk)
        if PaymentHoliday.objects.filter(plan_id=plan.pk, state__in=OPEN_HOLIDAY_STATES).exists():
            raise _already_open()
        quote = holiday_quote(plan=plan, periods=periods, today=today, installments=installments)
        above = periods > holiday_approval_threshold()
        try:
            with transaction.atomic():
                holiday = PaymentHoliday.objects.create(
                    plan=plan,
                    periods=periods,
                    reason=reason,
                    note=note[:255],
                    state=HolidayState.AWAITING_APPROVAL if above else HolidayState.OFFERED,
                    proposed_by=actor,
                    **_quote_fields(quote),
                    **({} if above else _offer_fields()),
                )
        except IntegrityError:
            raise _already_open() from None
        staff_action_record(
            staff=actor,
            customer=plan.customer,
            action="holiday_proposed" if above else "holiday_offered",
            detail=_detail(holiday),
        )
        if not above:
            _offer_sms(holiday)
    return holiday


def _already_open() -> ApplicationError:
    return ApplicationError(
        InstallmentsError.HOLIDAY_ALREADY_OPEN,
        _("A payment holiday for this plan is already waiting for approval or for the customer."),
    )


def _offer_fields() -> dict[str, datetime]:
    now = timezone.now()
    return {"offered_at": now, "offered_until": now + timedelta(days=settings.HOLIDAY_OFFER_VALID_DAYS)}


def holiday_link(plan: InstallmentPlan) -> str:
    """The short link of the plan's holiday page, as the SMS carries it (``/h/<short ref>/``; the page needs
    the customer's sign-in, nothing secret in the link)."""
    path = reverse("installments:holiday_link", args=[short_ref(plan.public_id)])
    return settings.SMS_LINK_BASE_URL.rstrip("/") + path


def _offer_sms(holiday: PaymentHoliday) -> None:
    if holiday.offered_until is None:
        raise ValueError(f"holiday {holiday.pk} is offered without an end")
    notification_create(
        user=holiday.plan.customer,
        code="holiday_offered",
        context={
            "plan": holiday.plan.display_name,
            "periods": holiday.periods,
            "next_due": holiday.next_due_after,
            "fee": holiday.fee,
            "expires": timezone.localtime(holiday.offered_until).date(),
            "link": holiday_link(holiday.plan),
        },
        dedupe_key=f"holiday_offered:{holiday.pk}",
    )


def holiday_approve(*, holiday: PaymentHoliday, actor: User, today: date | None = None) -> PaymentHoliday:
    """The checker: an approver who did not propose it sends the holiday to the customer. The terms are
    quoted again (a payment meanwhile may have moved the next unpaid installment): what is offered is the
    plan as it stands now, or the refusal's reason."""
    _require_staff(actor, APPROVE_HOLIDAY_PERMISSION)
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = _lock_in(holiday, HolidayState.AWAITING_APPROVAL)
        _not_own(locked, actor)
        plan = InstallmentPlan.objects.select_related("product", "customer").get(pk=locked.plan_id)
        quote = holiday_quote(plan=plan, periods=locked.periods, today=today)
        for name, value in {**_quote_fields(quote), **_offer_fields()}.items():
            setattr(locked, name, value)
        locked.state = HolidayState.OFFERED
        locked.approved_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        staff_action_record(
            staff=actor, customer=plan.customer, action="holiday_approved", detail=_detail(locked)
        )
        _offer_sms(locked)
    return locked


def holiday_reject(*, holiday: PaymentHoliday, actor: User, note: str) -> PaymentHoliday:
    """The checker turns a proposed holiday down with a reason; the customer hears nothing of it."""
    _require_staff(actor, APPROVE_HOLIDAY_PERMISSION)
    note = (note or "").strip()
    if not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"note": _("Required.")}
        )
    with transaction.atomic():
        locked = _lock_in(holiday, HolidayState.AWAITING_APPROVAL)
        _not_own(locked, actor)
        locked.state = HolidayState.REJECTED
        locked.approved_by = actor
        locked.decided_at = locked.closed_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save(update_fields=["state", "approved_by", "decided_at", "closed_at", "decision_note"])
        staff_action_record(
            staff=actor,
            customer=locked.plan.customer,
            action="holiday_rejected",
            detail={**_detail(locked), "decision_note": locked.decision_note},
        )
    return locked


def _lock_in(holiday: PaymentHoliday, state: str) -> PaymentHoliday:
    locked = (
        PaymentHoliday.objects.select_for_update(of=("self",))
        .select_related("plan__customer", "plan__product")
        .get(pk=holiday.pk)
    )
    if locked.state != state:
        raise ApplicationError(
            InstallmentsError.INVALID_STATE,
            _("This payment holiday is %(state)s; that step is not possible now.")
            % {"state": locked.get_state_display()},
        )
    return locked


def _not_own(holiday: PaymentHoliday, actor: User) -> None:
    if holiday.proposed_by_id == actor.pk:
        raise ApplicationError(
            InstallmentsError.SELF_APPROVAL,
            _(
                "A payment holiday must be approved or rejected by someone other than the staff member who "
                "proposed it."
            ),
        )


def _detail(holiday: PaymentHoliday) -> dict[str, object]:
    return {
        "holiday": holiday.pk,
        "plan": str(holiday.plan.public_id),
        "periods": holiday.periods,
        "fee": f"{holiday.fee:.2f}",
        "next_due_after": holiday.next_due_after.isoformat(),
        "reason": holiday.reason,
        "note": holiday.note,
    }


# --- the customer: accept, decline --------------------------------------------------------------------------


def holiday_offered(*, customer: User, plan_public_id: UUID | str) -> PaymentHoliday:
    """The holiday offered on the customer's own plan; anyone else's plan, or none offered: not found."""
    holiday = (
        PaymentHoliday.objects.select_related("plan__product", "plan__customer")
        .filter(plan__public_id=plan_public_id, plan__customer=customer, state=HolidayState.OFFERED)
        .first()
    )
    if holiday is None:
        raise ApplicationError(
            InstallmentsError.HOLIDAY_NOT_FOUND, _("No payment holiday is offered on this plan.")
        )
    return holiday


def _check_acceptable(holiday: PaymentHoliday) -> None:
    if holiday.state != HolidayState.OFFERED:
        raise ApplicationError(InstallmentsError.INVALID_STATE, _("There is no payment holiday to accept."))
    if holiday.offered_until is None or holiday.offered_until <= timezone.now():
        raise ApplicationError(
            InstallmentsError.OFFER_EXPIRED, _("This offer has expired. Contact us for a new one.")
        )


def holiday_accept(
    *, customer: User, plan_public_id: UUID | str, otp_code: str, today: date | None = None
) -> PaymentHoliday:
    """The customer accepts the offered holiday with the SMS code (``accept_holiday``): under the plan lock
    the terms are quoted again and must be those offered, then the ledger moves the dates and adds the
    fee, between the plan-change pair. The code is checked outside our transaction (a wrong try stays
    counted), so a wrong or missing code changes nothing."""
    today = today or timezone.localdate()
    holiday = holiday_offered(customer=customer, plan_public_id=plan_public_id)
    _check_acceptable(holiday)
    otp_verify(user=customer, purpose=OtpPurpose.ACCEPT_HOLIDAY, code=otp_code)
    with transaction.atomic():
        locked = (
            PaymentHoliday.objects.select_for_update(of=("self",))
            .select_related("plan__customer", "plan__product")
            .get(pk=holiday.pk)
        )
        _check_acceptable(locked)
        row, installments = lock_plan(locked.plan_id, no_key=True)
        plan = InstallmentPlan.objects.select_related("product", "customer").get(pk=locked.plan_id)
        quote = holiday_quote(plan=plan, periods=locked.periods, today=today, installments=installments)
        if not quote.same_terms(locked):
            raise ApplicationError(
                InstallmentsError.HOLIDAY_TERMS_CHANGED,
                _("Your plan changed since this holiday was offered. Contact us for a new offer."),
            )
        plan_changing.send(sender=InstallmentPlan, plan=plan, kind=HOLIDAY)
        reschedule(
            row,
            installments,
            quote.moves,
            today=today,
            source=Source(key=f"holiday:{locked.pk}", reference=f"holiday:{locked.pk}"),
            credit_event=CreditEventKind.HOLIDAY,
        )
        plan.refresh_from_db()
        if plan.ceiling_headroom is not None and plan.ceiling_headroom < 0:
            raise ApplicationError(
                InstallmentsError.HOLIDAY_ABOVE_CEILING,
                _("With the holiday the plan's all-in cost would be above its ceiling."),
            )
        locked.state = HolidayState.APPLIED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["state", "closed_at"])
        plan_changed.send(sender=InstallmentPlan, plan=plan, kind=HOLIDAY, successor=None)
        notification_create(
            user=customer,
            code="holiday_applied",
            context={
                "plan": plan.display_name,
                "periods": locked.periods,
                "next_due": quote.next_due_after,
                "amount": quote.next_amount_after,
            },
            dedupe_key=f"holiday_applied:{locked.pk}",
        )
    return locked


def holiday_decline(*, customer: User, plan_public_id: UUID | str) -> PaymentHoliday:
    """The customer declines the offer (final: staff may propose another)."""
    holiday = holiday_offered(customer=customer, plan_public_id=plan_public_id)
    with transaction.atomic():
        updated = PaymentHoliday.objects.filter(pk=holiday.pk, state=HolidayState.OFFERED).update(
            state=HolidayState.DECLINED, closed_at=timezone.now()
        )
        if not updated:
            raise ApplicationError(
                InstallmentsError.INVALID_STATE, _("There is no payment holiday to decline.")
            )
    holiday.refresh_from_db()
    return holiday


def holidays_expire(*, now: datetime | None = None) -> int:
    """Offers past their time expire (the daily run, at the start of its business day): one statement."""
    now = now or timezone.now()
    return PaymentHoliday.objects.filter(state=HolidayState.OFFERED, offered_until__lte=now).update(
        state=HolidayState.EXPIRED, closed_at=now
    )

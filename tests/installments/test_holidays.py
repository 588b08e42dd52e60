"""Payment holidays (staff): propose, maker-checker, the customer's acceptance with an SMS code, the ledger's
move of the dates with the fee's journal entry, refusals, decline and expiry. ``check_ledger`` runs after
every test (tests/conftest.py ``ledger_stays_clean``)."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import OtpPurpose, StaffAction
from core.errors import ApplicationError
from installments.cost import ceiling_headroom
from installments.models import (
    Account,
    CreditEvent,
    CreditEventKind,
    EntryKind,
    HolidayFeePolicy,
    HolidayReason,
    HolidayState,
    InstallmentPlan,
    InstallmentStatus,
    JournalEntry,
    PaymentHoliday,
)
from installments.schedules import add_months, build_schedule
from installments.services import (
    holiday_accept,
    holiday_approve,
    holiday_decline,
    holiday_propose,
    holiday_quote,
    holiday_reject,
    holidays_expire,
    overdue_sweep,
    plan_create,
)
from installments.services.holidays import dated_apr_percent
from notifications.models import Notification
from repayments.models import Repayment, RepaymentStatus
from repayments.services import repayment_create
from repayments.services.daily import day_open

D = Decimal


def _propose(plan, actor, periods=1, **kwargs):
    return holiday_propose(
        plan=plan,
        periods=periods,
        reason=kwargs.pop("reason", HolidayReason.HARDSHIP),
        note=kwargs.pop("note", "hospital stay"),
        actor=actor,
        **kwargs,
    )


def _code(codes, user) -> str:
    return codes.request(user, OtpPurpose.ACCEPT_HOLIDAY)


def _dates(plan) -> list:
    return list(plan.installments.order_by("sequence").values_list("due_date", flat=True))


@pytest.fixture
def period_fee(flat_product):
    flat_product.holiday_fee_policy = HolidayFeePolicy.PERIOD_FEE
    flat_product.save(update_fields=["holiday_fee_policy"])
    return flat_product


# --- propose, maker-checker ---------------------------------------------------------------------------------


def test_one_period_is_offered_at_once_with_an_sms_and_an_audit_row(current_plan, agent) -> None:
    holiday = _propose(current_plan, agent)
    assert holiday.state == HolidayState.OFFERED
    assert holiday.offered_until is not None
    assert holiday.offered_until > timezone.now()
    assert holiday.fee == D("0.00")  # the product's default policy: free
    first = current_plan.installments.get(sequence=1)
    assert holiday.next_due_before == first.due_date
    assert holiday.next_due_after == add_months(first.due_date, 1)
    assert holiday.installments_moved == 12
    sms = Notification.objects.get(user=current_plan.customer, template_code="holiday_offered")
    assert "/h/" in sms.text
    action = StaffAction.objects.get(staff=agent, customer=current_plan.customer)
    assert action.action == "holiday_offered"
    assert action.detail["periods"] == 1
    # Nothing moved yet: the customer has not accepted.
    assert _dates(current_plan)[0] == first.due_date


def test_more_periods_wait_for_an_approver_who_is_not_the_maker(current_plan, approver, approver2) -> None:
    holiday = _propose(current_plan, approver, periods=2)
    assert holiday.state == HolidayState.AWAITING_APPROVAL
    assert not Notification.objects.filter(template_code="holiday_offered").exists()
    with pytest.raises(ApplicationError) as exc:
        holiday_approve(holiday=holiday, actor=approver)
    assert exc.value.code == "self_approval"
    with pytest.raises(ApplicationError) as exc:
        holiday_reject(holiday=holiday, actor=approver, note="no")
    assert exc.value.code == "self_approval"
    approved = holiday_approve(holiday=holiday, actor=approver2)
    assert approved.state == HolidayState.OFFERED
    assert approved.approved_by == approver2
    assert Notification.objects.filter(template_code="holiday_offered").count() == 1
    actions = set(StaffAction.objects.values_list("action", flat=True))
    assert actions == {"holiday_proposed", "holiday_approved"}


def test_an_agent_cannot_approve(current_plan, agent, approver) -> None:
    holiday = _propose(current_plan, approver, periods=3)
    with pytest.raises(ApplicationError) as exc:
        holiday_approve(holiday=holiday, actor=agent)
    assert exc.value.code == "permission_denied"
    holiday.refresh_from_db()
    assert holiday.state == HolidayState.AWAITING_APPROVAL


def test_the_threshold_is_a_setting(current_plan, agent, settings) -> None:
    settings.HOLIDAY_APPROVAL_ABOVE_PERIODS = 2
    assert _propose(current_plan, agent, periods=2).state == HolidayState.OFFERED


def test_reject_needs_a_reason_and_leaves_the_plan_alone(current_plan, agent, approver) -> None:
    before = _dates(current_plan)
    holiday = _propose(current_plan, agent, periods=2)
    with pytest.raises(ApplicationError) as exc:
        holiday_reject(holiday=holiday, actor=approver, note=" ")
    assert exc.value.code == "reason_required"
    rejected = holiday_reject(holiday=holiday, actor=approver, note="income not shown")
    assert rejected.state == HolidayState.REJECTED
    assert _dates(current_plan) == before
    assert StaffAction.objects.filter(action="holiday_rejected").count() == 1
    # Closed: a new one may be proposed.
    assert _propose(current_plan, agent).state == HolidayState.OFFERED


def test_one_open_holiday_per_plan(current_plan, agent) -> None:
    _propose(current_plan, agent)
    with pytest.raises(ApplicationError) as exc:
        _propose(current_plan, agent)
    assert exc.value.code == "holiday_already_open"
    assert exc.value.status == 409


# --- accept and apply ---------------------------------------------------------------------------------------


def test_accept_moves_every_open_installment_n_months_and_charges_the_period_fee(
    current_plan, period_fee, agent, approver, codes
) -> None:
    customer = current_plan.customer
    before = _dates(current_plan)
    total_fee_before = current_plan.total_fee
    holiday = _propose(current_plan, agent, periods=2)
    holiday = holiday_approve(holiday=holiday, actor=approver)
    assert holiday.fee == D("12.00")  # 2 x the period fee of ¥6.00 (1,200 x 0.5%)

    applied = holiday_accept(
        customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer)
    )

    assert applied.state == HolidayState.APPLIED
    current_plan.refresh_from_db()
    assert _dates(current_plan) == [add_months(d, 2) for d in before]
    assert current_plan.tenor == 12  # the same 12 installments; the term ends 2 months later
    assert current_plan.installments.count() == 12
    first = current_plan.installments.get(sequence=1)
    assert first.fee_due == D("18.00")
    assert current_plan.total_fee == total_fee_before + D("12.00")
    entry = JournalEntry.objects.get(kind=EntryKind.RESCHEDULED, plan=current_plan)
    lines = {(line.account, line.debit, line.credit) for line in entry.lines.all()}
    assert lines == {
        (Account.FEE_RECEIVABLE, D("12.00"), D("0.00")),
        (Account.UNEARNED_FEES, D("0.00"), D("12.00")),
    }
    assert CreditEvent.objects.filter(plan=current_plan, kind=CreditEventKind.HOLIDAY).count() == 1
    sms = Notification.objects.get(user=customer, template_code="holiday_applied")
    assert "118.00" in sms.text  # the next payment: 106.00 + the holiday fee of 12.00
    assert current_plan.ceiling_headroom is not None
    assert current_plan.ceiling_headroom >= 0


def test_a_free_holiday_posts_no_journal_entry_and_lowers_the_apr(current_plan, agent, codes) -> None:
    customer = current_plan.customer
    holiday = _propose(current_plan, agent)
    # The dated APR of 1,200 over 12 at 0.5% a month (10.90% by equal periods; actual/365 moves it a little).
    assert D("10.70") < holiday.apr_percent_before < D("11.10")
    assert holiday.apr_percent_after < holiday.apr_percent_before
    holiday_accept(customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer))
    assert not JournalEntry.objects.filter(kind=EntryKind.RESCHEDULED).exists()
    assert CreditEvent.objects.filter(plan=current_plan, kind=CreditEventKind.HOLIDAY).count() == 1


def test_an_overdue_installment_within_grace_moves_and_is_pending_again(customer, flat_product, agent, codes):
    today = timezone.localdate()
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=add_months(today, -1) - timedelta(days=1),
    )
    overdue_sweep(as_of=today)
    first = plan.installments.get(sequence=1)
    assert first.status == InstallmentStatus.OVERDUE
    assert first.penalty_due == 0
    _propose(plan, agent)
    holiday_accept(customer=customer, plan_public_id=plan.public_id, otp_code=_code(codes, customer))
    first.refresh_from_db()
    plan.refresh_from_db()
    assert first.status == InstallmentStatus.PENDING
    assert first.due_date > today
    assert plan.status == "active"


def test_scheduled_payments_on_the_plan_are_cancelled(current_plan, card, agent, codes) -> None:
    customer = current_plan.customer
    scheduled = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="due_now",
        card=card,
        channel="web",
        idempotency_key="later",
        scheduled_for=current_plan.first_due_date,
    )
    _propose(current_plan, agent)
    holiday_accept(customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer))
    scheduled.refresh_from_db()
    assert scheduled.status == RepaymentStatus.CANCELLED


def test_refused_while_a_payment_is_in_flight(current_plan, card, agent, codes) -> None:
    customer = current_plan.customer
    before = _dates(current_plan)
    _propose(current_plan, agent)
    Repayment.objects.create(
        customer=customer,
        plan=current_plan,
        amount=D("106.00"),
        mode="due_now",
        channel="auto_debit",
        card=card,
        idempotency_key="in-flight",
        status=RepaymentStatus.PENDING,
    )
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(
            customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer)
        )
    assert exc.value.code == "payment_in_progress"
    assert exc.value.status == 409
    assert _dates(current_plan) == before
    assert PaymentHoliday.objects.get().state == HolidayState.OFFERED


def test_a_code_sent_to_another_phone_is_refused(current_plan, other_customer, agent, codes) -> None:
    customer = current_plan.customer
    before = _dates(current_plan)
    _propose(current_plan, agent)
    theirs = _code(codes, other_customer)
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(customer=customer, plan_public_id=current_plan.public_id, otp_code=theirs)
    assert exc.value.code == "otp_not_requested"
    # The other customer cannot accept the holiday on someone else's plan, even with their own code.
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(customer=other_customer, plan_public_id=current_plan.public_id, otp_code=theirs)
    assert exc.value.code == "holiday_not_found"
    assert exc.value.status == 404
    assert _dates(current_plan) == before


def test_terms_changed_since_the_offer_are_refused(current_plan, card, agent, codes) -> None:
    """The customer pays installment 1 after the offer: the holiday would now start at installment 2, which
    is not what was offered (staff offer it again)."""
    customer = current_plan.customer
    _propose(current_plan, agent)
    repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="106.00",
        card=card,
        channel="web",
        idempotency_key="pay-first",
    )
    assert current_plan.installments.get(sequence=1).status == InstallmentStatus.PAID
    before = _dates(current_plan)
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(
            customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer)
        )
    assert exc.value.code == "holiday_terms_changed"
    assert _dates(current_plan) == before


# --- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("periods", [0, 4])
def test_periods_out_of_range(current_plan, agent, periods) -> None:
    with pytest.raises(ApplicationError) as exc:
        _propose(current_plan, agent, periods=periods)
    assert exc.value.code == "holiday_periods_out_of_range"
    assert set(exc.value.fields) == {"periods"}
    assert "3" in exc.value.fields["periods"]
    assert not PaymentHoliday.objects.exists()


def test_refused_above_the_products_maximum_apr(current_plan, period_fee, agent) -> None:
    """The re-quoted dated APR (later payments lower it, the period fees raise it) must stay at or under the
    product's maximum as it is now."""
    apr = holiday_quote(plan=current_plan, periods=3).apr_percent_after
    period_fee.max_apr_percent = apr - D("0.01")
    period_fee.save(update_fields=["max_apr_percent"])
    current_plan.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        _propose(current_plan, agent, periods=3)
    assert exc.value.code == "apr_above_maximum"
    assert f"{apr}%" in exc.value.message
    period_fee.max_apr_percent = apr
    period_fee.save(update_fields=["max_apr_percent"])
    current_plan.refresh_from_db()
    assert _propose(current_plan, agent, periods=3).apr_percent_after == apr


def test_refused_above_the_all_in_ceiling(current_plan, agent) -> None:
    InstallmentPlan.objects.filter(pk=current_plan.pk).update(max_all_in_apr_percent=D("5.00"))
    current_plan.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        _propose(current_plan, agent)
    assert exc.value.code == "holiday_above_ceiling"


def test_refused_past_grace_with_a_penalty(late_plan, agent) -> None:
    with pytest.raises(ApplicationError) as exc:
        _propose(late_plan, agent)
    assert exc.value.code == "overdue_beyond_grace"


def test_other_reason_needs_a_note(current_plan, agent) -> None:
    with pytest.raises(ApplicationError) as exc:
        _propose(current_plan, agent, reason=HolidayReason.OTHER, note="")
    assert exc.value.code == "reason_required"


# --- decline, expire ----------------------------------------------------------------------------------------


def test_decline_is_final(current_plan, agent, codes) -> None:
    customer = current_plan.customer
    _propose(current_plan, agent)
    declined = holiday_decline(customer=customer, plan_public_id=current_plan.public_id)
    assert declined.state == HolidayState.DECLINED
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(
            customer=customer, plan_public_id=current_plan.public_id, otp_code=_code(codes, customer)
        )
    assert exc.value.code == "holiday_not_found"


def test_offers_expire_in_the_daily_run(current_plan, agent, codes) -> None:
    holiday = _propose(current_plan, agent)
    assert holidays_expire(now=holiday.offered_until - timedelta(seconds=1)) == 0
    opening = day_open(business_date=timezone.localdate() + timedelta(days=4))
    assert opening.holidays_expired == 1
    holiday.refresh_from_db()
    assert holiday.state == HolidayState.EXPIRED


def test_an_offer_past_its_time_is_refused_before_the_daily_run(current_plan, agent, codes) -> None:
    customer = current_plan.customer
    holiday = _propose(current_plan, agent)
    PaymentHoliday.objects.filter(pk=holiday.pk).update(offered_until=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ApplicationError) as exc:
        holiday_accept(customer=customer, plan_public_id=current_plan.public_id, otp_code="123456")
    assert exc.value.code == "offer_expired"


# --- the math -----------------------------------------------------------------------------------------------


def test_dated_apr_of_a_quote(current_plan) -> None:
    quote = holiday_quote(plan=current_plan, periods=1)
    flows = [(m.due_date, D("106.00")) for m in quote.moves]
    assert dated_apr_percent(
        principal=D("1200.00"), purchase_date=current_plan.purchase_date, flows=flows
    ) == (quote.apr_percent_after)
    assert dated_apr_percent(
        principal=D("1200.00"),
        purchase_date=current_plan.purchase_date,
        flows=[(quote.next_due_after, D("1200"))],
    ) == D("0.00")


@hsettings(max_examples=60, deadline=None)
@given(
    principal=st.integers(min_value=100, max_value=200_000).map(D),
    tenor=st.integers(min_value=1, max_value=24),
    monthly_fee_rate=st.sampled_from([D("0"), D("0.003"), D("0.005"), D("0.0125")]),
    purchase=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    periods=st.integers(min_value=1, max_value=3),
)
def test_dated_apr_brackets_the_rate_and_a_free_holiday_never_raises_it(
    principal, tenor, monthly_fee_rate, purchase, periods
) -> None:
    """The dated APR is the rate to 0.01% where the flows are worth the principal (the headroom changes sign
    within a hundredth of it), and the same payments made later never cost more."""
    schedule = build_schedule(
        fee_method="flat_fee", principal=principal, tenor=tenor, rate=monthly_fee_rate, purchase_date=purchase
    )
    flows = [(row.due_date, row.total) for row in schedule.rows]
    apr = dated_apr_percent(principal=principal, purchase_date=purchase, flows=flows)
    if monthly_fee_rate == 0:
        assert apr == D("0.00")
    else:
        room = functools.partial(ceiling_headroom, principal=principal, purchase_date=purchase, flows=flows)
        assert room(apr_percent=apr + D("0.01")) >= 0
        assert room(apr_percent=apr - D("0.01")) < 0
    later = [(add_months(on, periods), amount) for on, amount in flows]
    assert dated_apr_percent(principal=principal, purchase_date=purchase, flows=later) <= apr

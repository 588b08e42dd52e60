"""延期还款 (issue 20, item 5): the quote, the refusal reasons, the extension through the ledger with its fee,
credit event and SMS, idempotency, a payment in flight, a payment scheduled for the old date, and a plan
extended within its grace days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import OtpPurpose
from core.errors import ApplicationError
from installments import cost, journal
from installments.ledger import installment_rows
from installments.models import (
    Account,
    CreditEvent,
    CreditEventKind,
    DelinquencyBucket,
    EntryKind,
    InstallmentPlan,
    InstallmentStatus,
    JournalEntry,
    PlanExtension,
    PlanStatus,
)
from installments.services import (
    ExtensionRefused,
    extension_apply,
    extension_quote,
    extension_refusals,
    overdue_sweep,
    plan_restage,
)
from installments.services.extension import _extension_locked
from notifications.models import Notification
from repayments.models import Repayment, RepaymentEvent, RepaymentStatus
from repayments.services import repayment_create, repayments_run_scheduled
from tests.concurrency import at_once

D = Decimal


def first(plan: InstallmentPlan):
    return plan.installments.order_by("sequence").first()


def codes_of(refusals) -> set[str]:
    return {str(r.code) for r in refusals}


def apply(plan, codes, *, days=7, key="k1", today=None):
    code = codes.request(plan.customer, OtpPurpose.EXTENSION)
    return extension_apply(
        plan=plan, customer=plan.customer, days=days, code=code, idempotency_key=key, today=today
    )


def with_fee_rate(plan: InstallmentPlan, rate: str) -> InstallmentPlan:
    plan.product.extension_fee_rate = D(rate)
    plan.product.save(update_fields=["extension_fee_rate"])
    return InstallmentPlan.objects.select_related("product").get(pk=plan.pk)


# --- the quote -----------------------------------------------------------------------------------------


def test_quote_moves_the_next_installment_and_writes_nothing(current_plan) -> None:
    due = first(current_plan).due_date
    quote = extension_quote(plan=current_plan, days=7)
    assert (quote.sequence, quote.old_due_date, quote.new_due_date) == (1, due, due + timedelta(days=7))
    assert quote.fee == D("0.00")  # the product's default rate is 0
    assert quote.amount_due == D("106.00")
    assert (quote.min_days, quote.max_days) == (1, 14)
    # A free move only lowers the cost: the dated APR falls.
    assert quote.apr_percent < quote.apr_before
    assert [a.moved for a in quote.next_amounts][:2] == [True, False]
    assert quote.next_amounts[0].due_date == due + timedelta(days=7)
    assert first(current_plan).due_date == due
    assert not PlanExtension.objects.exists()


def test_the_fee_is_the_rate_times_the_installments_principal_and_raises_the_apr(current_plan) -> None:
    plan = with_fee_rate(current_plan, "0.05")
    quote = extension_quote(plan=plan, days=7)
    assert quote.fee == D("5.00")  # 5% of 100.00 principal
    assert quote.amount_due == D("111.00")
    assert quote.next_amounts[0].amount == D("111.00")
    assert quote.apr_percent > quote.apr_before


@pytest.mark.parametrize("days", [0, 15, -1])
def test_days_outside_the_range_are_refused_with_the_range(current_plan, days) -> None:
    with pytest.raises(ApplicationError) as exc:
        extension_quote(plan=current_plan, days=days)
    assert exc.value.code == "extension_days_out_of_range"
    assert "1" in exc.value.message
    assert "14" in exc.value.message
    assert "days" in exc.value.fields


def test_above_the_products_maximum_apr_is_refused(current_plan) -> None:
    plan = with_fee_rate(current_plan, "0.05")  # 10.93% -> 11.68%
    plan.product.max_apr_percent = D("11.00")
    plan.product.save(update_fields=["max_apr_percent"])
    with pytest.raises(ApplicationError) as exc:
        extension_quote(plan=plan, days=7)
    assert exc.value.code == "apr_above_maximum"
    # Free, the same move lowers the APR: never refused for a cost the plan already had.
    plan = with_fee_rate(plan, "0")
    assert extension_quote(plan=plan, days=7).fee == 0


def test_above_the_all_in_cost_ceiling_is_refused(current_plan) -> None:
    plan = with_fee_rate(current_plan, "0.05")
    plan.product.max_apr_percent = D("99.00")
    plan.product.save(update_fields=["max_apr_percent"])
    InstallmentPlan.objects.filter(pk=plan.pk).update(max_all_in_apr_percent=D("11.50"))
    plan.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        extension_quote(plan=plan, days=7)
    assert exc.value.code == "above_cost_ceiling"


# --- refusal reasons -------------------------------------------------------------------------------------


def test_a_current_plan_has_no_refusal(current_plan) -> None:
    assert extension_refusals(current_plan) == []


def test_a_plan_overdue_past_grace_is_refused_with_every_reason(late_plan) -> None:
    refusals = extension_refusals(late_plan)
    assert codes_of(refusals) == {"overdue_beyond_grace", "extension_too_late"}
    with pytest.raises(ExtensionRefused) as exc:
        extension_quote(plan=late_plan, days=7)
    body = exc.value.as_dict()
    assert body["code"] == "extension_not_allowed"
    assert {r["code"] for r in body["reasons"]} == {"overdue_beyond_grace", "extension_too_late"}


def test_too_late_after_the_due_date_and_grace_days(current_plan) -> None:
    due = first(current_plan).due_date
    grace = current_plan.grace_days
    assert extension_refusals(current_plan, today=due + timedelta(days=grace)) == []
    late = codes_of(extension_refusals(current_plan, today=due + timedelta(days=grace + 1)))
    assert late == {"overdue_beyond_grace", "extension_too_late"}
    # An amount under the arrears tolerance is not overdue, but the date has still passed.
    InstallmentPlan.objects.filter(pk=current_plan.pk).update(arrears_tolerance=D("500.00"))
    current_plan.refresh_from_db()
    late = codes_of(extension_refusals(current_plan, today=due + timedelta(days=grace + 1)))
    assert late == {"extension_too_late"}


def test_the_limit_per_plan(current_plan, codes) -> None:
    apply(current_plan, codes)
    current_plan.refresh_from_db()
    assert codes_of(extension_refusals(current_plan)) == {"extension_limit_reached"}
    InstallmentPlan.objects.filter(pk=current_plan.pk).update(extension_max=0, extensions_used=0)
    current_plan.refresh_from_db()
    assert codes_of(extension_refusals(current_plan)) == {"extension_not_offered"}


def test_a_plan_no_longer_active(current_plan) -> None:
    plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=6)
    current_plan.refresh_from_db()
    assert codes_of(extension_refusals(current_plan)) == {"plan_not_active"}


def test_nothing_left_to_pay(current_plan) -> None:
    rows = installment_rows([current_plan.pk])[current_plan.pk]
    for row in rows:
        row.status = InstallmentStatus.PAID
    assert codes_of(extension_refusals(current_plan, installments=rows)) == {"nothing_to_extend"}


# --- the extension -------------------------------------------------------------------------------------


def test_apply_moves_the_due_date_adds_the_fee_and_tells_the_customer(current_plan, codes) -> None:
    plan = with_fee_rate(current_plan, "0.05")
    inst = first(plan)
    due = inst.due_date
    extension = apply(plan, codes, days=7)
    inst.refresh_from_db()
    plan.refresh_from_db()
    assert inst.due_date == due + timedelta(days=7)
    assert inst.fee_due == D("11.00")  # 6.00 + 5.00
    assert inst.status == InstallmentStatus.PENDING
    assert plan.extensions_used == 1
    assert plan.status == PlanStatus.ACTIVE
    assert (extension.days, extension.old_due_date, extension.new_due_date, extension.fee) == (
        7,
        due,
        due + timedelta(days=7),
        D("5.00"),
    )
    entry = JournalEntry.objects.get(key=f"extension:{extension.pk}")
    assert entry.kind == EntryKind.RESCHEDULED
    lines = {(line.account, line.debit, line.credit) for line in entry.lines.all()}
    assert lines == {
        (Account.FEE_RECEIVABLE, D("5.00"), D("0.00")),
        (Account.UNEARNED_FEES, D("0.00"), D("5.00")),
    }
    assert CreditEvent.objects.filter(plan=plan, kind=CreditEventKind.EXTENDED).count() == 1
    sms = Notification.objects.get(user=plan.customer, template_code="plan_extended")
    assert "111.00" in sms.text
    assert "5.00" in sms.text
    assert plan.ceiling_headroom is not None
    assert journal.sub_ledger_gaps([plan.pk]) == {}


def test_the_sms_reads_in_english(current_plan, codes) -> None:
    customer = current_plan.customer
    customer.language = "en"
    customer.save(update_fields=["language"])
    apply(current_plan, codes)
    body = Notification.objects.get(template_code="plan_extended").text
    assert "is now due on" in body
    assert "¥106.00" in body


def test_the_same_key_answers_the_same_extension(current_plan, codes) -> None:
    extension = apply(current_plan, codes, key="same")
    # The code is spent: a double click sends the same key and the same (used) code.
    again = extension_apply(
        plan=current_plan, customer=current_plan.customer, days=7, code="000000", idempotency_key="same"
    )
    assert again.pk == extension.pk
    current_plan.refresh_from_db()
    assert current_plan.extensions_used == 1
    assert first(current_plan).due_date == extension.new_due_date
    assert PlanExtension.objects.count() == 1
    with pytest.raises(ApplicationError) as exc:  # the key names one request
        extension_apply(
            plan=current_plan, customer=current_plan.customer, days=3, code="000000", idempotency_key="same"
        )
    assert exc.value.code == "idempotency_key_reused"


def test_a_wrong_code_extends_nothing(current_plan, codes) -> None:
    codes.request(current_plan.customer, OtpPurpose.EXTENSION)
    with pytest.raises(ApplicationError) as exc:
        extension_apply(
            plan=current_plan, customer=current_plan.customer, days=7, code="000000", idempotency_key="k"
        )
    assert exc.value.code == "otp_invalid"
    assert not PlanExtension.objects.exists()


def test_another_customers_plan_is_not_found(current_plan, other_customer, codes) -> None:
    code = codes.request(other_customer, OtpPurpose.EXTENSION)
    with pytest.raises(ApplicationError) as exc:
        extension_apply(plan=current_plan, customer=other_customer, days=7, code=code, idempotency_key="k")
    assert exc.value.code == "plan_not_found"


def test_refused_while_a_payment_is_in_flight(current_plan, card, codes) -> None:
    Repayment.objects.create(
        customer=current_plan.customer,
        plan=current_plan,
        amount=D("106.00"),
        mode="due_now",
        channel="auto_debit",
        card=card,
        idempotency_key="in-flight",
        status=RepaymentStatus.PENDING,
    )
    with pytest.raises(ApplicationError) as exc:
        apply(current_plan, codes)
    assert exc.value.code == "payment_in_progress"
    assert exc.value.status == 409
    assert not PlanExtension.objects.exists()


def test_a_payment_scheduled_for_the_old_date_moves_with_it(current_plan, card, codes) -> None:
    due = first(current_plan).due_date
    on_due = repayment_create(
        customer=current_plan.customer,
        plan=current_plan,
        mode="due_now",
        card=card,
        channel="web",
        idempotency_key="on-due",
        scheduled_for=due,
    )
    earlier = repayment_create(
        customer=current_plan.customer,
        plan=current_plan,
        mode="custom",
        amount="10.00",
        card=card,
        channel="web",
        idempotency_key="earlier",
        scheduled_for=due - timedelta(days=3),
    )
    extension = apply(current_plan, codes, days=5)
    on_due.refresh_from_db()
    earlier.refresh_from_db()
    assert on_due.scheduled_for == extension.new_due_date
    assert earlier.scheduled_for == due - timedelta(days=3)
    event = RepaymentEvent.objects.get(repayment=on_due, kind="rescheduled")
    assert event.data == {
        "previous_date": due.isoformat(),
        "scheduled_for": extension.new_due_date.isoformat(),
    }
    # On the old date nothing of it runs; on the new one it pays the installment.
    assert repayments_run_scheduled(today=due) == 1  # the earlier one only
    assert repayments_run_scheduled(today=extension.new_due_date) == 1
    on_due.refresh_from_db()
    assert on_due.status == RepaymentStatus.SUCCEEDED
    assert on_due.amount == D("96.00")  # what is due then: 106.00 less the 10.00 paid earlier


def test_extended_within_grace_is_no_longer_overdue_and_pays_no_penalty_for_those_days(
    current_plan, codes
) -> None:
    inst = first(current_plan)
    due = inst.due_date
    grace = current_plan.grace_days
    today = due + timedelta(days=2)
    overdue_sweep(as_of=today)
    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.OVERDUE
    extension = apply(current_plan, codes, days=7, today=today)
    current_plan.refresh_from_db()
    inst.refresh_from_db()
    assert (current_plan.status, current_plan.delinquency_bucket, current_plan.days_past_due) == (
        PlanStatus.ACTIVE,
        DelinquencyBucket.M0,
        0,
    )
    assert inst.status == InstallmentStatus.PENDING
    new_due = extension.new_due_date
    for day in range(3, 7 + grace + 1):
        overdue_sweep(as_of=due + timedelta(days=day))
    inst.refresh_from_db()
    assert inst.penalty_due == 0
    late_day = new_due + timedelta(days=grace + 1)
    overdue_sweep(as_of=late_day)
    inst.refresh_from_db()
    # Charged from the new due date (grace + 1 = 4 days), never from the old one (11 days).
    rate = current_plan.penalty_daily_rate
    four_days = {cost.daily_penalty(base, rate, grace + 1) for base in (D("100.00"), D("106.00"))}
    assert inst.penalty_due in four_days
    assert inst.penalty_due < cost.daily_penalty(D("100.00"), rate, (late_day - due).days)


def test_a_fee_on_an_installment_whose_fee_is_earned_is_earned_at_once(current_plan, codes) -> None:
    plan = with_fee_rate(current_plan, "0.05")
    due = first(plan).due_date
    overdue_sweep(as_of=due)  # the fee falls due: billed
    assert first(plan).fee_billed
    extension = apply(plan, codes, days=7, today=due + timedelta(days=1))
    lines = {
        (line.account, line.credit)
        for line in JournalEntry.objects.get(key=f"extension:{extension.pk}").lines.all()
        if line.credit
    }
    assert lines == {(Account.FEE_INCOME, D("5.00"))}
    assert journal.sub_ledger_gaps([plan.pk]) == {}


# --- the dated APR ---------------------------------------------------------------------------------------


def test_dated_apr_of_a_free_schedule_is_zero() -> None:
    flows = [(date(2026, 2, 1), D("50.00")), (date(2026, 3, 1), D("50.00"))]
    assert cost.dated_apr_percent(D("100.00"), date(2026, 1, 1), flows) == 0


@given(
    principal=st.decimals(min_value=D("100"), max_value=D("50000"), places=2),
    rate=st.decimals(min_value=D("0.001"), max_value=D("0.03"), places=3),
    tenor=st.integers(min_value=1, max_value=24),
)
def test_dated_apr_prices_the_flows_back_to_the_principal(principal, rate, tenor) -> None:
    start = date(2026, 1, 15)
    fee = (principal * rate).quantize(D("0.01"))
    flows = [
        (start + timedelta(days=30 * k), (principal / tenor).quantize(D("0.01")) + fee)
        for k in range(1, tenor + 1)
    ]
    apr = cost.dated_apr_percent(principal, start, flows)
    # At the rate found (rounded to 0.01%) the flows are worth the principal to within that rounding.
    near = cost.ceiling_headroom(principal=principal, purchase_date=start, flows=flows, apr_percent=apr)
    above = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=apr + D("0.01")
    )
    below = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=max(apr - D("0.01"), D(0))
    )
    assert below <= near <= above
    assert above >= 0 or apr == 0
    assert below <= 0 or apr == 0


# --- concurrency (PostgreSQL: real row locks) ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_with_one_key_extends_once(current_plan) -> None:
    customer = current_plan.customer
    results = at_once(
        3,
        lambda _i: _extension_locked(plan_id=current_plan.pk, customer=customer, days=7, idempotency_key="k"),
    )
    assert len({r.pk for r in results}) == 1, results
    current_plan.refresh_from_db()
    assert current_plan.extensions_used == 1
    assert PlanExtension.objects.count() == 1
    assert CreditEvent.objects.filter(plan=current_plan, kind=CreditEventKind.EXTENDED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_keys_at_once_extend_once(current_plan) -> None:
    customer = current_plan.customer
    due = first(current_plan).due_date
    results = at_once(
        2,
        lambda i: _extension_locked(
            plan_id=current_plan.pk, customer=customer, days=7, idempotency_key=f"k{i}"
        ),
    )
    outcomes = sorted("ok" if isinstance(r, PlanExtension) else str(r) for r in results)
    assert outcomes == ["extension_not_allowed", "ok"]
    current_plan.refresh_from_db()
    assert current_plan.extensions_used == 1
    assert first(current_plan).due_date == due + timedelta(days=7)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_with_the_code_extends_once(current_plan, codes) -> None:
    """Two posts of the same form (key and code) at once: the code is spent once, the plan extended once;
    the second answers the first's extension, or at worst the code's refusal, never a second extension."""
    customer = current_plan.customer
    code = codes.request(customer, OtpPurpose.EXTENSION)
    results = at_once(
        2,
        lambda _i: extension_apply(
            plan=current_plan, customer=customer, days=7, code=code, idempotency_key="click"
        ),
    )
    extensions = [r for r in results if isinstance(r, PlanExtension)]
    assert extensions, results
    assert len({e.pk for e in extensions}) == 1
    assert all(isinstance(r, PlanExtension) or str(r).startswith("otp_") for r in results), results
    current_plan.refresh_from_db()
    assert current_plan.extensions_used == 1
    assert PlanExtension.objects.count() == 1

"""二次分期, self-service: eligibility, quotes and moving the balance atomically (ledger checked after)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from installments.models import (
    CreditEvent,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanStatus,
    ReinstallmentFeeTreatment,
)
from installments.schedules import FeeMethod, build_schedule
from installments.services import (
    overdue_sweep,
    plan_create,
    plan_restage,
    restage_balance,
    restage_quote,
    restage_refusals,
)
from installments.signals import plan_changed
from tests.schedule_dates import first_due_on, purchase_due_on

TODAY = timezone.localdate


def codes_of(plan: InstallmentPlan) -> list[str]:
    plan.refresh_from_db()
    return [r.code for r in restage_refusals(plan)]


# --- eligibility --------------------------------------------------------------------------------------


def test_current_plan_is_eligible(current_plan) -> None:
    assert codes_of(current_plan) == []


def test_refused_when_the_product_does_not_offer_it(current_plan) -> None:
    current_plan.product.restage_allowed = False
    current_plan.product.save()
    assert codes_of(current_plan) == ["reinstallment_not_offered"]
    with pytest.raises(ApplicationError) as exc:
        plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=12)
    assert exc.value.code == "reinstallment_not_offered"


def test_refused_when_the_plan_is_not_active(current_plan) -> None:
    InstallmentPlan.objects.filter(pk=current_plan.pk).update(status=PlanStatus.CANCELLED)
    assert "plan_not_active" in codes_of(current_plan)


def test_refused_when_overdue_beyond_grace(overdue_plan) -> None:
    assert codes_of(overdue_plan) == ["overdue_beyond_grace"]
    with pytest.raises(ApplicationError) as exc:
        restage_quote(plan=overdue_plan)
    assert exc.value.code == "overdue_beyond_grace"
    assert exc.value.status == 422


def test_overdue_within_grace_is_still_eligible(customer, flat_product) -> None:
    # Bought so that the first installment fell due two days ago (the grace is three days).
    two_days_ago = TODAY() - timedelta(days=2)
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=purchase_due_on(two_days_ago),
    )
    first_due_on(plan, two_days_ago)
    overdue_sweep(as_of=TODAY())
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    assert codes_of(plan) == []


def test_refused_after_the_product_limit(current_plan) -> None:
    secondary = plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=12)
    assert codes_of(secondary) == ["restage_limit_reached"]
    secondary.product.restage_max_times = 2
    secondary.product.save()
    assert codes_of(secondary) == []


def test_refused_below_the_minimum_principal(current_plan) -> None:
    current_plan.product.restage_min_principal = Decimal("1200.01")
    current_plan.product.save()
    assert codes_of(current_plan) == ["principal_below_minimum"]


# --- quotes -------------------------------------------------------------------------------------------


def test_quote_matches_the_schedule_math_and_writes_nothing(current_plan) -> None:
    plans_before = InstallmentPlan.objects.count()
    quote = restage_quote(plan=current_plan)
    product = current_plan.product
    # Nothing billed yet: the principal moves, the 12 future fees of 6.00 are waived.
    assert quote.balance.principal == Decimal("1200.00")
    assert quote.balance.waived_fees == Decimal("72.00")
    assert quote.balance.new_principal == Decimal("1200.00")
    # 12 installments at 107.20 cost 14.40 more than keeping 12 at 106.00: left out.
    assert [o.tenor for o in quote.options] == [6, 24]
    assert [o.tenor for o in quote.dropped] == [12]
    for option in quote.options + quote.dropped:
        expected = build_schedule(
            fee_method=FeeMethod.FLAT_FEE,
            principal=Decimal("1200.00"),
            tenor=option.tenor,
            rate=product.restage_fee_rate,
            purchase_date=TODAY(),
        )
        assert option.schedule == expected
        assert option.total_fee == expected.total_fee
        assert option.apr_percent == expected.apr_percent
        assert option.available
    # Keeping the current plan, for the comparison.
    assert quote.current.next_payment == Decimal("106.00")
    assert quote.current.total_cost == Decimal("1272.00")
    assert quote.current.remaining_installments == 12
    assert InstallmentPlan.objects.count() == plans_before


def test_quote_capitalizing_fees_moves_them_into_the_principal(current_plan) -> None:
    current_plan.product.restage_fee_treatment = ReinstallmentFeeTreatment.CAPITALIZE_FEES
    current_plan.product.save()
    quote = restage_quote(plan=current_plan)
    assert quote.balance.waived == Decimal("0.00")
    assert quote.balance.new_principal == Decimal("1272.00")


def test_tenors_above_the_maximum_apr_are_shown_unavailable(current_plan) -> None:
    product = current_plan.product
    product.restage_fee_rate = Decimal("0.015")  # about 33% APR on 6 periods
    product.save()
    quote = restage_quote(plan=current_plan)
    assert any(not o.available for o in quote.options)
    for option in quote.options:
        assert option.available == (option.apr_percent <= product.max_apr_percent)
        assert bool(option.reason) != option.available
    refused = next(o for o in quote.options if not o.available)
    with pytest.raises(ApplicationError) as exc:
        plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=refused.tenor)
    assert exc.value.code == "apr_above_maximum"


# --- apply --------------------------------------------------------------------------------------------


def test_apply_is_atomic_when_a_step_fails_half_way(current_plan) -> None:
    def explode(**kwargs) -> None:
        raise RuntimeError("injected after the new plan was written")

    plan_changed.connect(explode, dispatch_uid="test-explode")
    try:
        with pytest.raises(RuntimeError):
            plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=12)
    finally:
        plan_changed.disconnect(dispatch_uid="test-explode")
    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.ACTIVE
    assert set(current_plan.installments.values_list("status", flat=True)) == {InstallmentStatus.PENDING}
    assert not current_plan.installments.filter(fee_waived__gt=0).exists()
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()
    assert not CreditEvent.objects.filter(plan=current_plan).exists()


def test_another_customers_plan_is_not_found(current_plan, other_customer) -> None:
    with pytest.raises(ApplicationError) as exc:
        plan_restage(customer=other_customer, plan_id=current_plan.pk, tenor=12)
    assert exc.value.code == "plan_not_found"
    assert exc.value.status == 404


def test_tenor_not_offered(current_plan) -> None:
    with pytest.raises(ApplicationError) as exc:
        plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=7)
    assert exc.value.code == "tenor_not_offered"


# --- the money math, as a property --------------------------------------------------------------------

money = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("5000.00"), places=2)


@st.composite
def open_installments(draw) -> list[Installment]:
    count = draw(st.integers(min_value=1, max_value=24))
    rows = []
    for seq in range(1, count + 1):
        principal, fee, penalty = draw(money), draw(money), draw(money)
        rows.append(
            Installment(
                sequence=seq,
                due_date=date(2026, 1, 15) + timedelta(days=30 * seq),
                principal_due=principal,
                fee_due=fee,
                penalty_due=penalty,
                principal_paid=draw(st.decimals(min_value=0, max_value=principal, places=2)),
                fee_paid=draw(st.decimals(min_value=0, max_value=fee, places=2)),
                penalty_paid=draw(st.decimals(min_value=0, max_value=penalty, places=2)),
            )
        )
    return rows


@settings(max_examples=200, deadline=None)
@given(
    installments=open_installments(),
    today_offset=st.integers(min_value=0, max_value=800),
    treatment=st.sampled_from(ReinstallmentFeeTreatment.values),
    waiver=money,
)
def test_outstanding_equals_new_principal_plus_waived(installments, today_offset, treatment, waiver) -> None:
    today = date(2026, 1, 15) + timedelta(days=today_offset)
    balance = restage_balance(installments, today=today, fee_treatment=treatment, penalty_waiver=waiver)
    outstanding = sum((i.outstanding for i in installments), Decimal("0.00"))
    assert balance.outstanding == outstanding
    assert balance.new_principal + balance.waived == outstanding
    assert Decimal("0.00") <= balance.waived_penalties <= balance.penalties
    assert balance.waived_fees <= balance.fees
    if treatment == ReinstallmentFeeTreatment.CAPITALIZE_FEES:
        assert balance.waived_fees == 0
    if balance.new_principal > 0:
        schedule = build_schedule(
            fee_method=FeeMethod.FLAT_FEE,
            principal=balance.new_principal,
            tenor=12,
            rate=Decimal("0.006"),
            purchase_date=today,
        )
        assert sum(r.principal for r in schedule.rows) == balance.new_principal

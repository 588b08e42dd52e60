"""The overdue sweep under the fair-cost rules (issue 20): penalty base, cap, all-in cost ceiling, arrears
tolerance and hardship freezes; the penalty_capped SMS; check_ledger's rules for them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from installments import cost
from installments.ledger import headroom_recompute
from installments.models import (
    CreditEvent,
    FreezeReason,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PenaltyBase,
    PlanFreeze,
    PlanStatus,
)
from installments.services import overdue_sweep, plan_create
from notifications.messages import TEMPLATE_NAMES, get_template, render_message
from notifications.models import Notification
from repayments.ledger import ledger_breaches
from repayments.models import RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.selectors import customer_bills
from repayments.services import repayment_create, run_daily

PURCHASE = date(2025, 1, 10)
D = date(2025, 2, 10)  # the first due date


def make_plan(customer, product, **terms) -> InstallmentPlan:
    """¥1,200 over 12 periods at 0.5% flat: 100.00 principal + 6.00 fee a month."""
    for name, value in terms.items():
        setattr(product, name, value)
    product.save()
    return plan_create(
        customer=customer, product=product, principal="1200.00", tenor=12, purchase_date=PURCHASE
    )


def first(plan: InstallmentPlan) -> Installment:
    return plan.installments.get(sequence=1)


def fresh(plan: InstallmentPlan) -> InstallmentPlan:
    return InstallmentPlan.objects.get(pk=plan.pk)


def day(n: int) -> date:
    return D + timedelta(days=n)


def test_penalty_base_principal_or_principal_and_fee(customer, flat_product) -> None:
    on_principal = make_plan(customer, flat_product, penalty_base=PenaltyBase.PRINCIPAL)
    flat_product.code = "other"
    on_both = make_plan(customer, flat_product, penalty_base=PenaltyBase.PRINCIPAL_FEE)
    overdue_sweep(as_of=day(4))
    # 0.0005 x 100.00 x 4 = 0.20 on principal; 0.0005 x 106.00 x 4 = 0.212 -> 0.21 with the fee.
    assert first(on_principal).penalty_due == Decimal("0.20")
    assert first(on_both).penalty_due == Decimal("0.21")
    assert fresh(on_principal).penalty_total == Decimal("0.20")
    assert fresh(on_both).penalty_total == Decimal("0.21")
    # Never on penalty: the next day charges 0.0005 x 100.00 again, not on 100.20.
    overdue_sweep(as_of=day(5))
    assert first(on_principal).penalty_due == Decimal("0.25")


def test_the_cap_stops_accrual_for_good_with_one_sms(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product, penalty_cap_percent=Decimal("1.00"))
    assert plan.penalty_cap_amount == Decimal("12.00")
    overdue_sweep(as_of=day(4))
    overdue_sweep(as_of=day(100))
    plan = fresh(plan)
    assert plan.penalty_capped_on is None
    assert plan.penalty_total < Decimal("12.00")
    before = plan.penalty_total
    result = overdue_sweep(as_of=day(200))
    plan = fresh(plan)
    assert result.plans_capped == 1
    assert plan.penalty_capped_on == day(200)
    assert plan.penalty_total == Decimal("12.00")  # what was asked passed the room: the rest of the room
    assert result.penalty_amount == Decimal("12.00") - before
    assert sum(i.penalty_due for i in plan.installments.all()) == Decimal("12.00")
    assert plan.ceiling_headroom >= 0
    # Never again, whatever the days.
    assert overdue_sweep(as_of=day(300)).penalty_amount == Decimal("0.00")
    assert fresh(plan).penalty_total == Decimal("12.00")
    sms = Notification.objects.filter(template_code="penalty_capped")
    assert sms.count() == 1
    assert "12.00" in sms.get().text
    assert plan.display_name in sms.get().text
    assert sms.get().dedupe_key == f"penalty_capped:{plan.public_id}"
    overdue_sweep(as_of=day(200))  # a re-run of the capping day sends nothing more
    assert sms.count() == 1


def test_penalty_capped_sms_in_both_languages() -> None:
    template = get_template("penalty_capped")
    assert "penalty_capped" in TEMPLATE_NAMES
    zh = render_message(
        template, language="zh-hans", context={"plan": "白条", "total": Decimal("300.00"), "name": "张*"}
    )
    en = render_message(
        template, language="en", context={"plan": "Baitiao", "total": Decimal("300.00"), "name": "Z*"}
    )
    assert "违约金已达上限" in zh
    assert "300.00" in zh
    assert "cap" in en
    assert "300.00" in en


def test_room_is_shared_oldest_first(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    # 75 days after D: installments 1 (75 days) and 2 (~47 days) are late; leave 3.00 under the cap.
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_cap_amount=Decimal("3.00"))
    overdue_sweep(as_of=day(75))
    one, two = plan.installments.filter(sequence__in=[1, 2]).order_by("sequence")
    asked_one = cost.daily_penalty(Decimal("106.00"), Decimal("0.0005"), 75)  # 3.975 -> 3.98 > 3.00
    assert asked_one > Decimal("3.00")
    assert (one.penalty_due, two.penalty_due) == (Decimal("3.00"), Decimal("0.00"))
    assert two.status == InstallmentStatus.OVERDUE
    assert two.penalty_accrued_through == day(75)
    assert fresh(plan).penalty_capped_on == day(75)


def test_the_ceiling_holds_each_day_to_cost_py(customer, flat_product) -> None:
    # A ceiling just above the schedule's own cost: little room, so the ceiling binds before the cap.
    plan = make_plan(customer, flat_product, max_all_in_apr_percent=Decimal("11.50"))
    assert Decimal("0") < plan.ceiling_headroom < Decimal("10")
    for n in range(4, 400, 9):
        before = fresh(plan)
        if before.penalty_capped_on:
            break
        result = overdue_sweep(as_of=day(n))
        after = fresh(plan)
        room = min(
            before.penalty_cap_amount - before.penalty_total,
            cost.ceiling_room(
                headroom=before.ceiling_headroom,
                apr_percent=before.max_all_in_apr_percent,
                purchase_date=PURCHASE,
                on=day(n),
            ),
        )
        assert result.penalty_amount <= room
        assert after.penalty_total == before.penalty_total + result.penalty_amount
        if result.penalty_amount:
            assert after.ceiling_headroom == cost.headroom_after(
                headroom=before.ceiling_headroom,
                amount=result.penalty_amount,
                apr_percent=before.max_all_in_apr_percent,
                purchase_date=PURCHASE,
                on=day(n),
            )
        assert after.ceiling_headroom >= 0
    plan = fresh(plan)
    assert plan.penalty_capped_on is not None
    assert plan.penalty_total < plan.penalty_cap_amount  # the ceiling stopped it, not the cap
    assert headroom_recompute(plan.pk) >= 0  # the realised dated cost is within the ceiling


def test_a_schedule_dearer_than_the_ceiling_accrues_nothing(customer, flat_product) -> None:
    """No new plan is dearer than its ceiling (the quote refuses it), but a plan made before the ceiling
    existed can be: it gets no penalty at all."""
    plan = make_plan(customer, flat_product)
    InstallmentPlan.objects.filter(pk=plan.pk).update(max_all_in_apr_percent=Decimal("5.00"))
    assert headroom_recompute(plan.pk) < 0
    result = overdue_sweep(as_of=day(10))
    assert (result.penalty_amount, result.plans_capped) == (Decimal("0.00"), 1)
    assert fresh(plan).penalty_total == Decimal("0.00")


def test_a_plan_capped_before_never_accrues(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_capped_on=D)
    result = overdue_sweep(as_of=day(30))
    assert result.marked_overdue == 2
    assert result.penalty_amount == Decimal("0.00")
    assert first(plan).penalty_due == 0
    assert first(plan).status == InstallmentStatus.OVERDUE


def test_missing_headroom_is_computed_before_charging(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    expected = plan.ceiling_headroom
    InstallmentPlan.objects.filter(pk=plan.pk).update(ceiling_headroom=None)
    result = overdue_sweep(as_of=day(4))
    assert result.headrooms_computed == 1
    assert fresh(plan).ceiling_headroom == cost.headroom_after(
        headroom=expected,
        amount=Decimal("0.21"),
        apr_percent=Decimal("24.00"),
        purchase_date=PURCHASE,
        on=day(4),
    )
    assert overdue_sweep(as_of=day(5)).headrooms_computed == 0  # a normal day computes none


def _pay(customer, plan, card, amount: str, key: str) -> None:
    repayment = repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.CUSTOM,
        channel=RepaymentChannel.WEB,
        idempotency_key=key,
        amount=amount,
        card=card,
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED


def test_within_the_arrears_tolerance_an_installment_is_not_late(customer, current_plan, card) -> None:
    plan = current_plan
    inst = first(plan)
    _pay(customer, plan, card, str(inst.outstanding - Decimal("0.60")), "tol-1")  # 0.60 left open
    result = overdue_sweep(as_of=inst.due_date + timedelta(days=10))
    inst = first(plan)
    assert result.marked_overdue == 0
    assert (inst.status, inst.penalty_due) == (InstallmentStatus.PENDING, Decimal("0.00"))
    assert inst.outstanding == Decimal("0.60")  # still due
    assert fresh(plan).status == PlanStatus.ACTIVE
    assert not CreditEvent.objects.filter(plan=plan).exists()
    # The customer's bill still asks for it (due now), and no overdue SMS names it.
    [bill] = customer_bills(customer=customer, today=inst.due_date + timedelta(days=10))
    assert bill.due_now == Decimal("0.60")
    assert not Notification.objects.filter(template_code__startswith="overdue").exists()


def test_an_overdue_installment_paid_down_to_the_tolerance_is_due_again(customer, late_plan, card) -> None:
    plan = late_plan
    assert fresh(plan).status == PlanStatus.OVERDUE
    owed = sum(i.outstanding for i in plan.installments.filter(status=InstallmentStatus.OVERDUE))
    _pay(customer, plan, card, str(owed - Decimal("1.00")), "tol-2")  # 1.00 left: at the tolerance
    result = overdue_sweep(as_of=timezone.localdate() + timedelta(days=1))
    assert result.back_to_pending == 1
    assert not plan.installments.filter(status=InstallmentStatus.OVERDUE).exists()
    plan = fresh(plan)
    assert (plan.status, plan.delinquency_bucket, plan.days_past_due) == (PlanStatus.ACTIVE, "M0", 0)
    assert CreditEvent.objects.filter(plan=plan, kind="cured").exists()


def freeze(plan: InstallmentPlan, start: date, end: date, ended: date | None = None) -> PlanFreeze:
    return PlanFreeze.objects.create(
        plan=plan,
        reason=FreezeReason.HARDSHIP_CASE,
        self_started=False,
        started_on=start,
        planned_end=end,
        ended_on=ended,
        end_reason="staff" if ended else "",
    )


def test_frozen_days_are_never_charged_and_do_not_age_the_plan(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    overdue_sweep(as_of=day(4))  # 0.21 for days 1-4
    freeze(plan, day(6), day(16))  # days 6..15 frozen (10 days)
    overdue_sweep(as_of=day(5))  # +0.05
    assert first(plan).penalty_due == Decimal("0.26")
    result = overdue_sweep(as_of=day(10))  # frozen: nothing, but the days are passed
    assert result.penalty_amount == Decimal("0.00")
    assert first(plan).penalty_accrued_through == day(10)
    assert fresh(plan).days_past_due == 5  # 10 days less 5 frozen
    overdue_sweep(as_of=day(20))  # days 16..20 charged: 5 x 0.053 = 0.265 -> 0.27
    assert first(plan).penalty_due == Decimal("0.53")
    assert fresh(plan).days_past_due == 10


def test_a_catch_up_charge_skips_frozen_days(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    freeze(plan, day(2), day(30), ended=day(12))  # days 2..11 frozen (10 days), ended early
    overdue_sweep(as_of=day(20))
    # 20 days less 10 frozen = 10 days: 0.0005 x 106 x 10 = 0.53.
    assert first(plan).penalty_due == Decimal("0.53")
    assert fresh(plan).days_past_due == 10


def test_grace_counts_only_days_not_frozen(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    freeze(plan, D, day(10))  # frozen from the due date: days 1..9
    overdue_sweep(as_of=day(11))  # 2 days not frozen: within the 3 grace days
    inst = first(plan)
    assert (inst.status, inst.penalty_due) == (InstallmentStatus.OVERDUE, Decimal("0.00"))
    plan = fresh(plan)
    assert (plan.days_past_due, plan.delinquency_bucket) == (2, "M1")
    overdue_sweep(as_of=day(13))  # 4 days not frozen: charged for those 4
    assert first(plan).penalty_due == Decimal("0.21")


def test_a_plan_frozen_from_its_due_date_is_late_but_does_not_age(customer, flat_product) -> None:
    plan = make_plan(customer, flat_product)
    freeze(plan, day(1), day(20))
    for n in (1, 2, 3, 10):
        overdue_sweep(as_of=day(n))
        assert fresh(plan).days_past_due == 1
    assert CreditEvent.objects.filter(plan=plan, kind="became_late").count() == 1


# --- check_ledger's rules ------------------------------------------------------------------------------


@pytest.fixture
def charged_plan(customer, flat_product) -> InstallmentPlan:
    plan = make_plan(customer, flat_product)
    overdue_sweep(as_of=day(30))
    plan = fresh(plan)
    assert plan.penalty_total > 0
    assert list(ledger_breaches()) == []
    return plan


@pytest.mark.ledger_corrupted
def test_check_ledger_penalty_over_the_cap(charged_plan) -> None:
    InstallmentPlan.objects.filter(pk=charged_plan.pk).update(penalty_cap_amount=Decimal("0.50"))
    assert any("over its cap" in p for p in ledger_breaches())


@pytest.mark.ledger_corrupted
def test_check_ledger_penalty_total_differs_from_installments(charged_plan) -> None:
    InstallmentPlan.objects.filter(pk=charged_plan.pk).update(penalty_total=Decimal("0.01"))
    assert any("its installments'" in p for p in ledger_breaches())


@pytest.mark.ledger_corrupted
def test_check_ledger_negative_headroom_with_penalty(charged_plan) -> None:
    InstallmentPlan.objects.filter(pk=charged_plan.pk).update(ceiling_headroom=Decimal("-0.00000001"))
    assert any("under its cost ceiling" in p for p in ledger_breaches())


@pytest.mark.ledger_corrupted
def test_check_ledger_realised_cost_over_the_ceiling(charged_plan) -> None:
    # The plan's terms say a ceiling its schedule plus penalties already pass (as if charged beyond it).
    InstallmentPlan.objects.filter(pk=charged_plan.pk).update(max_all_in_apr_percent=Decimal("10.00"))
    assert any("dated cost with penalties is over" in p for p in ledger_breaches())


# --- 400 days of the daily run ---------------------------------------------------------------------------


def test_a_plan_left_unpaid_400_days_stops_at_its_cap_with_one_sms(customer, flat_product) -> None:
    # Not charged off within the run (the charge-off would stop the sweep first), a cap the penalty reaches.
    plan = make_plan(
        customer,
        flat_product,
        penalty_cap_percent=Decimal("10.00"),
        max_all_in_apr_percent=Decimal("36.00"),
        charge_off_after_days=999,
    )
    assert plan.penalty_cap_amount == Decimal("120.00")
    totals = []
    for n in range(400):
        report = run_daily(business_date=D + timedelta(days=n))
        assert report.breaches == [], (n, report.breaches)
        totals.append(fresh(plan).penalty_total)
    plan = fresh(plan)
    assert plan.penalty_capped_on is not None
    capped_day = (plan.penalty_capped_on - D).days
    assert plan.penalty_total == Decimal("120.00")
    assert totals[capped_day] == Decimal("120.00")
    assert totals[capped_day - 1] < Decimal("120.00")
    assert set(totals[capped_day:]) == {Decimal("120.00")}  # nothing after, for the rest of the 400 days
    assert Notification.objects.filter(template_code="penalty_capped", user=customer).count() == 1
    assert list(ledger_breaches()) == []

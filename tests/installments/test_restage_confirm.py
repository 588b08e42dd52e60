"""二次分期 on the web (issue 18, item 7): the extra cost of each option, options that only cost more left
out, the fee text from the quote's own numbers, and the confirmation step with an SMS code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import OneTimeCode, OtpPurpose
from core.errors import ApplicationError
from installments.models import InstallmentPlan
from installments.schedules import FeeMethod, build_schedule
from installments.services import plan_restage_confirmed, restage_quote
from installments.services.restaging import CurrentPlanSummary, RestageOption, only_costs_more


def text(response) -> str:
    return response.content.decode()


def test_extra_cost_is_total_of_the_option_minus_total_left(current_plan) -> None:
    # current_plan: 1,200.00 over 12 at 0.5%, 106.00 a month, 1,272.00 left (72.00 of future fees, waived).
    # Re-staged at 0.6% a period on 1,200.00:  6 -> 43.20 fee, 1,243.20 (28.80 less);
    # 12 -> 86.40 fee, 1,286.40 at 107.20 a month (14.40 more, no lower payment: left out);
    # 24 -> 172.80 fee, 1,372.80 at 57.20 a month (100.80 more).
    quote = restage_quote(plan=current_plan)
    assert quote.current.total_cost == Decimal("1272.00")
    assert {o.tenor: o.extra_cost for o in quote.options} == {6: Decimal("-28.80"), 24: Decimal("100.80")}
    assert [(o.tenor, o.extra_cost, o.monthly_payment) for o in quote.dropped] == [
        (12, Decimal("14.40"), Decimal("107.20"))
    ]


def test_the_page_shows_the_extra_cost_and_leaves_out_options_that_only_cost_more(
    signed_in, current_plan
) -> None:
    page = text(signed_in.get(reverse("installments:restage", args=[current_plan.public_id])))
    assert 'data-tenor="24"' in page
    assert 'data-tenor="6"' in page
    assert 'data-tenor="12"' not in page
    assert 'id="restage-dropped"' in page
    assert "¥100.80" in page
    assert 'data-extra="100.80"' in page
    assert 'data-extra="-28.80"' in page
    assert "¥28.80" in page
    # The text takes its figures from the quote: 1,272.00 left, 72.00 of fees not carried, 1,200.00 moves.
    balance = page.split('id="restage-balance"')[1].split("</p>")[0]
    assert "¥1,272.00" in balance
    assert "¥72.00" in balance
    assert "¥1,200.00" in balance


def test_the_page_reads_in_chinese(signed_in, current_plan) -> None:
    signed_in.cookies["django_language"] = "zh-hans"
    page = text(
        signed_in.get(
            reverse("installments:restage", args=[current_plan.public_id]), HTTP_ACCEPT_LANGUAGE="zh-hans"
        )
    )
    assert "比原计划多付 ¥100.80" in page


def test_a_dropped_option_cannot_be_confirmed(customer, current_plan, codes) -> None:
    code = codes.request(customer, OtpPurpose.RESTAGE)
    with pytest.raises(ApplicationError) as exc:
        plan_restage_confirmed(customer=customer, plan_id=current_plan.pk, tenor=12, otp_code=code)
    assert exc.value.code == "tenor_not_offered"
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()


def test_choosing_shows_the_terms_and_asks_for_a_code(signed_in, current_plan) -> None:
    url = reverse("installments:restage", args=[current_plan.public_id])
    page = text(signed_in.post(url, {"action": "choose", "tenor": "24"}))
    terms = page.split('id="restage-terms"')[1]
    assert "¥1,372.80" in terms  # total to pay
    assert "¥172.80" in terms  # fee
    assert "¥100.80" in terms  # more than keeping the plan
    assert terms.count("¥57.20") == 24  # the schedule, every row
    assert 'name="code"' in page
    assert 'value="send_code"' in page
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()


def test_confirm_without_a_code_or_with_a_wrong_one_restages_nothing(
    signed_in, customer, current_plan, codes
) -> None:
    url = reverse("installments:restage", args=[current_plan.public_id])
    response = signed_in.post(url, {"action": "confirm", "tenor": "24", "code": ""})
    assert response.status_code == 200
    assert 'id="restage-terms"' in text(response)
    signed_in.post(url, {"action": "send_code", "tenor": "24", "code": ""})
    right = codes.codes[-1]
    wrong = "000000" if right != "000000" else "111111"
    response = signed_in.post(url, {"action": "confirm", "tenor": "24", "code": wrong})
    assert response.status_code == 200
    assert 'class="error"' in text(response)
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()
    assert OneTimeCode.objects.get(user=customer, purpose=OtpPurpose.RESTAGE).attempts == 1
    response = signed_in.post(url, {"action": "confirm", "tenor": "24", "code": right})
    assert response.status_code == 302
    assert InstallmentPlan.objects.get(source_plan=current_plan).tenor == 24


def test_send_code_keeps_the_chosen_option_and_anchors_the_code_field(signed_in, current_plan, codes) -> None:
    url = reverse("installments:restage", args=[current_plan.public_id])
    response = signed_in.post(url, {"action": "send_code", "tenor": "6", "code": ""})
    assert response.status_code == 200  # no redirect: the page comes back as it was
    page = text(response)
    assert 'data-tenor="6"' in page
    assert 'name="tenor" value="6"' in page
    assert 'formaction="' + url + '#code-field"' in page
    assert "data-sent" in page
    assert len(codes.codes) == 1
    # The script's request gets JSON and no page.
    OneTimeCode.objects.update(created_at=OneTimeCode.objects.get().created_at.replace(year=2000))
    answer = signed_in.post(
        url, {"action": "send_code", "tenor": "6"}, headers={"X-Requested-With": "fetch"}
    ).json()
    assert answer["ok"] is True
    assert len(codes.codes) == 2


def test_an_overdue_plan_shows_why_and_the_alternative(signed_in, overdue_plan) -> None:
    plan_page = text(signed_in.get(reverse("repayments:plan", args=[overdue_plan.public_id])))
    # The plan page says why before any click, and leads to 协商还款 instead of a refusal page.
    assert 'id="restage-unavailable"' in plan_page
    assert reverse("installments:restage", args=[overdue_plan.public_id]) not in plan_page
    assert reverse("installments:negotiate", args=[overdue_plan.public_id]) in plan_page


@settings(max_examples=60, deadline=None)
@given(
    principal=st.integers(min_value=10_000, max_value=5_000_000).map(lambda c: Decimal(c) / 100),
    tenor=st.sampled_from([3, 6, 12, 24]),
    remaining=st.integers(min_value=1, max_value=24),
    rate=st.integers(min_value=0, max_value=200).map(lambda r: Decimal(r) / 10_000),
    current_total=st.integers(min_value=10_000, max_value=6_000_000).map(lambda c: Decimal(c) / 100),
)
def test_only_costs_more_is_exactly_more_money_and_no_lower_payment(
    principal, tenor, remaining, rate, current_total
) -> None:
    schedule = build_schedule(
        fee_method=FeeMethod.FLAT_FEE,
        principal=principal,
        tenor=tenor,
        rate=rate,
        purchase_date=date(2026, 11, 30),
    )
    current = CurrentPlanSummary(Decimal("0"), remaining, current_total, None)
    option = RestageOption(
        tenor=tenor, schedule=schedule, available=True, extra_cost=schedule.total_repayment - current_total
    )
    assert option.extra_cost + current_total == sum((r.total for r in schedule.rows), Decimal("0"))
    dropped = only_costs_more(option, current)
    assert dropped == (
        option.extra_cost > 0 and max(r.total for r in schedule.rows) >= current.average_payment
    )
    if option.extra_cost <= 0:
        assert not dropped  # an option that saves money is always shown

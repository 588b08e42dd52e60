"""我的账户's "the card will not cover the next debit" banner (issue 18, item 1), from what we know: the
card's latest debit failed for insufficient funds, nothing succeeded on it since, and a debit is coming."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import OtpPurpose
from installments.models import InstallmentPlan
from installments.services import plan_create
from repayments.selectors import card_shortfalls, customer_bills
from repayments.services import autodebit_set, debit_run_inline, repayment_create
from simulators.bank import simulator_set_balance
from tests.cards import CMB_DEBIT
from tests.schedule_dates import first_due_on, purchase_due_on

D = Decimal


def _plan_due_on(customer, product, day, ref: str) -> InstallmentPlan:
    plan = plan_create(
        customer=customer,
        product=product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=purchase_due_on(day),
        merchant_order_ref=ref,
    )
    return first_due_on(plan, day)


@pytest.fixture
def failed_card(customer, card, flat_product):
    """Plan DUE-NOW (106.00 due today) was debited from ``card`` holding 50.00: insufficient funds. Plan
    SOON (106.00 due in 5 days) and plan LATER (in 20 days) are paid by the same card."""
    today = timezone.localdate()
    plans = {
        "now": _plan_due_on(customer, flat_product, today, "DUE-NOW"),
        "soon": _plan_due_on(customer, flat_product, today + timedelta(days=5), "SOON"),
        "later": _plan_due_on(customer, flat_product, today + timedelta(days=20), "LATER"),
    }
    for plan in plans.values():
        autodebit_set(customer=customer, plan=plan, enabled=True, card=card)
    simulator_set_balance(card.gateway_token, D("50.00"))
    run = debit_run_inline(business_date=today, slot=1)
    assert run.attempts == 1
    return plans


def _banners(client, language: str) -> list[str]:
    html = client.get(reverse("repayments:account"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    return [part.split("</div>")[0] for part in html.split('data-banner="card-shortfall"')[1:]]


def test_the_selector_names_the_due_debit_and_the_coming_one(customer, card, failed_card) -> None:
    today = timezone.localdate()
    shortfalls = card_shortfalls(bills=customer_bills(customer=customer), today=today)
    assert [(s.plan.merchant_order_ref, s.amount, s.debit_date) for s in shortfalls] == [
        ("DUE-NOW", D("106.00"), None),
        ("SOON", D("106.00"), today + timedelta(days=5)),
    ]  # LATER's debit is beyond the 7 days
    assert {s.card.pk for s in shortfalls} == {card.pk}
    longer = card_shortfalls(bills=customer_bills(customer=customer), today=today, days=30)
    assert "LATER" in [s.plan.merchant_order_ref for s in longer]


def test_the_banner_in_both_languages_with_its_links(signed_in, customer, card, failed_card) -> None:
    due = timezone.localdate() + timedelta(days=5)
    zh_now, zh_soon = _banners(signed_in, "zh-hans")
    assert f"尾号{card.last4} 上次扣款因余额不足失败" in zh_soon
    assert f"下次扣款 ¥106.00 将于 {due.month:02d}月{due.day}日 进行" in zh_soon
    assert "请存入足够金额或更换扣款卡" in zh_soon
    assert reverse("repayments:plan", args=[failed_card["soon"].public_id]) + "#autodebit" in zh_soon
    assert reverse("repayments:pay", args=[failed_card["soon"].public_id]) in zh_soon
    assert "DUE-NOW" in zh_now
    assert "已到期" in zh_now
    customer.language = "en"
    customer.save(update_fields=["language"])
    en_now, en_soon = _banners(signed_in, "en")
    assert f"The last debit from card ending {card.last4} failed for insufficient funds" in en_soon
    assert "the next debit of ¥106.00 is on" in en_soon
    assert "is due now" in en_now


def test_a_payment_that_succeeds_on_the_card_clears_the_banner(
    signed_in, customer, card, failed_card
) -> None:
    simulator_set_balance(card.gateway_token, D("1000.00"))
    repayment_create(
        customer=customer,
        plan=failed_card["now"],
        mode="due_now",
        card=card,
        channel="web",
        idempotency_key="topped-up",
    )
    assert _banners(signed_in, "zh-hans") == []


def test_no_banner_for_a_card_whose_last_debit_succeeded_or_failed_otherwise(
    signed_in, customer, card, flat_product
) -> None:
    today = timezone.localdate()
    plan = _plan_due_on(customer, flat_product, today, "PAID")
    autodebit_set(customer=customer, plan=plan, enabled=True, card=card)
    simulator_set_balance(card.gateway_token, D("1000.00"))
    debit_run_inline(business_date=today, slot=1)
    assert _banners(signed_in, "zh-hans") == []
    assert card_shortfalls(bills=customer_bills(customer=customer), today=today) == []


def test_no_banner_once_autodebit_moves_to_another_card(
    signed_in, customer, card, failed_card, bind, codes
) -> None:
    other = bind(customer, CMB_DEBIT)
    for plan in failed_card.values():
        autodebit_set(
            customer=customer,
            plan=plan,
            enabled=True,
            card=other,
            otp_code=codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD),
        )
    assert _banners(signed_in, "zh-hans") == []

"""我的账户 as the home: 本期应还 with one 立即还款, the negotiation banners and auto-debit per plan, in
both languages (issue 18, item 1)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from installments.models import Installment
from installments.services import negotiation_request_info, negotiation_start_review, plan_create
from repayments.services.mandates import autodebit_set
from tests.installments.negotiation_support import apply, offered

ZH, EN = "zh-hans", "en"
BOTH = pytest.mark.parametrize("language", [ZH, EN])


def page(client, language: str) -> str:
    """The page in the account's language, chosen with the switch (the browser asks for the other one)."""
    client.post(reverse("accounts:language"), {"language": language})
    other = "en" if language == ZH else ZH
    response = client.get(reverse("repayments:account"), HTTP_ACCEPT_LANGUAGE=other)
    assert response.status_code == 200
    return response.content.decode()


def due_line(html: str) -> str:
    """The 本期应还 line as text, whitespace collapsed."""
    match = re.search(r'<p class="due-line">(.*?)</p>', html, re.S)
    assert match, "no due line"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def primary_links(html: str) -> list[str]:
    return re.findall(r'<a class="button primary-action" href="([^"]+)"', html)


@BOTH
def test_nothing_due(signed_in, language) -> None:
    html = page(signed_in, language)
    assert 'data-state="none"' in html
    assert due_line(html) == {ZH: "本期无应还款项。", EN: "Nothing due this period."}[language]
    assert primary_links(html) == []


@BOTH
def test_due_in_n_days_goes_to_that_plan(signed_in, current_plan, language) -> None:
    first = current_plan.installments.order_by("sequence").first()
    days = (first.due_date - timezone.localdate()).days
    assert days > 1
    html = page(signed_in, language)
    expected = {ZH: f"本期应还 ¥106.00 · {days}天后到期", EN: f"Due this period ¥106.00 · due in {days} days"}
    assert due_line(html) == expected[language]
    assert primary_links(html) == [reverse("repayments:pay", args=[current_plan.public_id])]
    assert html.count("primary-action") == 1


@BOTH
def test_due_today(signed_in, current_plan, language) -> None:
    # Test set-up: move the first installment's due date to today (the schedule's dates are not under test).
    first = current_plan.installments.order_by("sequence").first()
    Installment.objects.filter(pk=first.pk).update(due_date=timezone.localdate())
    html = page(signed_in, language)
    assert (
        due_line(html)
        == {ZH: "本期应还 ¥106.00 · 今天到期", EN: "Due this period ¥106.00 · due today"}[language]
    )
    assert primary_links(html) == [reverse("repayments:pay", args=[current_plan.public_id])]


@BOTH
def test_overdue_says_how_many_days(signed_in, overdue_plan, language) -> None:
    oldest = overdue_plan.installments.order_by("sequence").first()
    days = (timezone.localdate() - oldest.due_date).days
    html = page(signed_in, language)
    line = due_line(html)
    assert (
        line
        == {ZH: f"本期应还 ¥212.00 · 已逾期{days}天", EN: f"Due this period ¥212.00 · {days} days overdue"}[
            language
        ]
    )
    assert primary_links(html) == [reverse("repayments:pay", args=[overdue_plan.public_id])]


@BOTH
def test_several_plans_due_sum_and_go_to_my_bills(
    signed_in, customer, flat_product, overdue_plan, language
) -> None:
    plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=70),
        merchant_order_ref="OVERDUE-2",
    )
    html = page(signed_in, language)
    due = Decimal("212.00") + Decimal("103.00") * 2  # 600/6 + 3.00 fee, two periods
    assert f"¥{due:,.2f}" in due_line(html)
    assert primary_links(html) == [reverse("repayments:bills")]
    assert {ZH: "2 笔分期待还", EN: "2 plans are due"}[language] in html


@BOTH
def test_auto_debit_off_links_to_the_setting(signed_in, current_plan, card, language) -> None:
    html = page(signed_in, language)
    assert 'data-autodebit="off"' in html
    assert {ZH: "自动还款 未开启", EN: "Auto-debit off"}[language] in html
    assert {ZH: "去开启", EN: "Turn it on"}[language] in html
    assert reverse("repayments:plan", args=[current_plan.public_id]) + "#autodebit" in html


@BOTH
def test_auto_debit_on_shows_the_card_tail(signed_in, customer, current_plan, card, language) -> None:
    autodebit_set(customer=customer, plan=current_plan, enabled=True, card=card)
    html = page(signed_in, language)
    assert 'data-autodebit="on"' in html
    assert {ZH: f"自动还款 已开启 · 尾号{card.last4}", EN: f"Auto-debit on · card ending {card.last4}"}[
        language
    ] in html
    assert "#autodebit" not in html


@BOTH
def test_open_application_banner_with_next_step(signed_in, late_plan, language) -> None:
    application = apply(late_plan)
    html = page(signed_in, language)
    assert 'data-banner="application"' in html
    assert 'data-banner="offer"' not in html
    assert reverse("installments:negotiation", args=[application.public_id]) in html
    assert {ZH: "下一步：我们正在审核", EN: "Next step: we are reviewing it"}[language] in html


@BOTH
def test_offer_waiting_banner_links_to_it(signed_in, late_plan, agent, language) -> None:
    application = offered(apply(late_plan), agent)
    html = page(signed_in, language)
    assert 'data-banner="offer"' in html
    assert 'data-banner="application"' not in html
    assert reverse("installments:negotiation", args=[application.public_id]) in html
    assert {ZH: "协商还款方案已发出，请在", EN: "is waiting for your answer until"}[language] in html


def test_an_expired_offer_is_not_shown_as_waiting(signed_in, late_plan, agent) -> None:
    application = offered(apply(late_plan), agent)
    type(application).objects.filter(pk=application.pk).update(
        offer_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert 'data-banner="offer"' not in page(signed_in, EN)


@BOTH
def test_information_requested_says_what_to_do(signed_in, late_plan, agent, language) -> None:
    application = apply(late_plan)
    negotiation_start_review(staff=agent, application=application)
    negotiation_request_info(staff=agent, application=application, message="请上传近三个月工资流水")
    html = page(signed_in, language)
    assert 'data-banner="application"' in html
    assert {ZH: "下一步：请补充我们要求的资料", EN: "Next step: send us the information we asked for"}[
        language
    ] in html

"""The account's language decides a signed-in customer's pages; the switch changes it (issue 18, item 4).

Anonymous visitors follow the switch's cookie (then the browser); staff keep their own choice in the
admin; the API keeps its rule (the account's language unless the request names one:
tests/repayments/test_api_consistency.py)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from accounts.models import OtpPurpose, User
from accounts.services import language_set
from notifications.models import Notification
from repayments.banks import card_label
from repayments.labels import failure_reason
from repayments.models import Repayment
from tests.factories import BoundCardFactory, CustomerFactory

ZH, EN = "zh-hans", "en"

pytestmark = pytest.mark.django_db


def h1(page: str) -> str:
    return page.split("<h1>", 1)[1].split("</h1>", 1)[0]


@pytest.mark.parametrize(("language", "title", "other"), [(EN, "My bills", ZH), (ZH, "我的账单", EN)])
def test_the_account_decides_not_the_browser_or_the_cookie(client, language, title, other) -> None:
    customer = CustomerFactory(language=language)
    client.force_login(customer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = other
    response = client.get(reverse("repayments:bills"), HTTP_ACCEPT_LANGUAGE=other)
    assert h1(response.content.decode()) == title
    assert response["Content-Language"] == language


def test_the_switch_changes_the_account_and_the_cookie(client) -> None:
    customer = CustomerFactory(language=ZH)
    client.force_login(customer)
    response = client.post(reverse("accounts:language"), {"language": EN, "next": "/bills/"})
    assert response.status_code == 302
    assert response["Location"] == "/bills/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == EN
    customer.refresh_from_db()
    assert customer.language == EN
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = ZH  # a cookie left by someone else: the account decides
    assert h1(client.get(reverse("repayments:bills"), HTTP_ACCEPT_LANGUAGE=ZH).content.decode()) == "My bills"


def test_a_language_not_offered_changes_nothing(client) -> None:
    customer = CustomerFactory(language=ZH)
    client.force_login(customer)
    client.post(reverse("accounts:language"), {"language": "fr"})
    customer.refresh_from_db()
    assert customer.language == ZH
    assert language_set(user=customer, language=ZH) is False
    assert language_set(user=customer, language=EN) is True
    assert User.objects.get(pk=customer.pk).language == EN


def test_anonymous_visitors_follow_the_switch_then_the_browser(client, db) -> None:
    assert h1(client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE=EN).content.decode()) == "Sign in"
    response = client.post(reverse("accounts:language"), {"language": ZH, "next": "/login/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ZH
    assert h1(client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE=EN).content.decode()) == "登录"
    assert not User.objects.exists()


def test_staff_keep_their_own_choice_in_the_admin(client, agent) -> None:
    User.objects.filter(pk=agent.pk).update(language=ZH)
    client.force_login(agent)
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=EN)
    assert response["Content-Language"] == EN


def test_signing_in_switches_to_the_account_language(client) -> None:
    customer = CustomerFactory(language=EN, password="secret-pass-1")
    login = client.post(
        reverse("accounts:login"),
        {"username": str(customer.phone), "password": "secret-pass-1"},
        HTTP_ACCEPT_LANGUAGE=ZH,
    )
    assert login.status_code == 302
    page = client.get(login["Location"], HTTP_ACCEPT_LANGUAGE=ZH)
    assert page["Content-Language"] == EN


def test_cards_banks_and_failures_in_each_language(customer) -> None:
    card = BoundCardFactory(customer=customer)  # ICBC
    with translation.override(ZH):
        assert str(card) == f"工商银行 尾号{card.last4}"
        assert failure_reason("insufficient_funds") == "银行卡余额不足"
        assert card_label(name="招商银行", last4="1234") == "招商银行 尾号1234"
    with translation.override(EN):
        assert str(card) == f"ICBC card ending {card.last4}"
        assert failure_reason("insufficient_funds") == "The card's balance is not enough for this payment"
        assert failure_reason("something_new") == "The payment did not go through"
        assert card_label(name="招商银行", last4="1234") == "China Merchants Bank card ending 1234"
        assert card_label(name="某某银行", last4="1234") == "某某银行 card ending 1234"  # unknown: as given
    assert failure_reason("") == ""


def test_months_and_dates_in_each_language() -> None:
    template = Template(
        "{% load customer_text %}{{ d|month_label }}|{{ d|date }}|{{ t|date:'SHORT_DATETIME_FORMAT' }}"
    )
    context = Context(
        {"d": date(2026, 11, 5), "t": datetime(2026, 11, 5, 14, 7, tzinfo=ZoneInfo("Asia/Shanghai"))}
    )
    with translation.override(ZH):
        assert template.render(context) == "11月|2026年11月5日|2026年11月5日 14:07"
    with translation.override(EN):
        assert template.render(context) == "Nov|5 Nov 2026|5 Nov 2026, 14:07"


def test_sms_follow_the_account_after_a_switch(client, codes) -> None:
    customer = CustomerFactory(language=ZH)
    client.force_login(customer)
    client.post(reverse("accounts:language"), {"language": EN}, HTTP_ACCEPT_LANGUAGE=ZH)
    customer.refresh_from_db()
    codes.request(customer, OtpPurpose.BIND_CARD)
    text = Notification.objects.get(user=customer).text
    assert text.startswith(settings.SMS_SIGNATURE_EN)
    assert "binding a card" in text


@pytest.mark.parametrize(
    ("language", "reason", "card"),
    [
        (ZH, "银行卡余额不足", "工商银行 尾号0015"),
        (EN, "The card's balance is not enough for this payment", "ICBC card ending 0015"),
    ],
)
def test_the_api_says_why_a_payment_failed_in_the_account_language(
    customer, current_plan, language, reason, card
) -> None:
    User.objects.filter(pk=customer.pk).update(language=language)
    customer.refresh_from_db()
    broke = BoundCardFactory(customer=customer, number="6222020000000015")  # insufficient funds, always
    api = APIClient()
    api.force_authenticate(customer)
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "10.00",
        "card_id": str(broke.public_id),
    }
    response = api.post("/api/v1/repayments/", body, format="json", HTTP_IDEMPOTENCY_KEY="lang-1")
    assert response.status_code in (201, 402, 422), response.content
    repayment = Repayment.objects.get(customer=customer)
    detail = api.get(f"/api/v1/repayments/{repayment.public_id}/").json()
    assert (detail["status"], detail["failure_code"]) == ("failed", "insufficient_funds")
    assert (detail["failure_message"], detail["card"]) == (reason, card)

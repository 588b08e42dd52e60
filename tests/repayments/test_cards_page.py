"""银行卡管理 and the auto-debit card (review rows "银行卡管理" and "auto-debit"): 解绑 asks first, "card in
use" names the plan and offers the move, the move picker appears only where it applies, and a card change
says "扣款卡已更换为尾号XXXX" and sends an SMS."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import OtpPurpose
from installments.models import InstallmentPlan
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, CardStatus
from repayments.services import autodebit_set
from tests.cards import CMB_DEBIT, ICBC_DEBIT


def _page(client, url: str, language: str = "zh-hans", **kwargs) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language, **kwargs)
    assert response.status_code == 200
    return response.content.decode()


def _named(plan: InstallmentPlan, description: str) -> InstallmentPlan:
    InstallmentPlan.objects.filter(pk=plan.pk).update(description=description)
    plan.refresh_from_db()
    return plan


@pytest.fixture
def paying(customer, bind, current_plan) -> BankCard:
    """The customer's only card pays the plan's auto-debit."""
    card = bind(customer, ICBC_DEBIT)
    _named(current_plan, "iPhone 16 分期")
    autodebit_set(customer=customer, plan=current_plan, enabled=True, card=card)
    return card


# --- 解绑 asks first --------------------------------------------------------------------------------------


def test_remove_is_a_confirmation_page_and_a_get_removes_nothing(signed_in, customer, bind) -> None:
    card = bind(customer, ICBC_DEBIT)
    url = reverse("repayments:card_unbind", args=[card.public_id])
    cards_page = _page(signed_in, reverse("repayments:cards"))
    assert f'href="{url}"' in cards_page  # a link to the question, not a button that removes
    assert f'action="{url}"' not in cards_page
    question = _page(signed_in, url)
    assert f"解绑尾号{card.last4}的银行卡？" in question
    assert f'<form method="post" action="{url}"' in question
    assert 'name="replacement"' not in question  # no auto-debit to move: no picker, no code
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE
    response = signed_in.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.redirect_chain[-1][0] == reverse("repayments:cards")
    card.refresh_from_db()
    assert card.status == CardStatus.REMOVED


def test_the_question_reads_in_english(signed_in, customer, bind) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    card = bind(customer, ICBC_DEBIT)
    question = _page(signed_in, reverse("repayments:card_unbind", args=[card.public_id]), "en")
    assert f"Remove the card ending {card.last4}?" in question
    assert "Yes, remove this card" in question


# --- "card in use" names the plan ------------------------------------------------------------------------


def test_card_in_use_names_the_plan_and_says_how_to_go_on(signed_in, customer, paying, current_plan) -> None:
    url = reverse("repayments:card_unbind", args=[paying.public_id])
    question = _page(signed_in, url)
    plan_link = reverse("repayments:plan", args=[current_plan.public_id])
    assert "iPhone 16 分期" in question
    assert plan_link in question
    assert reverse("repayments:card_bind") in question  # no other card: bind one first
    assert 'name="replacement"' not in question
    refused = signed_in.post(url, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    [message] = [str(m) for m in refused.context["messages"]]
    assert "iPhone 16 分期" in message
    assert "自动扣款" in message
    paying.refresh_from_db()
    assert paying.status == CardStatus.ACTIVE


def test_the_api_refusal_names_the_plan_too(customer, paying, current_plan) -> None:
    api = APIClient()
    api.force_authenticate(customer)
    response = api.delete(
        f"/api/v1/cards/{paying.public_id}/", HTTP_IDEMPOTENCY_KEY="in-use-1", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "card_in_use_by_autodebit"
    assert "iPhone 16 分期" in response.json()["message"]


def test_the_move_picker_shows_only_on_the_card_that_pays_an_autodebit(
    signed_in, customer, paying, bind, current_plan
) -> None:
    spare = bind(customer, CMB_DEBIT)
    page = _page(signed_in, reverse("repayments:cards"))
    assert 'name="replacement"' not in page  # the cards page only names the plans; the picker asks later
    sections = page.split('<section class="card"')
    [paying_section] = [s for s in sections if f'data-card="{paying.last4}"' in s]
    [spare_section] = [s for s in sections if f'data-card="{spare.last4}"' in s]
    assert "iPhone 16 分期" in paying_section
    assert "iPhone 16 分期" not in spare_section
    spare_question = _page(signed_in, reverse("repayments:card_unbind", args=[spare.public_id]))
    assert 'name="replacement"' not in spare_question
    assert 'name="code"' not in spare_question
    paying_question = _page(signed_in, reverse("repayments:card_unbind", args=[paying.public_id]))
    assert 'name="replacement"' in paying_question
    assert f'value="{spare.public_id}"' in paying_question


def test_moving_the_autodebit_on_removal_says_so_and_sends_the_sms(
    signed_in, customer, paying, bind, current_plan, codes
) -> None:
    spare = bind(customer, CMB_DEBIT)
    url = reverse("repayments:card_unbind", args=[paying.public_id])
    sent = signed_in.post(url, {"action": "send_code", "replacement": str(spare.public_id)})
    assert sent.status_code == 200  # back to the question, the card kept, nothing removed
    assert f'value="{spare.public_id}" selected' in sent.content.decode()
    assert BankCard.objects.get(pk=paying.pk).status == CardStatus.ACTIVE
    code = codes.codes[-1]
    done = signed_in.post(
        url, {"replacement": str(spare.public_id), "code": code}, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert f"扣款卡已更换为尾号{spare.last4}" in " ".join(str(m) for m in done.context["messages"])
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == spare.pk
    [sms] = Notification.objects.filter(template_code="autodebit_card_changed")
    assert f"尾号{spare.last4}" in sms.text
    assert "iPhone 16 分期" in sms.text


# --- the auto-debit page: a card change is a card change ---------------------------------------------------


@pytest.mark.parametrize(
    ("language", "said", "sms"),
    [
        ("zh-hans", "扣款卡已更换为尾号{last4}", "自动扣款卡已更换为尾号{last4}"),
        ("en", "Auto-debit card changed to card ending {last4}", "now uses card ending {last4}"),
    ],
)
def test_changing_the_autodebit_card_says_so_and_sends_an_sms(
    signed_in, customer, paying, bind, current_plan, codes, language, said, sms
) -> None:
    customer.language = language
    customer.save(update_fields=["language"])
    spare = bind(customer, CMB_DEBIT)
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    response = signed_in.post(
        reverse("repayments:plan_autodebit", args=[current_plan.public_id]),
        {"enabled": "on", "card": spare.pk, "code": code},
        follow=True,
        HTTP_ACCEPT_LANGUAGE=language,
    )
    [message] = [str(m) for m in response.context["messages"]]
    assert said.format(last4=spare.last4) in message
    assert "自动扣款已开启" not in message
    [changed] = Notification.objects.filter(template_code="autodebit_card_changed")
    assert sms.format(last4=spare.last4) in changed.text
    assert ICBC_DEBIT[-8:] not in changed.text  # the tail only
    assert CMB_DEBIT[-8:] not in changed.text


def test_turning_autodebit_on_and_off_keep_their_own_messages(
    signed_in, customer, bind, current_plan
) -> None:
    card = bind(customer, ICBC_DEBIT)
    url = reverse("repayments:plan_autodebit", args=[current_plan.public_id])
    zh = {"follow": True, "HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    on = signed_in.post(url, {"enabled": "on", "card": card.pk}, **zh)
    assert [str(m) for m in on.context["messages"]] == ["自动扣款已开启。"]
    off = signed_in.post(url, {"card": card.pk}, **zh)
    assert [str(m) for m in off.context["messages"]] == ["自动扣款已关闭。"]
    again = signed_in.post(
        url, {"enabled": "on", "card": card.pk}, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert [str(m) for m in again.context["messages"]] == ["自动扣款已开启。"]
    assert not Notification.objects.filter(template_code="autodebit_card_changed").exists()

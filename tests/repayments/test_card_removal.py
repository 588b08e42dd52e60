"""Removing a card: the auto-debit SMS code is not bypassed (finding 17), a card with a charge in flight
is not removed (finding 20), and a malformed replacement is a 400 / form error, not a 500 (finding 13)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from accounts.models import OtpPurpose
from core.errors import ApplicationError
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, CardStatus, Repayment, RepaymentStatus
from repayments.services import card_unbind
from tests.api import idempotency_key as key
from tests.cards import CMB_DEBIT, ICBC_DEBIT

API = "/api/v1"


@pytest.fixture
def two_cards(customer, bind, current_plan):
    """The first card pays the plan's auto-debit; the second could take over."""
    first = bind(customer, ICBC_DEBIT)
    second = bind(customer, CMB_DEBIT)
    AutoDebitMandate.objects.create(plan=current_plan, card=first, enabled=True)
    return first, second


def _kept(first: BankCard, current_plan) -> None:
    first.refresh_from_db()
    assert first.status == CardStatus.ACTIVE
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == first.pk
    assert not Notification.objects.filter(template_code="card_removed").exists()


def _pending_charge(card: BankCard, plan, channel: str = "auto_debit") -> Repayment:
    """A charge on its way to the bank: recorded pending, the gateway not answered yet."""
    return Repayment.objects.create(
        customer=card.customer,
        plan=plan,
        amount=Decimal("106.00"),
        mode="due_now",
        channel=channel,
        card=card,
        idempotency_key=f"inflight-{channel}",
        status=RepaymentStatus.PENDING,
    )


# --- finding 17: the auto-debit card changes only with the SMS code -----------------------------------


def test_moving_an_autodebit_by_removing_its_card_needs_the_sms_code(
    customer, two_cards, current_plan, codes
) -> None:
    first, second = two_cards
    with pytest.raises(ApplicationError) as excinfo:
        card_unbind(customer=customer, card=first, replacement=second)
    assert excinfo.value.code == "otp_not_requested"
    _kept(first, current_plan)
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    with pytest.raises(ApplicationError) as excinfo:
        card_unbind(
            customer=customer, card=first, replacement=second, otp_code=f"{(int(code) + 1) % 10**6:06d}"
        )
    assert excinfo.value.code == "otp_invalid"
    _kept(first, current_plan)
    bind_code = codes.request(customer, OtpPurpose.BIND_CARD)  # a code for another purpose does not do
    with pytest.raises(ApplicationError):
        card_unbind(customer=customer, card=first, replacement=second, otp_code=bind_code)
    _kept(first, current_plan)
    card_unbind(customer=customer, card=first, replacement=second, otp_code=code)
    first.refresh_from_db()
    assert first.status == CardStatus.REMOVED
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == second.pk


def test_a_card_paying_no_autodebit_is_removed_without_a_code(customer, bind) -> None:
    first = bind(customer, ICBC_DEBIT)
    second = bind(customer, CMB_DEBIT)
    card_unbind(customer=customer, card=first, replacement=second)
    second.refresh_from_db()
    assert second.is_default  # the default moves; no auto-debit did, so no code was needed


def test_api_removal_with_a_replacement_needs_the_code(api, customer, two_cards, current_plan, codes) -> None:
    first, second = two_cards
    url = f"{API}/cards/{first.public_id}/?replacement={second.public_id}"
    refused = api.delete(url, **key())
    assert refused.status_code == 422
    assert refused.json()["code"] == "otp_not_requested"
    _kept(first, current_plan)
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    done = api.delete(url, {"otp_code": code}, format="json", **key())
    assert done.status_code == 200, done.json()
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == second.pk


def test_api_unbind_endpoint_takes_the_replacement_and_code_in_its_body(
    api, customer, two_cards, current_plan, codes
) -> None:
    first, second = two_cards
    url = f"{API}/cards/{first.public_id}/unbind/"
    refused = api.post(url, {"replacement": str(second.public_id)}, format="json", **key())
    assert refused.status_code == 422
    assert refused.json()["code"] == "otp_not_requested"
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    done = api.post(url, {"replacement": str(second.public_id), "otp_code": code}, format="json", **key())
    assert done.status_code == 200, done.json()
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == second.pk


def test_web_removal_sends_and_takes_the_code(client, customer, two_cards, current_plan, codes) -> None:
    first, second = two_cards
    client.force_login(customer)
    url = reverse("repayments:card_unbind", args=[first.public_id])
    page = client.get(url).content.decode()  # the confirmation page offers the move and the code
    assert 'name="code"' in page
    assert "data-send-code" in page
    refused = client.post(url, {"replacement": str(second.public_id)}, follow=True)
    assert refused.status_code == 200
    assert list(refused.context["messages"])
    _kept(first, current_plan)
    client.post(url, {"action": "send_code"})
    code = codes.codes[-1]
    assert client.post(url, {"replacement": str(second.public_id), "code": code}).status_code == 302
    first.refresh_from_db()
    assert first.status == CardStatus.REMOVED
    assert AutoDebitMandate.objects.get(plan=current_plan).card_id == second.pk


# --- finding 20: no removal while a charge on the card is in flight ----------------------------------


@pytest.mark.parametrize("channel", ["auto_debit", "web", "api"])
def test_a_card_with_a_charge_in_flight_is_not_removed(
    api, client, customer, two_cards, current_plan, codes, channel
) -> None:
    first, second = two_cards
    pending = _pending_charge(first, current_plan, channel)
    code = codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    with pytest.raises(ApplicationError) as excinfo:
        card_unbind(customer=customer, card=first, replacement=second, otp_code=code)
    assert excinfo.value.code == "payment_in_progress"
    assert excinfo.value.status == 409
    _kept(first, current_plan)
    # the refusal came before the code was checked: the customer's code is still good afterwards
    url = f"{API}/cards/{first.public_id}/?replacement={second.public_id}"
    response = api.delete(url, {"otp_code": code}, format="json", **key())
    assert response.status_code == 409
    assert response.json()["code"] == "payment_in_progress"
    client.force_login(customer)
    web = client.post(
        reverse("repayments:card_unbind", args=[first.public_id]),
        {"replacement": str(second.public_id), "code": code},
        follow=True,
    )
    assert web.status_code == 200
    assert any("being processed" in str(m) or "处理中" in str(m) for m in web.context["messages"])
    _kept(first, current_plan)
    # once the bank has answered (here: declined), the card can go
    Repayment.objects.filter(pk=pending.pk).update(status=RepaymentStatus.FAILED, failure_code="declined")
    card_unbind(customer=customer, card=first, replacement=second, otp_code=code)
    first.refresh_from_db()
    assert first.status == CardStatus.REMOVED


def test_a_card_without_autodebit_but_with_a_payment_in_flight_is_not_removed(
    customer, bind, current_plan
) -> None:
    card = bind(customer, ICBC_DEBIT)
    _pending_charge(card, current_plan, "web")
    with pytest.raises(ApplicationError) as excinfo:
        card_unbind(customer=customer, card=card)
    assert excinfo.value.code == "payment_in_progress"
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


# --- finding 13: a malformed replacement is a 400, not a 500 ---------------------------------------------


@pytest.mark.parametrize("replacement", ["x", "1", "' OR 1=1 --", "%00"])
def test_a_malformed_replacement_is_a_400_on_the_api(api, two_cards, current_plan, replacement) -> None:
    first, _second = two_cards
    deleted = api.delete(f"{API}/cards/{first.public_id}/?{urlencode({'replacement': replacement})}", **key())
    assert deleted.status_code == 400, deleted.content
    assert deleted.json()["code"] == "invalid_request"
    assert "replacement" in deleted.json()["fields"]
    posted = api.post(f"{API}/cards/{first.public_id}/unbind/", {"replacement": replacement}, format="json",
                      **key())  # fmt: skip
    assert posted.status_code == 400
    assert "replacement" in posted.json()["fields"]
    _kept(first, current_plan)


def test_a_malformed_replacement_is_a_form_error_on_the_page(
    client, customer, two_cards, current_plan
) -> None:
    first, _second = two_cards
    client.force_login(customer)
    response = client.post(reverse("repayments:card_unbind", args=[first.public_id]), {"replacement": "x"},
                           follow=True)  # fmt: skip
    assert response.status_code == 200
    assert list(response.context["messages"])
    _kept(first, current_plan)

""" "发送验证码" beside the code field (issue 18, item 6): the button submits its own form, the page comes
back with every input as it was (no redirect, an anchor to the code field), and a script's request gets
JSON instead of a page."""

from __future__ import annotations

import re

from django.urls import reverse

from accounts.models import OneTimeCode
from tests.cards import CMB_DEBIT
from tests.factories import BoundCardFactory


def text(response) -> str:
    return response.content.decode()


def test_bind_card_send_code_keeps_the_inputs(signed_in, customer, codes) -> None:
    url = reverse("repayments:card_bind")
    page = text(signed_in.get(url))
    # The button sits in the form, beside the code field.
    field = page.split('id="code-field"')[1].split("</div>")[0]
    assert 'name="code"' in field
    assert 'value="send_code"' in field
    response = signed_in.post(
        url,
        {
            "action": "send_code",
            "number": CMB_DEBIT,
            "holder_name": "张三丰",
            "reserved_phone": "13900001111",
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert 'value="张三丰"' in page
    assert 'value="13900001111"' in page
    assert CMB_DEBIT not in page  # the card number is never put back into a page
    assert 'class="error"' not in page  # no "required" errors before 绑定
    assert 'formaction="' + url + '#code-field"' in page
    assert "data-sent" in page
    assert len(codes.codes) == 1


def test_auto_debit_send_code_keeps_the_chosen_card_and_the_switch(
    signed_in, customer, current_plan, card, codes
) -> None:
    other = BoundCardFactory(customer=customer, number=CMB_DEBIT, is_default=False)
    url = reverse("repayments:plan_autodebit", args=[current_plan.public_id])
    response = signed_in.post(url, {"action": "send_code", "enabled": "on", "card": other.pk})
    assert response.status_code == 200  # the plan page, not a redirect to its top
    page = text(response)
    section = page.split('id="autodebit"')[1]
    assert re.search(rf'<input type="radio" name="card" value="{other.pk}"[^>]*checked', section), section
    assert "checked" in section.split('name="enabled"')[1].split(">")[0]
    assert "#code-field" in section
    assert "data-sent" in section
    assert len(codes.codes) == 1


def test_the_script_gets_json_and_the_throttle_answer(signed_in, customer, codes) -> None:
    url = reverse("repayments:card_bind")
    first = signed_in.post(url, {"action": "send_code"}, headers={"X-Requested-With": "fetch"})
    assert first.status_code == 200
    assert first.json()["ok"] is True
    again = signed_in.post(url, {"action": "send_code"}, headers={"X-Requested-With": "fetch"})
    assert again.status_code == 429
    assert again.json()["retry_after"] > 0
    assert OneTimeCode.objects.filter(user=customer).count() == 1
    # The flash message was for the script: it does not wait for the next page.
    assert "A code was sent" not in text(
        signed_in.get(reverse("repayments:cards"), HTTP_ACCEPT_LANGUAGE="en")
    )

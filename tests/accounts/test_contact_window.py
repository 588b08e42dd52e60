"""The customer's own contact hours (issue 19, item 6): set on 我的账户 → contact hours and with
PATCH /api/v1/me/; the contact gate reads them."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from installments.services import contact_allowed

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_account_page_links_to_the_contact_hours(signed_in) -> None:
    page = signed_in.get(reverse("repayments:account")).content.decode()
    assert reverse("accounts:contact_hours") in page
    assert "联系时间" in page


def test_the_customer_sets_and_clears_a_window_on_the_web(signed_in, customer) -> None:
    url = reverse("accounts:contact_hours")
    page = signed_in.get(url)
    assert page.status_code == 200
    assert "08:00" in page.content.decode()
    response = signed_in.post(url, {"contact_window_start": "18:00", "contact_window_end": "20:30"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.contact_window_start, customer.contact_window_end) == (time(18), time(20, 30))
    assert not contact_allowed(
        customer=customer, channel="call", at=datetime(2026, 12, 1, 10, tzinfo=SHANGHAI)
    )
    assert contact_allowed(customer=customer, channel="call", at=datetime(2026, 12, 1, 19, tzinfo=SHANGHAI))
    account = signed_in.get(reverse("repayments:account")).content.decode()
    assert "18:00" in account
    assert "20:30" in account
    response = signed_in.post(url, {"contact_window_start": "", "contact_window_end": ""})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.contact_window_start is None


@pytest.mark.parametrize(
    "form",
    [
        {"contact_window_start": "18:00", "contact_window_end": ""},
        {"contact_window_start": "09:00", "contact_window_end": "09:00"},
    ],
)
def test_half_a_window_is_refused_beside_the_fields(signed_in, customer, form) -> None:
    response = signed_in.post(reverse("accounts:contact_hours"), form)
    assert response.status_code == 200
    assert 'class="error"' in response.content.decode()
    customer.refresh_from_db()
    assert customer.contact_window_start is None


def test_english_account_reads_the_page_in_english(client, customer) -> None:
    User.objects.filter(pk=customer.pk).update(language="en")
    client.force_login(customer)
    page = client.get(reverse("accounts:contact_hours"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Contact hours" in page
    assert "联系时间" not in page


def test_the_api_reads_and_changes_the_window(customer) -> None:
    api = APIClient()
    api.force_authenticate(customer)
    me = api.get("/api/v1/me/").json()
    assert (me["contact_window_start"], me["contact_window_end"]) == (None, None)
    response = api.patch(
        "/api/v1/me/", {"contact_window_start": "21:00", "contact_window_end": "09:00"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["contact_window_start"], response.json()["contact_window_end"]) == (
        "21:00",
        "09:00",
    )
    customer.refresh_from_db()
    assert contact_allowed(customer=customer, channel="sms", at=datetime(2026, 12, 1, 23, tzinfo=SHANGHAI))
    # Only one side given: it moves that side of the saved window.
    response = api.patch("/api/v1/me/", {"contact_window_end": "08:30"}, format="json")
    assert response.json()["contact_window_end"] == "08:30"
    # Clearing: both null.
    response = api.patch(
        "/api/v1/me/", {"contact_window_start": None, "contact_window_end": None}, format="json"
    )
    assert response.json()["contact_window_start"] is None


def test_the_api_refuses_half_a_window_with_its_code_and_changes_nothing(customer) -> None:
    api = APIClient()
    api.force_authenticate(customer)
    response = api.patch("/api/v1/me/", {"contact_window_start": "18:00", "language": "en"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_contact_window"
    customer.refresh_from_db()
    assert (customer.contact_window_start, customer.language) == (None, "zh-hans")
    response = api.patch(
        "/api/v1/me/", {"contact_window_start": "25:00", "contact_window_end": "09:00"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"

"""The API as a mobile developer meets it (issue 15, point 16): one status per error code on every path,
one list envelope, Retry-After on every 429, restructured installments owing nothing, proof documents
downloadable with the Bearer token, listing that spends no payment budget, the customer's saved
language, the card id on repayments, and a schema that advertises only the bodies the API accepts."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from core.error_codes import catalogue
from installments.models import InstallmentPlan, InstallmentStatus, PlanStatus
from tests.api import idempotency_key as key
from tests.cards import ICBC_DEBIT
from tests.installments.negotiation_support import PDF

API = "/api/v1"

pytestmark = pytest.mark.usefixtures("fresh_throttles")


def signed_in(user: User, password: str = "") -> APIClient:
    """A client holding a real Bearer token, as a phone would (not a forced session)."""
    client = APIClient()
    password = password or "secret-pass-1"  # the customer fixture's
    tokens = client.post(
        f"{API}/auth/token/", {"phone": str(user.phone), "password": password}, format="json"
    )
    assert tokens.status_code == 200, tokens.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    return client


def assert_published(response, code: str) -> None:
    """The answer carries ``code`` with the status the catalogue publishes for it."""
    body = response.json()
    assert body["code"] == code, body
    assert response.status_code == catalogue()[code].status, (code, response.status_code)


# --- one code, one status --------------------------------------------------------------------------------


def test_a_code_answers_its_published_status_on_every_path(customer, current_plan, card, codes) -> None:
    """invalid_amount was 400 from the payment service and 422 from the money parser; card_holder_mismatch
    400 when binding and when paying with a card used once, 422 from the card check."""
    api = signed_in(customer)
    pay = {"plan_id": str(current_plan.public_id), "mode": "custom", "card_id": str(card.public_id)}
    assert_published(
        api.post(f"{API}/repayments/", {**pay, "amount": "0.00"}, format="json", **key()), "invalid_amount"
    )
    assert_published(
        api.post(f"{API}/repayments/", {**pay, "amount": "1.234"}, format="json", **key()), "invalid_amount"
    )
    one_time = {"number": ICBC_DEBIT, "holder_name": "王五"}
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "5.00",
        "one_time_card": one_time,
    }
    assert_published(api.post(f"{API}/repayments/", body, format="json", **key()), "card_holder_mismatch")
    api.post(f"{API}/otp/", {"purpose": "bind_card"}, format="json")
    bind = {
        "number": ICBC_DEBIT,
        "holder_name": "王五",
        "reserved_phone": "13811112222",
        "otp_code": "000000",
    }
    assert_published(api.post(f"{API}/cards/", bind, format="json", **key()), "card_holder_mismatch")
    assert_published(
        api.post(f"{API}/cards/", {**bind, "holder_name": customer.real_name, "number": "6222020000000001"},
                 format="json", **key()),
        "card_invalid_number",
    )  # fmt: skip


# --- one list envelope -----------------------------------------------------------------------------------


def test_every_list_has_the_same_envelope(customer, current_plan, card) -> None:
    """bills/ and products/ answered a bare array; every other list {next, previous, results}."""
    api = signed_in(customer)
    for path in ("products/", "bills/", "plans/", "cards/", "repayments/", "negotiations/", "notifications/"):
        body = api.get(f"{API}/{path}").json()
        assert isinstance(body, dict), (path, body)
        assert {"next", "previous", "results"} <= set(body), (path, body)
    assert api.get(f"{API}/bills/").json()["results"][0]["plan_id"] == str(current_plan.public_id)
    assert [p["code"] for p in APIClient().get(f"{API}/products/").json()["results"]] == ["baitiao"]


def test_the_schema_documents_every_list_with_the_envelope(client, db) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get or "200" not in get["responses"]:
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json")
        if not content:
            continue
        ref = content["schema"].get("$ref", "")
        target = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else content["schema"]
        assert target.get("type") != "array", f"{path} answers a bare array"


# --- Retry-After -----------------------------------------------------------------------------------------


def test_every_429_carries_retry_after(customer, monkeypatch, client) -> None:
    api = signed_in(customer)
    # An SMS-code limit from the service (otp_too_soon): it said when in a field, not in the header.
    first = api.post(f"{API}/otp/", {"purpose": "bind_card"}, format="json")
    assert first.status_code == 202
    too_soon = api.post(f"{API}/otp/", {"purpose": "bind_card"}, format="json")
    assert_published(too_soon, "otp_too_soon")
    assert int(too_soon["Retry-After"]) == int(too_soon.json()["fields"]["retry_after"]) > 0
    # A DRF throttle.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "otp": "1/min"}
    )
    cache.clear()
    api.post(f"{API}/otp/", {"purpose": "change_autodebit_card"}, format="json")
    throttled = api.post(f"{API}/otp/", {"purpose": "change_autodebit_card"}, format="json")
    assert_published(throttled, "throttled")
    assert int(throttled["Retry-After"]) > 0
    # The web sign-in lockout page (django-axes) after too many wrong passwords.
    for _ in range(6):
        locked = client.post("/login/", {"username": "13811112222", "password": "wrong"})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


# --- restructured installments ---------------------------------------------------------------------------


def test_a_restructured_plan_s_installments_owe_nothing(customer, current_plan, codes) -> None:
    """The debt moved to the successor plan; the old installments reported it as still outstanding."""
    api = signed_in(customer)
    api.post(f"{API}/otp/", {"purpose": "restage"}, format="json")
    new = api.post(
        f"{API}/reinstallments/",
        {"plan_id": str(current_plan.public_id), "tenor": 24, "otp_code": codes.codes[-1]},
        format="json",
        **key(),
    )
    assert new.status_code == 201, new.content
    old = api.get(f"{API}/plans/{current_plan.public_id}/").json()
    assert old["status"] == PlanStatus.RESTRUCTURED
    restructured = [i for i in old["installments"] if i["status"] == InstallmentStatus.RESTRUCTURED]
    assert restructured
    assert {i["outstanding"] for i in restructured} == {"0.00"}
    successor = api.get(f"{API}/plans/{new.json()['id']}/").json()
    assert successor["source_plan_id"] == str(current_plan.public_id)
    assert sum(float(i["outstanding"]) for i in successor["installments"]) > 0
    # The ledger's restructuring check still reads the amount that moved.
    moved = InstallmentPlan.objects.get(pk=current_plan.pk).installments.filter(status="restructured")
    assert all(i.outstanding > 0 and i.owed == 0 for i in moved)


# --- proof documents with the Bearer token ---------------------------------------------------------------


def test_proof_documents_download_with_the_bearer_token(customer, other_customer, late_plan) -> None:
    api = signed_in(customer)
    applied = api.post(
        f"{API}/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": "6000.00",
            "requested_tenor": 12,
            "documents": [SimpleUploadedFile("工资单.pdf", PDF)],
        },
        format="multipart",
        **key(),
    )
    assert applied.status_code == 201, applied.content
    document = applied.json()["documents"][0]
    url = document["download"]
    assert url == f"{API}/negotiations/{applied.json()['id']}/documents/{document['id']}/"
    for accept in ("*/*", "application/pdf", "application/json"):
        got = api.get(url, HTTP_ACCEPT=accept)
        assert got.status_code == 200, (accept, got.status_code)
        assert b"".join(got.streaming_content) == PDF
        assert got["Content-Type"] == "application/pdf"
        assert got["Content-Disposition"].startswith("attachment")
        assert got["X-Content-Type-Options"] == "nosniff"
    # Not the caller's: 404, whether by the application's id or under the caller's own application.
    other = signed_in(other_customer, "secret-pass-2")
    assert other.get(url).status_code == 404
    assert api.get(f"{API}/negotiations/{applied.json()['id']}/documents/{uuid.uuid4()}/").status_code == 404
    assert APIClient().get(url).status_code == 401


# --- throttles: reading spends nothing of the payment budget ---------------------------------------------


def test_listing_repayments_does_not_spend_the_payments_throttle(
    customer, current_plan, card, monkeypatch
) -> None:
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "payments": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    api = signed_in(customer)
    for _ in range(5):
        assert api.get(f"{API}/repayments/").status_code == 200
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "1.00",
        "card_id": str(card.public_id),
    }
    assert [api.post(f"{API}/repayments/", body, format="json", **key()).status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]


# --- language --------------------------------------------------------------------------------------------


def test_errors_use_the_customer_s_saved_language_when_the_request_names_none(
    customer, current_plan, card
) -> None:
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "99999.00",
        "card_id": str(card.public_id),
    }
    api = signed_in(customer)
    chinese = api.post(f"{API}/repayments/", body, format="json", **key())
    assert "最多可还" in chinese.json()["message"]
    customer.language = User.Language.EN
    customer.save(update_fields=["language"])
    english = api.post(f"{API}/repayments/", body, format="json", **key())
    assert english.json()["code"] == "amount_exceeds_outstanding"
    assert english.json()["message"].startswith("The most you can pay"), english.json()
    assert english["Content-Language"] == "en"
    # The request's own Accept-Language still wins.
    asked = api.post(f"{API}/repayments/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans", **key())
    assert "最多可还" in asked.json()["message"]


# --- repayments name their card ---------------------------------------------------------------------------


def test_repayments_carry_the_card_id(customer, current_plan, card) -> None:
    api = signed_in(customer)
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "3.00",
        "card_id": str(card.public_id),
    }
    paid = api.post(f"{API}/repayments/", body, format="json", **key()).json()
    assert paid["card_id"] == str(card.public_id)
    assert api.get(f"{API}/repayments/").json()["results"][0]["card_id"] == str(card.public_id)
    assert api.get(f"{API}/repayments/{paid['id']}/").json()["card_id"] == str(card.public_id)


# --- the schema advertises what the API accepts ----------------------------------------------------------

UPLOADS = {
    ("/api/v1/negotiations/", "post"),
    ("/api/v1/negotiations/{public_id}/documents/", "post"),
    ("/api/v1/complaints/", "post"),
    ("/api/v1/complaints/{public_id}/documents/", "post"),
}


def test_json_endpoints_accept_and_document_json_only(customer, client, flat_product) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["info"]["title"].isascii()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            types = set(operation["requestBody"]["content"])
            expected = {"multipart/form-data"} if (path, method) in UPLOADS else {"application/json"}
            assert types == expected, (method, path, types)
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]["200"]
    ref = token["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"access", "refresh"} <= set(schema["components"]["schemas"][ref]["properties"])
    refresh = schema["paths"]["/api/v1/auth/token/refresh/"]["post"]["responses"]["200"]
    assert "content" in refresh
    # And the API does refuse a form body where it documents JSON.
    api = signed_in(customer)
    form = api.post(f"{API}/quotes/", {"product": "baitiao", "principal": "1200.00", "tenor": "12"})
    assert_published(form, "unsupported_media_type")

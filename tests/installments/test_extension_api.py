"""延期还款 through the API: the quote, the SMS code, the extension with its Idempotency-Key, refusals with
their reasons, another customer's plan, and the plan detail's counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import OtpPurpose
from installments.models import PlanExtension
from tests.api import idempotency_key as key

API = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(customer) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer)
    return client


def test_quote_then_extend_with_the_code(api, current_plan, codes) -> None:
    plan_url = f"{API}/plans/{current_plan.public_id}/"
    detail = api.get(plan_url).json()
    assert (detail["extensions_used"], detail["extension_max"]) == (0, 1)
    due = current_plan.installments.order_by("sequence").first().due_date
    quote = api.post(f"{plan_url}extension/quote/", {"days": 7}, format="json")
    assert quote.status_code == 200, quote.content
    body = quote.json()
    assert body["new_due_date"] == (due + timedelta(days=7)).isoformat()
    assert (body["fee"], body["amount_due"], body["min_days"], body["max_days"]) == ("0.00", "106.00", 1, 14)
    assert body["next_amounts"][0]["moved"] is True
    assert api.post(f"{API}/otp/", {"purpose": OtpPurpose.EXTENSION}, format="json").status_code == 202
    headers = key()
    created = api.post(
        f"{plan_url}extension/", {"days": 7, "otp_code": codes.codes[-1]}, format="json", **headers
    )
    assert created.status_code == 201, created.content
    assert created.json()["new_due_date"] == (due + timedelta(days=7)).isoformat()
    assert created.json()["plan"]["extensions_used"] == 1
    assert created.json()["plan"]["installments"][0]["due_date"] == (due + timedelta(days=7)).isoformat()
    again = api.post(
        f"{plan_url}extension/", {"days": 7, "otp_code": codes.codes[-1]}, format="json", **headers
    )
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert PlanExtension.objects.count() == 1
    refused = api.post(f"{plan_url}extension/quote/", {"days": 7}, format="json")
    assert refused.status_code == 422
    assert refused.json()["code"] == "extension_not_allowed"
    assert [r["code"] for r in refused.json()["reasons"]] == ["extension_limit_reached"]


def test_refusals_list_every_reason(api, late_plan) -> None:
    refused = api.post(f"{API}/plans/{late_plan.public_id}/extension/quote/", {"days": 3}, format="json")
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "extension_not_allowed"
    assert {r["code"] for r in body["reasons"]} == {"overdue_beyond_grace", "extension_too_late"}
    assert all(r["message"] for r in body["reasons"])


def test_days_out_of_range_and_a_wrong_code(api, current_plan, codes) -> None:
    url = f"{API}/plans/{current_plan.public_id}/extension/"
    out = api.post(f"{url}quote/", {"days": 30}, format="json")
    assert out.status_code == 422
    assert out.json()["code"] == "extension_days_out_of_range"
    assert "days" in out.json()["fields"]
    api.post(f"{API}/otp/", {"purpose": OtpPurpose.EXTENSION}, format="json")
    wrong = api.post(url, {"days": 7, "otp_code": "000000"}, format="json", **key())
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "otp_invalid"
    missing = api.post(url, {"days": 7}, format="json", **key())
    assert missing.status_code == 400
    no_key = api.post(url, {"days": 7, "otp_code": codes.codes[-1]}, format="json")
    assert no_key.status_code == 400
    assert no_key.json()["code"] == "idempotency_key_required"
    assert not PlanExtension.objects.exists()


def test_another_customers_plan_is_404(current_plan, other_customer, codes) -> None:
    client = APIClient()
    client.force_authenticate(other_customer)
    url = f"{API}/plans/{current_plan.public_id}/extension/"
    assert client.post(f"{url}quote/", {"days": 7}, format="json").status_code == 404
    client.post(f"{API}/otp/", {"purpose": OtpPurpose.EXTENSION}, format="json")
    stolen = client.post(url, {"days": 7, "otp_code": codes.codes[-1]}, format="json", **key())
    assert stolen.status_code == 404
    assert not PlanExtension.objects.exists()


def test_the_schema_documents_the_endpoints(client, db) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    quote = schema["paths"]["/api/v1/plans/{public_id}/extension/quote/"]["post"]
    apply = schema["paths"]["/api/v1/plans/{public_id}/extension/"]["post"]
    assert "extension_not_allowed" in apply["description"] or "extension_not_allowed" in quote["description"]
    assert any(p["name"] == "Idempotency-Key" for p in apply["parameters"])
    assert "201" in apply["responses"]

"""Findings 13 and 21 of the 2026-11-30 review: crafted requests get the API's JSON error shape, never a 500
and never Django's HTML 400 page (crafted cursors, deeply nested JSON, oversized bodies, too many files)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core.error_codes import catalogue
from tests.cards import CMB_DEBIT
from tests.installments.negotiation_support import PDF

LISTS = ["repayments", "cards", "plans", "notifications", "negotiations"]


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_api_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == code, body
    assert catalogue()[code].status == status


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize(
    "position",
    [
        "p=abc",  # the review's cD1hYmM=
        "p=2026-13-45",
        "p=2026-01-01",  # a time without its offset
        "p=99999999999999999999999",
        "p=a%00b",
        "o=1&r=1&p=" + "9" * 400,
    ],
)
def test_crafted_cursor_positions_are_404_json(api, card, current_plan, name, position) -> None:
    assert_api_error(api.get(f"/api/v1/{name}/", {"cursor": cursor(position)}), 404, "not_found")


@pytest.mark.parametrize("name", LISTS)
def test_real_cursors_still_page(api, customer, name) -> None:
    response = api.get(f"/api/v1/{name}/", {"page_size": 1})
    assert response.status_code == 200
    following = response.json()["next"]
    if following:
        assert api.get(following).status_code == 200


def test_cards_cursor_checks_its_first_ordering_field(api, bind, customer) -> None:
    bind(customer)
    bind(customer, number=CMB_DEBIT)
    first = api.get("/api/v1/cards/", {"page_size": 1}).json()
    assert api.get(first["next"]).status_code == 200
    assert_api_error(api.get("/api/v1/cards/", {"cursor": cursor("p=maybe")}), 404, "not_found")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_is_400_for_anonymous_sign_in(db, depth) -> None:
    response = APIClient().post("/api/v1/auth/token/", _nested(depth), content_type="application/json")
    assert_api_error(response, 400, "invalid_request")


def test_deeply_nested_json_is_400_on_a_money_endpoint(api) -> None:
    response = api.post(
        "/api/v1/repayments/",
        b'{"plan_id": ' + _nested(100_000) + b"}",
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_a_10_mb_json_body_is_413_json(api, current_plan) -> None:
    body = json.dumps({"plan_id": str(current_plan.public_id), "mode": "due_now", "pad": "x" * (10 << 20)})
    response = api.post(
        "/api/v1/repayments/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert_api_error(response, 413, "request_too_large")
    anonymous = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")
    assert anonymous.status_code in (400, 413)
    assert anonymous.json()["code"] in (
        "invalid_request",
        "request_too_large",
    )


def test_120_files_are_400_json(api, late_plan) -> None:
    client = APIClient()
    client.force_authenticate(late_plan.customer)
    files = [SimpleUploadedFile(f"p{i}.pdf", PDF) for i in range(120)]
    response = client.post(
        "/api/v1/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": "1.00",
            "requested_tenor": 6,
            "documents": files,
        },
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert_api_error(response, 400, "invalid_request")


def test_a_request_refused_before_any_view_is_json_under_api(client, db, settings) -> None:
    # Django refuses a bad Host before routing: under /api/ the answer is still the error shape.
    settings.ALLOWED_HOSTS = ["testserver"]
    response = client.get("/api/v1/plans/", HTTP_HOST="evil.example")
    assert_api_error(response, 400, "invalid_request")
    page = client.get("/plans/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert not page["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("page_size", ["abc", "null", "0", "-1", "101", "1e1", "\u0665", " 5"])
def test_a_bad_page_size_is_400_not_quietly_the_default(api, name, page_size) -> None:
    assert_api_error(api.get(f"/api/v1/{name}/", {"page_size": page_size}), 400, "invalid_request")


def test_page_size_given_twice_or_an_empty_filter_is_400(api) -> None:
    assert_api_error(api.get("/api/v1/plans/?page_size=5&page_size=6"), 400, "invalid_request")
    assert_api_error(api.get("/api/v1/repayments/?date_to="), 400, "invalid_request")
    assert api.get("/api/v1/plans/", {"page_size": "100"}).status_code == 200

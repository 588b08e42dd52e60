"""REST API: tokens, each resource's happy path and refusals, the error shape, idempotency, BOLA, 429."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.idempotency import _fingerprint, idempotency_keys_purge
from accounts.models import IdempotencyKey, OtpPurpose, User
from accounts.tasks import purge_idempotency_keys
from installments.models import NegotiationApplication, PlanKind
from installments.services import negotiation_start_review
from repayments.ledger import ledger_breaches
from repayments.models import BankCard, Repayment, RepaymentStatus
from repayments.services import complaint_file
from simulators.bank import simulator_balance
from tests.api import idempotency_key as key
from tests.cards import CMB_DEBIT, ICBC_DEBIT
from tests.concurrency import at_once
from tests.installments.negotiation_support import PDF, make_pdf, send_offer

API = "/api/v1"

pytestmark = pytest.mark.usefixtures("fresh_throttles")


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == code, body


# --- auth -----------------------------------------------------------------------------------------------


def test_token_with_phone_and_password_then_refresh(db) -> None:
    User.objects.create_user("+8613812345678", "Api-pass-2026", real_name="张三")
    client = APIClient()
    assert_error(client.get(f"{API}/me/"), 401, "not_authenticated")
    wrong = client.post(f"{API}/auth/token/", {"phone": "13812345678", "password": "nope"}, format="json")
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "authentication_failed"
    tokens = client.post(
        f"{API}/auth/token/", {"phone": "13812345678", "password": "Api-pass-2026"}, format="json"
    )
    assert tokens.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    me = client.get(f"{API}/me/").json()
    assert me["phone"] == "138****5678"
    assert "5678" in me["phone"]
    assert "1234" not in me["phone"]
    refreshed = APIClient().post(
        f"{API}/auth/token/refresh/", {"refresh": tokens.json()["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert "access" in refreshed.json()
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert bad.get(f"{API}/me/").status_code == 401


# --- resources ------------------------------------------------------------------------------------------


def test_products_quotes_and_plans(api, flat_product) -> None:
    products = APIClient().get(f"{API}/products/").json()["results"]  # public
    assert products[0]["code"] == "baitiao"
    assert products[0]["fee_rate"] == "0.005000"
    quote = api.post(
        f"{API}/quotes/", {"product": "baitiao", "principal": "1200.00", "tenor": 12}, format="json"
    )
    assert quote.status_code == 200
    body = quote.json()
    assert body["total_fee"] == "72.00"
    assert body["apr_percent"] == "10.90"
    assert body["rows"][0]["total"] == "106.00"
    assert_error(
        api.post(f"{API}/quotes/", {"product": "baitiao", "principal": "1200.00", "tenor": 7}, format="json"),
        422,
        "tenor_not_offered",
    )
    assert_error(api.post(f"{API}/quotes/", {"product": "baitiao"}, format="json"), 400, "invalid_request")
    created = api.post(
        f"{API}/plans/",
        {"product": "baitiao", "principal": "1200.00", "tenor": 12, "merchant_order_ref": "JD-1"},
        format="json",
        **key(),
    )
    assert created.status_code == 201
    plan = created.json()
    assert len(plan["installments"]) == 12
    assert plan["principal"] == "1200.00"
    listed = api.get(f"{API}/plans/").json()
    assert [p["id"] for p in listed["results"]] == [plan["id"]]
    assert "next" in listed
    assert api.get(f"{API}/plans/{plan['id']}/").json()["installments"][0]["principal_due"] == "100.00"


def test_cards_bind_default_unbind(api, customer, codes) -> None:
    api.post(f"{API}/otp/", {"purpose": "bind_card"}, format="json")
    body = {"number": ICBC_DEBIT, "holder_name": customer.real_name, "reserved_phone": "13811112222"}
    bound = api.post(f"{API}/cards/", {**body, "otp_code": codes.codes[-1]}, format="json", **key())
    assert bound.status_code == 201
    assert ICBC_DEBIT not in bound.content.decode()
    assert bound.json()["last4"] == ICBC_DEBIT[-4:]
    codes.request(customer)
    second = api.post(
        f"{API}/cards/", {**body, "number": CMB_DEBIT, "otp_code": codes.codes[-1]}, format="json", **key()
    )
    second_id = second.json()["id"]
    assert api.post(f"{API}/cards/{second_id}/default/", **key()).json()["is_default"] is True
    assert len(api.get(f"{API}/cards/").json()["results"]) == 2
    assert api.delete(f"{API}/cards/{bound.json()['id']}/", **key()).status_code == 200
    assert BankCard.objects.filter(customer=customer, status="active").count() == 1


def test_auto_debit_bills_and_repayments(api, current_plan, card) -> None:
    plan_id = str(current_plan.public_id)
    assert api.get(f"{API}/plans/{plan_id}/auto-debit/").json() == {"enabled": False, "card_id": None}
    on = api.put(f"{API}/plans/{plan_id}/auto-debit/", {"enabled": True}, format="json", **key())
    assert on.json() == {"enabled": True, "card_id": str(card.public_id)}
    bills = api.get(f"{API}/bills/").json()["results"]
    assert bills[0]["plan_id"] == plan_id
    assert bills[0]["remaining"] == "1272.00"
    assert bills[0]["autodebit_enabled"]
    paid = api.post(
        f"{API}/repayments/",
        {"plan_id": plan_id, "mode": "custom", "amount": "50.00", "card_id": str(card.public_id)},
        format="json",
        **key(),
    )
    assert paid.status_code == 201
    assert paid.json()["status"] == "succeeded"
    assert paid.json()["amount"] == "50.00"
    scheduled = api.post(
        f"{API}/repayments/",
        {
            "plan_id": plan_id,
            "mode": "custom",
            "amount": "20.00",
            "card_id": str(card.public_id),
            "scheduled_for": current_plan.first_due_date.isoformat(),
        },
        format="json",
        **key(),
    ).json()
    assert scheduled["status"] == "scheduled"
    assert len(api.get(f"{API}/repayments/").json()["results"]) == 2
    assert [r["status"] for r in api.get(f"{API}/repayments/?status=scheduled").json()["results"]] == [
        "scheduled"
    ]
    assert api.get(f"{API}/repayments/?plan={uuid.uuid4()}").json()["results"] == []
    assert_error(api.get(f"{API}/repayments/?date_from=yesterday"), 400, "invalid_request")
    cancelled = api.post(f"{API}/repayments/{scheduled['id']}/cancel/", **key())
    assert cancelled.json()["status"] == "cancelled"
    assert api.get(f"{API}/repayments/{paid.json()['id']}/").json()["amount"] == "50.00"


def test_payment_refusals_have_stable_codes(api, current_plan, card) -> None:
    body = {"plan_id": str(current_plan.public_id), "mode": "custom", "card_id": str(card.public_id)}
    assert_error(
        api.post(f"{API}/repayments/", {**body, "amount": "99999.00"}, format="json", **key()),
        422,
        "amount_exceeds_outstanding",
    )
    assert_error(
        api.post(f"{API}/repayments/", {**body, "amount": 1.5}, format="json", **key()),
        400,
        "invalid_request",
    )
    assert_error(
        api.post(f"{API}/repayments/", {**body, "amount": "1.234"}, format="json", **key()),
        400,
        "invalid_amount",
    )
    assert not Repayment.objects.exists()


def test_reinstallment_quote_and_apply(api, current_plan, overdue_plan, codes) -> None:
    quote = api.get(f"{API}/plans/{current_plan.public_id}/reinstallment-quotes/").json()
    assert quote["new_principal"] == "1200.00"
    assert quote["options"][0]["schedule"]["rows"]
    assert_error(
        api.get(f"{API}/plans/{overdue_plan.public_id}/reinstallment-quotes/"), 422, "overdue_beyond_grace"
    )
    api.post(f"{API}/otp/", {"purpose": OtpPurpose.RESTAGE}, format="json")
    created = api.post(
        f"{API}/reinstallments/",
        {"plan_id": str(current_plan.public_id), "tenor": 24, "otp_code": codes.codes[-1]},
        format="json",
        **key(),
    )
    assert created.status_code == 201
    assert created.json()["kind"] == PlanKind.SECONDARY
    assert created.json()["source_plan_id"] == str(current_plan.public_id)


def test_negotiation_apply_upload_offer_accept(api, late_plan, agent, codes) -> None:
    applied = api.post(
        f"{API}/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": "6000.00",
            "requested_tenor": 12,
            "documents": [SimpleUploadedFile("payslip.pdf", PDF)],
        },
        format="multipart",
        **key(),
    )
    assert applied.status_code == 201, applied.content
    application_id = applied.json()["id"]
    assert applied.json()["documents"][0]["content_type"] == "application/pdf"
    bad = api.post(
        f"{API}/negotiations/{application_id}/documents/",
        {"document": SimpleUploadedFile("x.pdf", b"GIF89a....")},
        format="multipart",
        **key(),
    )
    assert_error(bad, 422, "unsupported_file_type")
    application = NegotiationApplication.objects.get(public_id=application_id)
    negotiation_start_review(staff=agent, application=application)
    send_offer(agent, application)
    detail = api.get(f"{API}/negotiations/{application_id}/").json()
    assert detail["state"] == "offered"
    assert detail["offer"]["tenor"] == 12
    assert len(detail["offer_schedule"]["rows"]) == 12
    api.post(f"{API}/otp/", {"purpose": OtpPurpose.ACCEPT_NEGOTIATION}, format="json")
    accepted = api.post(
        f"{API}/negotiations/{application_id}/accept/", {"otp_code": codes.codes[-1]}, format="json", **key()
    )
    assert accepted.status_code == 201
    assert accepted.json()["kind"] == PlanKind.NEGOTIATED


def test_notifications_inbox(api, customer, codes) -> None:
    codes.request(customer)
    inbox = api.get(f"{API}/notifications/").json()
    assert inbox["results"][0]["template_code"] == "otp"


# --- idempotency ----------------------------------------------------------------------------------------


def test_idempotency_semantics(api, customer, current_plan, card) -> None:
    url = f"{API}/repayments/"
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "10.00",
        "card_id": str(card.public_id),
    }
    assert_error(api.post(url, body, format="json"), 400, "idempotency_key_required")
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Repayment.objects.count() == 1
    assert_error(
        api.post(url, {**body, "amount": "11.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"),
        422,
        "idempotency_key_reused",
    )
    IdempotencyKey.objects.create(user=customer, key="k-2", method="POST", path=url, fingerprint="x")
    running = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert running.status_code in (409, 422)
    # A running key with the same body is "in progress".
    IdempotencyKey.objects.filter(key="k-2").delete()
    probe = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    record = IdempotencyKey.objects.get(key="k-3")
    record.state, record.response_status = IdempotencyKey.State.RUNNING, None
    record.save()
    assert_error(
        api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-3"), 409, "idempotency_key_in_progress"
    )
    assert probe.status_code == 201
    assert callable(_fingerprint)
    # Keys are per user: another customer may use the same key string.
    other = User.objects.create_user("+8613911110000", "x-Pass-2026", real_name="李四")
    other_client = APIClient()
    other_client.force_authenticate(other)
    assert_error(other_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"), 404, "not_found")


def test_errors_are_not_kept_when_the_request_can_succeed_later(api, current_plan, card) -> None:
    url = f"{API}/repayments/"
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "10.00",
        "card_id": str(card.public_id),
    }
    assert api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert IdempotencyKey.objects.get(key="same").state == "done"


def test_old_keys_are_purged(customer) -> None:
    IdempotencyKey.objects.create(
        user=customer,
        key="old",
        method="POST",
        path="/",
        fingerprint="f",
        created_at=timezone.now() - timedelta(hours=49),
    )
    IdempotencyKey.objects.create(user=customer, key="new", method="POST", path="/", fingerprint="f")
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


# --- BOLA: every route with an id, another customer's objects answer 404 ---------------------------------


def test_bola_matrix_from_the_schema(
    api, customer, other_customer, current_plan, card, late_plan, agent
) -> None:
    repayment = Repayment.objects.create(
        customer=customer,
        plan=current_plan,
        amount=Decimal("1.00"),
        mode="custom",
        channel="api",
        card=card,
        idempotency_key="bola",
        status=RepaymentStatus.SCHEDULED,
        scheduled_for=current_plan.first_due_date,
    )
    application = NegotiationApplication.objects.create(
        customer=customer, plan=late_plan, reason="other", reason_detail="x", requested_tenor=12
    )
    complaint = complaint_file(customer=customer, channel="api", category="fees", text="x")
    ids = {
        "cards": card.public_id,
        "plans": current_plan.public_id,
        "repayments": repayment.public_id,
        "negotiations": application.public_id,
        "complaints": complaint.public_id,
    }
    schema = SchemaGenerator().get_schema(request=None, public=True)
    intruder = APIClient()
    intruder.force_authenticate(other_customer)
    walked = 0
    for path, operations in schema["paths"].items():
        if "{public_id}" not in path:
            continue
        resource = path.split("/")[3]
        url = path.replace("{public_id}", str(ids[resource]))
        for method in operations:
            response = getattr(intruder, method)(url, {}, format="json", **key())
            assert response.status_code == 404, (method, url, response.status_code)
            walked += 1
    assert walked >= 12
    # Nothing of the owner's changed.
    card.refresh_from_db()
    repayment.refresh_from_db()
    assert card.status == "active"
    assert repayment.status == RepaymentStatus.SCHEDULED
    assert reverse("api_v1:plans") == f"{API}/plans/"


# --- throttles ------------------------------------------------------------------------------------------


def test_throttles_answer_429(api, monkeypatch, customer) -> None:
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "otp": "2/min", "login": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    for _ in range(2):
        api.post(f"{API}/otp/", {"purpose": "nonsense"}, format="json")
    assert_error(api.post(f"{API}/otp/", {"purpose": "bind_card"}, format="json"), 429, "throttled")
    anonymous = APIClient()
    for _ in range(2):
        anonymous.post(f"{API}/auth/token/", {"phone": "13800000000", "password": "x"}, format="json")
    assert_error(
        anonymous.post(f"{API}/auth/token/", {"phone": "1", "password": "x"}, format="json"), 429, "throttled"
    )


# --- schema and docs ------------------------------------------------------------------------------------


def test_schema_and_docs_use_local_assets(client, db) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/repayments/" in text
    assert "Idempotency-Key" in text
    assert re.search(r"amount_exceeds_outstanding", text)
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower()
    assert "/static/drf_spectacular_sidecar/" in docs


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_charge_once(customer, card, current_plan) -> None:
    before = simulator_balance(card.gateway_token)
    body = {
        "plan_id": str(current_plan.public_id),
        "mode": "custom",
        "amount": "25.00",
        "card_id": str(card.public_id),
    }

    def call(_: int) -> int:
        client = APIClient()
        client.force_authenticate(customer)
        response = client.post(f"{API}/repayments/", body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")
        return response.status_code

    statuses = at_once(20, call)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    assert Repayment.objects.count() == 1
    assert simulator_balance(card.gateway_token) == before - Decimal("25.00")
    assert list(ledger_breaches()) == []
    # Once it is done, the same key replays the one repayment.
    client = APIClient()
    client.force_authenticate(customer)
    replay = client.post(f"{API}/repayments/", body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


def test_the_purge_task_runs_the_purge(customer) -> None:
    IdempotencyKey.objects.create(
        user=customer,
        key="old",
        method="POST",
        path="/",
        fingerprint="f",
        created_at=timezone.now() - timedelta(days=3),
    )
    assert purge_idempotency_keys.apply().get() == 1
    assert not IdempotencyKey.objects.exists()


def test_a_document_above_django_s_memory_limit_uploads_through_the_api(api, late_plan) -> None:
    big = make_pdf(content=b"BT ET" + b" " * (3 * 1024 * 1024))  # 3 MB: above DATA_UPLOAD_MAX_MEMORY_SIZE
    body = {
        "plan_id": str(late_plan.public_id),
        "reason": "income_drop",
        "monthly_income": "6000.00",
        "requested_tenor": 12,
        "documents": [SimpleUploadedFile("big.pdf", big)],
    }
    response = api.post(f"{API}/negotiations/", body, format="multipart", HTTP_IDEMPOTENCY_KEY="big-upload")
    assert response.status_code == 201, response.content
    assert response.json()["documents"][0]["size"] == len(big)
    body["documents"] = [SimpleUploadedFile("big.pdf", big)]
    replay = api.post(f"{API}/negotiations/", body, format="multipart", HTTP_IDEMPOTENCY_KEY="big-upload")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"

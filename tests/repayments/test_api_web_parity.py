"""Issue 18 through the REST API, level with the web: 二次分期 confirmed with an SMS code and only among the
options the quote shows (``plan_restage_confirmed``, the web's service), the account's language read and
changed (``language_set``), 协商还款 with "what can you pay each month" and the auto-debit tick, and a
decline that stays one call with the confirmation left to the client (said in the schema)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import OneTimeCode, OtpPurpose, User
from installments.models import InstallmentPlan, NegotiationApplication, NegotiationState, PlanKind
from repayments.models import AutoDebitMandate
from tests.api import idempotency_key as key
from tests.installments.negotiation_support import PDF, apply, offered

API = "/api/v1"

pytestmark = pytest.mark.usefixtures("fresh_throttles")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


def restage(api: APIClient, plan: InstallmentPlan, **body) -> object:
    return api.post(
        f"{API}/reinstallments/", {"plan_id": str(plan.public_id), **body}, format="json", **key()
    )


def send_restage_code(api: APIClient, codes) -> str:
    sent = api.post(f"{API}/otp/", {"purpose": "restage"}, format="json")
    assert sent.status_code == 202, sent.content
    return codes.codes[-1]


def operation(path: str, method: str) -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)["paths"][path][method]


# --- 二次分期 --------------------------------------------------------------------------------------------


def test_the_quote_shows_the_dropped_option_apart(api, current_plan) -> None:
    # current_plan: 12 -> 12 costs 14.40 more at 107.20 a month, no lower payment: left out (see
    # tests/installments/test_restage_confirm.py for the figures).
    quote = api.get(f"{API}/plans/{current_plan.public_id}/reinstallment-quotes/").json()
    assert [o["tenor"] for o in quote["options"]] == [6, 24]
    assert [(o["tenor"], o["extra_cost"], o["monthly_payment"]) for o in quote["dropped"]] == [
        (12, "14.40", "107.20")
    ]


def test_restaging_needs_the_sms_code(api, customer, current_plan, codes) -> None:
    missing = assert_error(restage(api, current_plan, tenor=24), 400, "invalid_request")
    assert "otp_code" in missing["fields"]
    assert_error(restage(api, current_plan, tenor=24, otp_code="123456"), 422, "otp_not_requested")
    right = send_restage_code(api, codes)
    wrong = "000000" if right != "000000" else "111111"
    assert_error(restage(api, current_plan, tenor=24, otp_code=wrong), 422, "otp_invalid")
    assert OneTimeCode.objects.get(user=customer, purpose=OtpPurpose.RESTAGE).attempts == 1
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()
    created = restage(api, current_plan, tenor=24, otp_code=right)
    assert created.status_code == 201, created.content
    assert created.json()["kind"] == PlanKind.SECONDARY
    assert created.json()["tenor"] == 24
    assert InstallmentPlan.objects.get(source_plan=current_plan).public_id == uuid.UUID(created.json()["id"])


def test_a_code_for_another_purpose_does_not_restage(api, current_plan, codes) -> None:
    api.post(f"{API}/otp/", {"purpose": OtpPurpose.ACCEPT_NEGOTIATION}, format="json")
    assert_error(restage(api, current_plan, tenor=24, otp_code=codes.codes[-1]), 422, "otp_not_requested")
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()


def test_a_dropped_option_is_refused_before_the_code_is_spent(api, customer, current_plan, codes) -> None:
    code = send_restage_code(api, codes)
    refused = assert_error(restage(api, current_plan, tenor=12, otp_code=code), 422, "tenor_not_offered")
    assert "tenor" in refused["fields"]
    assert_error(restage(api, current_plan, tenor=7, otp_code=code), 422, "tenor_not_offered")
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()
    otp = OneTimeCode.objects.get(user=customer, purpose=OtpPurpose.RESTAGE)
    assert otp.used_at is None
    assert otp.attempts == 0
    # The same code still confirms an option the quote shows.
    assert restage(api, current_plan, tenor=6, otp_code=code).status_code == 201


def test_an_ineligible_plan_answers_the_quote_s_reason(api, overdue_plan, codes) -> None:
    code = send_restage_code(api, codes)
    assert_error(restage(api, overdue_plan, tenor=24, otp_code=code), 422, "overdue_beyond_grace")


def test_the_schema_documents_the_code_and_the_refusals(db) -> None:
    post = operation("/api/v1/reinstallments/", "post")
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"][ref]
    assert {"plan_id", "tenor", "otp_code"} <= set(body["required"])
    for word in ("restage", "tenor_not_offered", "otp_invalid", "dropped"):
        assert word in post["description"], word
    info = SchemaGenerator().get_schema(request=None, public=True)["info"]
    assert info["version"] == "1.1.0"
    assert "POST /reinstallments/ needs `otp_code`" in info["description"]


# --- language --------------------------------------------------------------------------------------------


def test_the_account_s_language_is_read_and_changed(api, customer, current_plan, card) -> None:
    assert api.get(f"{API}/me/").json()["language"] == "zh-hans"
    changed = api.patch(f"{API}/me/", {"language": "en"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["language"] == "en"
    customer.refresh_from_db()
    assert customer.language == User.Language.EN
    assert api.get(f"{API}/me/").json()["language"] == "en"
    # From the next request on, messages without Accept-Language are in the account's language.
    body = {"plan_id": str(current_plan.public_id), "mode": "custom", "amount": "99999.00"}
    refused = api.post(f"{API}/repayments/", {**body, "card_id": str(card.public_id)}, format="json", **key())
    assert refused.json()["message"].startswith("The most you can pay"), refused.json()
    # The same again changes nothing and answers the same.
    assert api.patch(f"{API}/me/", {"language": "en"}, format="json").json()["language"] == "en"
    assert api.patch(f"{API}/me/", {"language": "zh-hans"}, format="json").json()["language"] == "zh-hans"


@pytest.mark.parametrize("language", ["fr", "zh-Hant", "", "EN", None])
def test_an_unknown_language_is_refused_with_a_stable_code(api, customer, language) -> None:
    refused = assert_error(
        api.patch(f"{API}/me/", {"language": language}, format="json"), 400, "invalid_request"
    )
    assert "language" in refused["fields"]
    customer.refresh_from_db()
    assert customer.language == User.Language.ZH_HANS


def test_an_empty_patch_changes_nothing(api, customer) -> None:
    unchanged = api.patch(f"{API}/me/", {}, format="json")
    assert unchanged.status_code == 200, unchanged.content
    assert unchanged.json()["language"] == "zh-hans"
    customer.refresh_from_db()
    assert customer.language == User.Language.ZH_HANS


def test_changing_the_language_needs_a_signed_in_customer(db) -> None:
    assert_error(APIClient().patch(f"{API}/me/", {"language": "en"}, format="json"), 401, "not_authenticated")


def test_the_schema_publishes_the_languages(db) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    patch = schema["paths"]["/api/v1/me/"]["patch"]
    ref = patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    language = schema["components"]["schemas"][ref]["properties"]["language"]
    enum_ref = language.get("$ref") or language["allOf"][0]["$ref"]
    assert set(schema["components"]["schemas"][enum_ref.rsplit("/", 1)[-1]]["enum"]) == {"zh-hans", "en"}


# --- 协商还款 --------------------------------------------------------------------------------------------


def apply_through_api(api: APIClient, plan: InstallmentPlan, **extra) -> object:
    body = {
        "plan_id": str(plan.public_id),
        "reason": "income_drop",
        "monthly_income": "6000.00",
        "requested_tenor": 12,
        "documents": [SimpleUploadedFile("payslip.pdf", PDF)],
        **extra,
    }
    return api.post(f"{API}/negotiations/", body, format="multipart", **key())


def test_applying_takes_and_returns_what_the_customer_can_pay(api, late_plan) -> None:
    refused = apply_through_api(api, late_plan, affordable_monthly_payment="0.00")
    body = assert_error(refused, 422, "invalid_application")
    assert set(body["fields"]) == {"affordable_monthly_payment"}
    assert_error(apply_through_api(api, late_plan, affordable_monthly_payment="8e2"), 400, "invalid_amount")
    assert not NegotiationApplication.objects.exists()
    applied = apply_through_api(api, late_plan, affordable_monthly_payment="800.00")
    assert applied.status_code == 201, applied.content
    assert applied.json()["affordable_monthly_payment"] == "800.00"
    application = NegotiationApplication.objects.get()
    assert application.affordable_monthly_payment == Decimal("800.00")
    listed = api.get(f"{API}/negotiations/").json()["results"]
    assert listed[0]["affordable_monthly_payment"] == "800.00"


def test_applying_without_it_leaves_it_empty(api, late_plan) -> None:
    applied = apply_through_api(api, late_plan)
    assert applied.status_code == 201, applied.content
    assert applied.json()["affordable_monthly_payment"] is None


def accept(api: APIClient, application: NegotiationApplication, codes, **extra) -> object:
    api.post(f"{API}/otp/", {"purpose": OtpPurpose.ACCEPT_NEGOTIATION}, format="json")
    return api.post(
        f"{API}/negotiations/{application.public_id}/accept/",
        {"otp_code": codes.codes[-1], **extra},
        format="json",
        **key(),
    )


def test_accepting_with_the_tick_turns_auto_debit_on_for_the_new_plan(
    api, late_plan, card, agent, codes
) -> None:
    application = offered(apply(late_plan), agent)
    offer = api.get(f"{API}/negotiations/{application.public_id}/").json()["offer"]
    assert offer["autodebit_card"] == str(card)
    assert card.last4 in offer["autodebit_card"]
    accepted = accept(api, application, codes, autodebit=True)
    assert accepted.status_code == 201, accepted.content
    new_plan = InstallmentPlan.objects.get(public_id=accepted.json()["id"])
    assert new_plan.kind == PlanKind.NEGOTIATED
    mandate = AutoDebitMandate.objects.get(plan=new_plan)
    assert mandate.enabled
    assert mandate.card == card
    assert api.get(f"{API}/plans/{new_plan.public_id}/auto-debit/").json() == {
        "enabled": True,
        "card_id": str(card.public_id),
    }


def test_accepting_without_the_tick_leaves_auto_debit_off(api, late_plan, card, agent, codes) -> None:
    application = offered(apply(late_plan), agent)
    accepted = accept(api, application, codes)
    assert accepted.status_code == 201, accepted.content
    new_plan = InstallmentPlan.objects.get(public_id=accepted.json()["id"])
    assert not AutoDebitMandate.objects.filter(plan=new_plan, enabled=True).exists()


def test_the_tick_with_no_card_still_accepts(api, late_plan, agent, codes) -> None:
    application = offered(apply(late_plan), agent)
    assert api.get(f"{API}/negotiations/{application.public_id}/").json()["offer"]["autodebit_card"] is None
    accepted = accept(api, application, codes, autodebit=True)
    assert accepted.status_code == 201, accepted.content
    assert not AutoDebitMandate.objects.filter(plan__public_id=accepted.json()["id"]).exists()


def test_declining_is_one_call_and_the_schema_says_the_client_confirms(api, late_plan, agent) -> None:
    application = offered(apply(late_plan), agent)
    declined = api.post(f"{API}/negotiations/{application.public_id}/decline/", **key())
    assert declined.status_code == 200, declined.content
    assert declined.json()["state"] == NegotiationState.DECLINED
    description = operation("/api/v1/negotiations/{public_id}/decline/", "post")["description"]
    assert "final" in description
    assert "confirm on its side" in description

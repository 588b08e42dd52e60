"""Payment holidays on every surface: the staff workspace (an agent with only the agent group proposes from
the customer workspace; approvers approve or reject, never their own; the list reads in words), the
customer's web page (from the plan page, accepted with an SMS code) and the API (read, accept with an
Idempotency-Key, decline; another customer's plan is a 404)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import OtpPurpose, StaffAction
from core.ids import short_ref
from installments.models import HolidayFeePolicy, HolidayState, PaymentHoliday
from installments.schedules import add_months
from installments.services import holiday_propose, plan_create
from repayments.models import Repayment, RepaymentStatus
from repayments.staff import AGENT, APPROVER, LEAD
from tests.api import idempotency_key
from tests.factories import StaffFactory

ADD = "admin:installments_paymentholiday_add"
API = "/api/v1"


def _form(plan, periods: int = 1) -> dict[str, object]:
    return {"plan": plan.pk, "periods": periods, "reason": "illness", "note": "in hospital"}


def _offer(plan, agent, periods: int = 1) -> PaymentHoliday:
    return holiday_propose(plan=plan, periods=periods, reason="illness", note="", actor=agent)


# --- the staff workspace ------------------------------------------------------------------------------------


def test_an_agent_proposes_from_the_customer_workspace(client, current_plan) -> None:
    agent = StaffFactory(groups=[AGENT])  # the agent group and nothing else
    client.force_login(agent)
    workspace = client.get(
        reverse("admin:support_customer", args=[current_plan.customer_id])
    ).content.decode()
    url = reverse(ADD) + f"?customer={current_plan.customer_id}&plan={current_plan.pk}"
    assert url.replace("&", "&amp;") in workspace
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert f'<option value="{current_plan.pk}" selected>' in text
    assert add_months(current_plan.first_due_date, 1).isoformat() in text  # the quote per period count
    done = client.post(url, _form(current_plan))
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:support_customer", args=[current_plan.customer_id])
    holiday = PaymentHoliday.objects.get()
    assert holiday.state == HolidayState.OFFERED
    assert holiday.proposed_by == agent
    waiting = client.post(url, _form(current_plan, 2))
    assert waiting.status_code == 200  # one open per plan: refused on the form
    assert "errorlist" in waiting.content.decode()
    # The list reads in words, amounts as money.
    listing = client.get(reverse("admin:installments_paymentholiday_changelist"))
    assert listing.status_code == 200
    assert "¥0.00" in listing.content.decode()
    detail = client.get(reverse("admin:installments_paymentholiday_change", args=[holiday.pk]))
    assert detail.status_code == 200
    # An agent cannot approve.
    assert (
        client.get(reverse("admin:installments_paymentholiday_approve", args=[holiday.pk])).status_code == 403
    )


def test_an_agent_sees_no_approve_page_and_a_finance_user_no_holiday_button(client, current_plan) -> None:
    finance = StaffFactory(groups=["finance"])
    client.force_login(finance)
    assert client.get(reverse(ADD)).status_code == 403


@pytest.mark.parametrize("group", [APPROVER, LEAD])
def test_approvers_and_leads_approve_and_reject_but_not_their_own(
    client, group, current_plan, settings
) -> None:
    agent = StaffFactory(groups=[AGENT])
    first = _offer(current_plan, agent, periods=2)
    assert first.state == HolidayState.AWAITING_APPROVAL
    checker = StaffFactory(groups=[group])
    client.force_login(checker)
    listing = client.get(reverse("admin:installments_paymentholiday_changelist")).content.decode()
    approve = reverse("admin:installments_paymentholiday_approve", args=[first.pk])
    assert approve in listing
    assert client.get(approve).status_code == 200
    reject = reverse("admin:installments_paymentholiday_reject", args=[first.pk])
    assert client.post(reject, {"note": "no income proof"}).status_code == 302
    assert PaymentHoliday.objects.get(pk=first.pk).state == HolidayState.REJECTED
    second = _offer(current_plan, agent, periods=3)
    assert (
        client.post(reverse("admin:installments_paymentholiday_approve", args=[second.pk]), {}).status_code
        == 302
    )
    second.refresh_from_db()
    assert second.state == HolidayState.OFFERED
    assert second.approved_by == checker
    # Their own proposal (on another plan): refused on the form.
    other = plan_create(
        customer=current_plan.customer,
        product=current_plan.product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=current_plan.purchase_date,
    )
    own = _offer(other, checker, periods=2)
    refused = client.post(reverse("admin:installments_paymentholiday_approve", args=[own.pk]), {})
    assert refused.status_code == 200
    assert "errorlist" in refused.content.decode()
    assert PaymentHoliday.objects.get(pk=own.pk).state == HolidayState.AWAITING_APPROVAL
    actions = set(StaffAction.objects.filter(staff=checker).values_list("action", flat=True))
    assert actions == {"holiday_rejected", "holiday_approved", "holiday_proposed"}


# --- the customer's web page --------------------------------------------------------------------------------


def test_the_plan_page_shows_the_offer_and_the_customer_accepts_with_a_code(
    signed_in, current_plan, agent, codes
) -> None:
    plan_page = reverse("repayments:plan", args=[current_plan.public_id])
    assert 'id="plan-holiday"' not in signed_in.get(plan_page).content.decode()
    _offer(current_plan, agent)
    shown = signed_in.get(plan_page).content.decode()
    assert 'id="plan-holiday"' in shown
    url = reverse("installments:holiday", args=[current_plan.public_id])
    assert url in shown
    page = signed_in.get(url).content.decode()
    assert 'id="holiday-terms"' in page
    wrong = signed_in.post(url, {"action": "accept", "code": "000000"})
    assert wrong.status_code == 200
    assert PaymentHoliday.objects.get().state == HolidayState.OFFERED
    sent = signed_in.post(url, {"action": "send_code"})
    assert sent.status_code == 200
    code = codes.codes[-1]
    done = signed_in.post(url, {"action": "accept", "code": code})
    assert done.status_code == 302
    assert done["Location"] == plan_page
    assert PaymentHoliday.objects.get().state == HolidayState.APPLIED


def test_the_short_link_opens_the_holiday_page_for_its_customer_only(
    client, signed_in, current_plan, other_customer, agent
) -> None:
    _offer(current_plan, agent)
    link = reverse("installments:holiday_link", args=[short_ref(current_plan.public_id)])
    answer = signed_in.get(link)
    assert answer.status_code == 302
    assert answer["Location"] == reverse("installments:holiday", args=[current_plan.public_id])
    client.force_login(other_customer)
    assert client.get(link).status_code == 404
    assert client.get(reverse("installments:holiday", args=[current_plan.public_id])).status_code == 404


def test_decline_asks_first(signed_in, current_plan, agent) -> None:
    _offer(current_plan, agent)
    url = reverse("installments:holiday", args=[current_plan.public_id])
    asked = signed_in.post(url, {"action": "decline"}).content.decode()
    assert 'id="holiday-decline-confirm"' in asked
    assert PaymentHoliday.objects.get().state == HolidayState.OFFERED
    done = signed_in.post(url, {"action": "decline_confirm", "confirm": "yes"})
    assert done.status_code == 302
    assert PaymentHoliday.objects.get().state == HolidayState.DECLINED


# --- the API ------------------------------------------------------------------------------------------------


@pytest.fixture
def api(customer) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer)
    return client


def test_api_reads_and_accepts_with_an_idempotency_key(api, current_plan, agent, codes) -> None:
    product = current_plan.product
    product.holiday_fee_policy = HolidayFeePolicy.PERIOD_FEE
    product.save(update_fields=["holiday_fee_policy"])
    base = f"{API}/plans/{current_plan.public_id}/holiday/"
    none = api.get(base)
    assert none.status_code == 404
    assert none.json()["code"] == "holiday_not_found"
    _offer(current_plan, agent)
    shown = api.get(base).json()
    assert shown["state"] == "offered"
    assert shown["fee"] == "6.00"
    assert shown["periods"] == 1
    sent = api.post(f"{API}/otp/", {"purpose": OtpPurpose.ACCEPT_HOLIDAY}, format="json")
    assert sent.status_code in (200, 201, 202), sent.content
    key = idempotency_key()
    assert (
        api.post(f"{base}accept/", {"otp_code": "000000"}, format="json", **idempotency_key()).status_code
        == 422
    )
    done = api.post(f"{base}accept/", {"otp_code": codes.codes[-1]}, format="json", **key)
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "applied"
    again = api.post(f"{base}accept/", {"otp_code": codes.codes[-1]}, format="json", **key)
    assert again.status_code == 200
    assert again.json() == done.json()  # replayed, not applied twice
    current_plan.refresh_from_db()
    assert current_plan.installments.get(sequence=1).fee_due == Decimal("12.00")
    assert not api.post(f"{base}accept/", {"otp_code": "1"}, format="json").status_code == 200  # key required


def test_api_another_customers_plan_is_404(current_plan, other_customer, agent) -> None:
    _offer(current_plan, agent)
    client = APIClient()
    client.force_authenticate(other_customer)
    base = f"{API}/plans/{current_plan.public_id}/holiday/"
    assert client.get(base).status_code == 404
    refused = client.post(f"{base}accept/", {"otp_code": "123456"}, format="json", **idempotency_key())
    assert refused.status_code == 404
    assert client.post(f"{base}decline/", {}, format="json", **idempotency_key()).status_code == 404
    assert PaymentHoliday.objects.get().state == HolidayState.OFFERED


def test_api_payment_in_flight_is_409(api, current_plan, card, agent, codes) -> None:
    _offer(current_plan, agent)
    Repayment.objects.create(
        customer=current_plan.customer,
        plan=current_plan,
        amount=Decimal("106.00"),
        mode="due_now",
        channel="auto_debit",
        card=card,
        idempotency_key="in-flight",
        status=RepaymentStatus.PENDING,
    )
    code = codes.request(current_plan.customer, OtpPurpose.ACCEPT_HOLIDAY)
    base = f"{API}/plans/{current_plan.public_id}/holiday/"
    answer = api.post(f"{base}accept/", {"otp_code": code}, format="json", **idempotency_key())
    assert answer.status_code == 409
    assert answer.json()["code"] == "payment_in_progress"


def test_api_decline(api, current_plan, agent) -> None:
    _offer(current_plan, agent)
    base = f"{API}/plans/{current_plan.public_id}/holiday/"
    answer = api.post(f"{base}decline/", {}, format="json", **idempotency_key())
    assert answer.status_code == 200
    assert answer.json()["state"] == "declined"

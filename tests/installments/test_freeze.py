"""Hardship freeze (暂停计息): started with a 协商 application in the same transaction, ended by the
application's outcome, by staff or after FREEZE_MAX_DAYS in the daily run; once in 12 months per plan;
staff hardship freezes audited; no overdue SMS and no auto-debit (unless opted in) while frozen."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OtpPurpose, StaffAction
from core.errors import ApplicationError
from installments.freezes import open_freeze
from installments.models import (
    FREEZE_MAX_DAYS,
    CollectionCase,
    FreezeEnd,
    FreezeReason,
    InstallmentPlan,
    NegotiationApplication,
    NegotiationState,
    PlanFreeze,
    PlanStatus,
)
from installments.services import (
    freezes_expire,
    hardship_freeze_end,
    hardship_freeze_open,
    negotiation_accept,
    negotiation_decline,
    negotiation_reject,
    negotiation_withdraw,
    negotiations_expire,
    plan_freeze_end,
    plan_freeze_start,
)
from repayments.services import day_open, repayment_create
from repayments.staff import FINANCE
from tests.factories import StaffFactory
from tests.installments.negotiation_support import apply, offered, upload

D = Decimal


def _freeze(plan: InstallmentPlan) -> PlanFreeze:
    return PlanFreeze.objects.get(plan=plan)


def test_submitting_an_application_freezes_the_plan_in_the_same_transaction(late_plan) -> None:
    today = timezone.localdate()
    application = apply(late_plan, autodebit_opt_in=True)
    freeze = _freeze(late_plan)
    assert freeze.application == application
    assert freeze.reason == FreezeReason.NEGOTIATION
    assert freeze.self_started
    assert freeze.created_by is None
    assert (freeze.started_on, freeze.planned_end, freeze.ended_on) == (
        today,
        today + timedelta(days=FREEZE_MAX_DAYS),
        None,
    )
    assert freeze.autodebit_opt_in is True
    assert open_freeze(late_plan.pk, today=today) == freeze


def test_a_failing_submit_leaves_no_freeze(late_plan) -> None:
    with pytest.raises(ApplicationError):
        apply(late_plan, documents=[upload("payslip.pdf", b"not a pdf at all")])
    assert not NegotiationApplication.objects.filter(plan=late_plan).exists()
    assert not PlanFreeze.objects.exists()


def test_auto_debit_is_off_during_the_review_by_default(late_plan) -> None:
    apply(late_plan)
    assert _freeze(late_plan).autodebit_opt_in is False


def _accept(application, codes) -> InstallmentPlan:
    customer = application.customer
    return negotiation_accept(
        customer=customer,
        application_id=application.public_id,
        otp_code=codes.request(customer, OtpPurpose.ACCEPT_NEGOTIATION),
    )


def test_acceptance_ends_the_freeze_with_the_new_plan(late_plan, agent, codes) -> None:
    application = offered(apply(late_plan), agent)
    _accept(application, codes)
    freeze = _freeze(late_plan)
    assert (freeze.ended_on, freeze.end_reason) == (timezone.localdate(), FreezeEnd.ACCEPTED)


def test_rejection_ends_the_freeze(late_plan, agent) -> None:
    application = apply(late_plan)
    negotiation_reject(staff=agent, application=application, reason="not_eligible")
    freeze = _freeze(late_plan)
    assert (freeze.ended_on, freeze.end_reason) == (timezone.localdate(), FreezeEnd.REJECTED)
    assert open_freeze(late_plan.pk, today=timezone.localdate()) is None


def test_an_expired_offer_ends_the_freeze(late_plan, agent) -> None:
    application = offered(apply(late_plan), agent)
    later = timezone.now() + timedelta(days=8)
    assert negotiations_expire(now=later) == 1
    freeze = _freeze(late_plan)
    assert (freeze.ended_on, freeze.end_reason) == (timezone.localdate(later), FreezeEnd.EXPIRED)
    application.refresh_from_db()
    assert application.state == NegotiationState.EXPIRED


def test_declining_the_offer_or_withdrawing_ends_the_freeze(late_plan, agent) -> None:
    application = offered(apply(late_plan), agent)
    negotiation_decline(customer=late_plan.customer, application_id=application.public_id)
    assert _freeze(late_plan).end_reason == FreezeEnd.WITHDRAWN


def test_withdrawing_an_application_under_review_ends_its_freeze(overdue_plan, other_customer) -> None:
    application = apply(overdue_plan)
    with pytest.raises(ApplicationError):  # another customer's application: not found
        negotiation_withdraw(customer=other_customer, application_id=application.public_id)
    negotiation_withdraw(customer=overdue_plan.customer, application_id=application.public_id)
    application.refresh_from_db()
    assert application.state == NegotiationState.DECLINED
    assert application.events.filter(action="withdrawn").exists()
    assert _freeze(overdue_plan).end_reason == FreezeEnd.WITHDRAWN


def test_one_self_started_freeze_per_plan_in_12_months(late_plan, agent) -> None:
    first = apply(late_plan)
    negotiation_reject(staff=agent, application=first, reason="not_eligible")
    # A second application within 12 months is submitted, without a freeze, and says why.
    second = apply(late_plan)
    assert second.state == NegotiationState.SUBMITTED
    assert not second.freezes.exists()
    assert second.events.filter(action="not_frozen", data__reason="freeze_once_a_year").exists()
    assert PlanFreeze.objects.filter(plan=late_plan).count() == 1
    negotiation_reject(staff=agent, application=second, reason="not_eligible")
    # Staff may still open a hardship freeze; 12 months after the first, the customer's own works again.
    today = timezone.localdate()
    with time_machine.travel(timezone.now() + timedelta(days=366)):
        freeze = plan_freeze_start(
            plan=late_plan, reason=FreezeReason.NEGOTIATION, today=today + timedelta(366)
        )
        assert freeze.self_started


def test_one_open_freeze_per_plan(late_plan, agent) -> None:
    today = timezone.localdate()
    hardship_freeze_open(staff=agent, plan=late_plan, note="hospital stay", today=today)
    with pytest.raises(ApplicationError) as exc:
        hardship_freeze_open(staff=agent, plan=late_plan, note="again", today=today)
    assert exc.value.code.value == "freeze_already_open"
    # An application while staff's freeze is open is submitted; staff's freeze is not ended by its outcome.
    application = apply(late_plan)
    assert not application.freezes.exists()
    negotiation_reject(staff=agent, application=application, reason="not_eligible")
    assert open_freeze(late_plan.pk, today=today).reason == FreezeReason.HARDSHIP_CASE


def test_max_days_end_in_the_daily_run(late_plan) -> None:
    today = timezone.localdate()
    apply(late_plan)
    last_frozen = today + timedelta(days=FREEZE_MAX_DAYS - 1)
    assert open_freeze(late_plan.pk, today=last_frozen) is not None
    assert freezes_expire(today=last_frozen) == 0
    end = today + timedelta(days=FREEZE_MAX_DAYS)
    assert open_freeze(late_plan.pk, today=end) is None  # not frozen on planned_end, closed or not
    opening = day_open(business_date=end)
    assert opening.freezes_ended == 1
    freeze = _freeze(late_plan)
    assert (freeze.ended_on, freeze.end_reason) == (end, FreezeEnd.MAX_DAYS)


def test_ending_after_the_longest_day_keeps_the_frozen_days(late_plan, agent) -> None:
    today = timezone.localdate()
    application = apply(late_plan)
    late = today + timedelta(days=FREEZE_MAX_DAYS + 5)
    freeze = plan_freeze_end(
        plan=late_plan, end_reason=FreezeEnd.REJECTED, today=late, application=application
    )
    assert freeze is not None
    assert (freeze.ended_on, freeze.end_reason) == (freeze.planned_end, FreezeEnd.MAX_DAYS)


def test_staff_open_and_end_a_hardship_freeze_with_audit(late_plan, agent) -> None:
    today = timezone.localdate()
    with pytest.raises(ApplicationError):
        hardship_freeze_open(staff=agent, plan=late_plan, note="  ", today=today)
    freeze = hardship_freeze_open(staff=agent, plan=late_plan, note="lost job, call back", today=today)
    assert freeze.reason == FreezeReason.HARDSHIP_CASE
    assert not freeze.self_started
    assert freeze.created_by == agent
    opened = StaffAction.objects.get(action="hardship_freeze_opened")
    assert opened.staff == agent
    assert opened.customer == late_plan.customer
    assert opened.detail["until"] == str(today + timedelta(days=FREEZE_MAX_DAYS))
    hardship_freeze_end(staff=agent, plan=late_plan, today=today + timedelta(days=3))
    freeze.refresh_from_db()
    assert (freeze.ended_on, freeze.end_reason) == (today + timedelta(days=3), FreezeEnd.STAFF)
    assert StaffAction.objects.filter(action="hardship_freeze_ended", staff=agent).exists()
    with pytest.raises(ApplicationError) as exc:
        hardship_freeze_end(staff=agent, plan=late_plan, today=today + timedelta(days=3))
    assert exc.value.code.value == "freeze_not_open"


def test_a_staff_freeze_needs_the_permission(late_plan, customer) -> None:
    today = timezone.localdate()
    outsider = StaffFactory(phone="+8613700000099", groups=[])
    for who in (outsider, customer):
        with pytest.raises(ApplicationError) as exc:
            hardship_freeze_open(staff=who, plan=late_plan, note="x", today=today)
        assert exc.value.code.value == "permission_denied"
    assert not PlanFreeze.objects.exists()
    assert not StaffAction.objects.filter(action="hardship_freeze_opened").exists()


# --- shown to the customer and to staff -----------------------------------------------------------------


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_apply_with_auto_debit_opt_in_and_the_plan_shows_the_freeze(late_plan) -> None:
    today = timezone.localdate()
    client = _api(late_plan.customer)
    assert client.get(f"/api/v1/plans/{late_plan.public_id}/").json()["freeze"] is None
    response = client.post(
        "/api/v1/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": "6000.00",
            "requested_tenor": 12,
            "autodebit_during_review": True,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    until = str(today + timedelta(days=FREEZE_MAX_DAYS))
    assert body["freeze"]["planned_end"] == until
    assert body["freeze"]["autodebit_continues"] is True
    assert body["freeze_note"] is None
    plan = client.get(f"/api/v1/plans/{late_plan.public_id}/").json()
    assert plan["freeze"] == {
        "started_on": str(today),
        "planned_end": until,
        "reason": "negotiation",
        "ended_on": None,
        "autodebit_continues": True,
    }


def test_api_second_application_in_12_months_says_there_is_no_freeze(late_plan, agent) -> None:
    negotiation_reject(staff=agent, application=apply(late_plan), reason="not_eligible")
    client = _api(late_plan.customer)
    response = client.post(
        "/api/v1/negotiations/",
        {"plan_id": str(late_plan.public_id), "reason": "income_drop", "monthly_income": "6000.00",
         "requested_tenor": 12},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["freeze"] is None
    assert "12个月" in response.json()["freeze_note"]  # the request's language: zh-hans by default
    assert client.get(f"/api/v1/plans/{late_plan.public_id}/").json()["freeze"] is None


def test_another_customers_plan_is_not_found(late_plan, other_customer, client) -> None:
    apply(late_plan)
    assert _api(other_customer).get(f"/api/v1/plans/{late_plan.public_id}/").status_code == 404
    client.force_login(other_customer)
    assert client.get(reverse("repayments:plan", args=[late_plan.public_id])).status_code == 404


def test_plan_page_and_bills_show_the_notice(late_plan, client) -> None:
    apply(late_plan)
    until = (timezone.localdate() + timedelta(days=FREEZE_MAX_DAYS)).isoformat()
    client.force_login(late_plan.customer)
    for url in (reverse("repayments:plan", args=[late_plan.public_id]), reverse("repayments:bills")):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'id="freeze-notice"' in page, url
        assert f'data-freeze-until="{until}"' in page
        assert "暂停计息" in page


def test_no_notice_without_a_freeze(late_plan, client) -> None:
    client.force_login(late_plan.customer)
    page = client.get(reverse("repayments:plan", args=[late_plan.public_id])).content.decode()
    assert 'id="freeze-notice"' not in page


def test_web_form_submits_the_opt_in_and_says_the_penalties_are_paused(late_plan, client) -> None:
    client.force_login(late_plan.customer)
    response = client.post(
        reverse("installments:negotiate", args=[late_plan.public_id]),
        {
            "reason": "income_drop",
            "monthly_income": "6000.00",
            "affordable_payment": "500.00",
            "requested_tenor": 12,
            "autodebit_during_review": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    freeze = _freeze(late_plan)
    assert freeze.autodebit_opt_in is True
    page = response.content.decode()
    assert freeze.planned_end.isoformat() in page


def test_staff_open_a_freeze_from_the_case_and_the_queue_shows_it(late_plan, agent, client) -> None:
    case = CollectionCase.objects.get(plan=late_plan)
    client.force_login(agent)
    back = reverse("admin:installments_collectioncase_change", args=[case.pk])
    page = client.get(back).content.decode()
    open_url = reverse("admin:installments_planfreeze_open", args=[late_plan.pk])
    assert open_url in page
    response = client.post(f"{open_url}?next={back}", {"note": "hospital stay"})
    assert response.status_code == 302
    assert response["Location"] == back
    freeze = _freeze(late_plan)
    assert freeze.created_by == agent
    assert StaffAction.objects.filter(action="hardship_freeze_opened", customer=late_plan.customer).exists()
    until = freeze.planned_end.isoformat()
    queue = client.get(reverse("admin:installments_collectioncase_changelist") + "?who=all&state=all")
    row = queue.content.decode()
    assert '<span class="frozen">' in row
    assert until in row
    header = client.get(reverse("admin:support_customer", args=[late_plan.customer.pk])).content.decode()
    assert 'id="header-frozen"' in header
    assert until in header
    assert reverse("admin:installments_planfreeze_end", args=[late_plan.pk]) in header
    listing = client.get(reverse("admin:installments_planfreeze_changelist"))
    assert listing.status_code == 200
    assert late_plan.display_name in listing.content.decode()
    response = client.post(reverse("admin:installments_planfreeze_end", args=[late_plan.pk]), {"note": ""})
    assert response.status_code == 302
    freeze.refresh_from_db()
    assert freeze.end_reason == FreezeEnd.STAFF


def test_the_open_page_refuses_staff_without_the_permission(late_plan, client) -> None:
    finance = StaffFactory(phone="+8613700000077", groups=[FINANCE])
    client.force_login(finance)
    response = client.post(reverse("admin:installments_planfreeze_open", args=[late_plan.pk]), {"note": "x"})
    assert response.status_code == 403
    assert not PlanFreeze.objects.exists()


def test_a_paid_off_plan_s_freeze_ends_in_the_daily_run(late_plan, card) -> None:
    today = timezone.localdate()
    apply(late_plan)
    repayment = repayment_create(
        customer=late_plan.customer,
        plan=late_plan,
        mode="payoff",
        card=card,
        channel="web",
        idempotency_key="freeze-payoff",
    )
    assert repayment.status == "succeeded"
    late_plan.refresh_from_db()
    assert late_plan.status == PlanStatus.PAID_OFF
    assert freezes_expire(today=today) == 1
    freeze = _freeze(late_plan)
    assert (freeze.ended_on, freeze.end_reason) == (today, FreezeEnd.PLAN_CLOSED)


def test_bills_api_shows_the_freeze(late_plan) -> None:
    apply(late_plan)
    (bill,) = _api(late_plan.customer).get("/api/v1/bills/").json()["results"]
    assert bill["freeze"]["planned_end"] == str(timezone.localdate() + timedelta(days=FREEZE_MAX_DAYS))


def test_withdraw_on_the_web_asks_first_then_ends_the_freeze(late_plan, client) -> None:
    application = apply(late_plan)
    client.force_login(late_plan.customer)
    url = reverse("installments:negotiation", args=[application.public_id])
    page = client.get(url).content.decode()
    assert 'id="negotiation-freeze"' in page
    assert 'id="withdraw"' in page
    asked = client.post(url, {"action": "withdraw"}).content.decode()
    assert 'id="withdraw-confirm"' in asked
    assert open_freeze(late_plan.pk, today=timezone.localdate()) is not None  # nothing done yet
    client.post(url, {"action": "withdraw_confirm"})
    application.refresh_from_db()
    assert application.state == NegotiationState.DECLINED
    assert _freeze(late_plan).end_reason == FreezeEnd.WITHDRAWN
    assert 'id="withdraw"' not in client.get(url).content.decode()


def test_withdraw_through_the_api(late_plan, other_customer) -> None:
    application = apply(late_plan)
    url = f"/api/v1/negotiations/{application.public_id}/withdraw/"
    assert _api(other_customer).post(url, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).status_code == 404
    response = _api(late_plan.customer).post(url, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "declined"
    assert response.json()["freeze"]["ended_on"] == str(timezone.localdate())
    again = _api(late_plan.customer).post(url, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert again.status_code == 409

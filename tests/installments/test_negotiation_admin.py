"""The support workspace in the admin: queue, actions through the services, customer view, documents."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from installments.models import ContactLog, NegotiationApplication, NegotiationState
from tests.installments.negotiation_support import PDF, apply, staff_user, upload

S = NegotiationState


def change_url(application: NegotiationApplication) -> str:
    return reverse("admin:installments_negotiationapplication_change", args=[application.pk])


def action_url(name: str, application: NegotiationApplication) -> str:
    return reverse(f"admin:installments_negotiation_{name}", args=[application.pk])


def previewed_hash(page: str) -> str:
    """The hash of the terms the page's preview shows (what "send" carries back)."""
    match = re.search(r'name="terms_hash" id="id_terms_hash" value="([0-9a-f]*)"', page)
    assert match, "no terms_hash on the page"
    return match.group(1)


def preview_then_send(client, application: NegotiationApplication, terms: dict):
    """As the page does: preview the terms, then send them with the preview's hash."""
    page = client.post(action_url("offer", application), {**terms, "preview": "1"}).content.decode()
    return client.post(
        action_url("offer", application), {**terms, "send": "1", "terms_hash": previewed_hash(page)}
    )


def test_queue_with_filters(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    url = reverse("admin:installments_negotiationapplication_changelist")
    response = client.get(url)
    assert response.status_code == 200
    assert late_plan.display_name in response.content.decode()
    for query, shown in [
        ("state__exact=submitted", True),
        ("state__exact=offered", False),
        ("dpd=31-60", True),
        ("dpd=1-30", False),
        ("owed=1k-5k", True),
        ("owed=>20k", False),
        ("plan__delinquency_bucket=M2", True),
    ]:
        page = client.get(f"{url}?{query}").content.decode()
        assert (change_url(application) in page) is shown, query
    assert client.get(change_url(application)).status_code == 200


def test_review_offer_approve_through_the_admin(client, agent, approver, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    assert client.post(action_url("review", application)).status_code == 302
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW
    assert application.assigned_to == agent

    terms = {
        "tenor": "36",
        "fee_rate_percent": "0.40",
        "penalty_waiver": "0",
        "first_due_date": "",
        "note": "",
    }
    preview = client.post(action_url("offer", application), {**terms, "preview": "1"})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="offer-preview"' in page
    assert "36" in page
    assert "%" in page
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW  # a preview writes nothing

    assert (
        client.post(
            action_url("offer", application), {**terms, "send": "1", "terms_hash": previewed_hash(page)}
        ).status_code
        == 302
    )
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL

    # The agent has no approver permission: the page itself is refused.
    assert client.get(action_url("approve", application)).status_code == 403
    client.force_login(approver)
    assert client.post(action_url("approve", application)).status_code == 302
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.approved_by == approver


def test_self_approval_is_refused_in_the_admin(client, approver, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(approver)
    client.post(action_url("review", application))
    preview_then_send(client, application, {"tenor": "36", "fee_rate_percent": "0.40", "penalty_waiver": "0"})
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL
    response = client.post(action_url("approve", application), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "someone other than its maker" in response.content.decode()
    chinese = client.post(action_url("approve", application), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "errorlist" in chinese.content.decode()
    assert "maker" not in chinese.content.decode()
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL


def test_invalid_offer_terms_show_field_errors(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    client.post(action_url("review", application))
    response = client.post(
        action_url("offer", application),
        {"tenor": "99", "fee_rate_percent": "0.40", "penalty_waiver": "0", "send": "1"},
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW


def test_staff_without_the_group_cannot_act(client, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(staff_user("+8613700000099"))
    assert client.post(action_url("review", application)).status_code == 403
    application.refresh_from_db()
    assert application.state == S.SUBMITTED


def test_reject_and_request_info(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    client.post(action_url("review", application))
    client.post(action_url("request_info", application), {"message": "请补充工资流水"})
    application.refresh_from_db()
    assert application.state == S.INFO_REQUESTED
    client.post(action_url("reject", application), {"reason": "income_not_verified", "note": "材料不全"})
    application.refresh_from_db()
    assert application.state == S.REJECTED


def test_contact_log_from_the_admin(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    url = reverse("admin:installments_contactlog_add")
    response = client.post(
        url, {"application": application.pk, "channel": "call_out", "outcome": "promise_to_pay", "notes": "x"}
    )
    assert response.status_code == 200
    assert not ContactLog.objects.exists()  # a promise needs its date
    response = client.post(
        url,
        {
            "application": application.pk,
            "channel": "call_in",
            "outcome": "reached",
            "notes": "客户来电询问方案",
        },
    )
    assert response.status_code == 302
    entry = ContactLog.objects.get()
    assert entry.customer == late_plan.customer
    assert entry.staff == agent


def test_log_a_call_from_the_customer_workspace(client, agent, late_plan) -> None:
    """The workspace's 记录通话 link carries the customer: the form submits without typing the phone, and
    the page never shows the full number (review: the link's form could not be submitted)."""
    client.force_login(agent)
    workspace = client.get(reverse("admin:support_customer", args=[late_plan.customer_id])).content.decode()
    link = re.search(r'href="([^"]*contactlog/add/\?customer=[^"]*)"', workspace)
    assert link, "no Log-a-call link on the workspace"
    url = html.unescape(link.group(1))
    form_page = client.get(url).content.decode()
    assert str(late_plan.customer.phone) not in form_page
    assert f'name="customer" value="{late_plan.customer_id}"' in form_page
    response = client.post(
        url, {"customer": late_plan.customer_id, "channel": "call_in", "outcome": "reached"}
    )
    assert response.status_code == 302
    assert ContactLog.objects.get().customer == late_plan.customer


def test_log_a_call_by_a_phone_in_any_spelling(client, agent, late_plan) -> None:
    client.force_login(agent)
    national = str(late_plan.customer.phone.national_number)
    spelled = f"+86 {national[:3]} {national[3:7]} {national[7:]}"
    response = client.post(
        reverse("admin:installments_contactlog_add"),
        {"customer_phone": spelled, "channel": "call_in", "outcome": "reached"},
    )
    assert response.status_code == 302
    assert ContactLog.objects.get().customer == late_plan.customer


def test_customer_workspace(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    response = client.get(reverse("admin:support_customer", args=[late_plan.customer_id]))
    page = response.content.decode()
    assert response.status_code == 200
    assert late_plan.customer.masked_phone in page
    assert str(late_plan.customer.phone) not in page.replace("%2B", "+").split("customer_phone=")[0]
    # The 360's history is in tabs (issue 19): documents and SMS each on their own.
    url = reverse("admin:support_customer", args=[late_plan.customer_id])
    documents = client.get(f"{url}?tab=documents").content.decode()
    assert application.documents.get().original_name in documents
    sms = client.get(f"{url}?tab=sms").content.decode()
    assert "negotiation_submitted" not in sms  # the SMS text is shown, not template codes
    assert "分期申请已提交" in sms or "submitted" in sms


# --- documents are private ----------------------------------------------------------------------------


@pytest.fixture
def document(late_plan):
    return apply(late_plan, documents=[upload("工资单.pdf", PDF)]).documents.get()


def test_the_owner_and_reviewing_staff_can_download(client, document, agent) -> None:
    url = reverse("installments:negotiation_document", args=[document.public_id])
    client.force_login(document.application.customer)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in response["Content-Disposition"]
    client.force_login(agent)
    assert client.get(url).status_code == 200


def test_anyone_else_gets_404(client, document, other_customer) -> None:
    url = reverse("installments:negotiation_document", args=[document.public_id])
    assert client.get(url).status_code == 302  # not signed in: to the login page
    client.force_login(other_customer)
    assert client.get(url).status_code == 404
    client.force_login(staff_user("+8613700000098"))  # staff, but not a reviewer
    assert client.get(url).status_code == 404
    assert Decimal(document.size) == len(PDF)


def test_staff_operations_refuse_customers(client, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(late_plan.customer)  # a customer, signed in
    for name in ("review", "offer", "approve", "reject"):
        response = client.post(action_url(name, application), {"tenor": "12", "reason": "other", "send": "1"})
        assert response.status_code == 302, name
        assert "/admin/login/" in response["Location"], name
    assert client.get(reverse("admin:support_customer", args=[late_plan.customer_id])).status_code == 302
    application.refresh_from_db()
    assert application.state == S.SUBMITTED


def _held_offer(client, agent, application: NegotiationApplication) -> None:
    """The agent reviews and makes an offer past a threshold (36 installments): it waits for approval."""
    client.force_login(agent)
    client.post(action_url("review", application))
    terms = {
        "tenor": "36",
        "fee_rate_percent": "0.40",
        "penalty_waiver": "0",
        "first_due_date": "",
        "note": "",
    }
    preview_then_send(client, application, terms)
    application.refresh_from_db()
    assert application.state == S.OFFER_PENDING_APPROVAL


def test_an_offer_sent_back_cannot_be_approved(client, agent, approver, late_plan) -> None:
    """Finding 16: approve only from offer_pending_approval; a returned offer must be made again."""
    application = apply(late_plan)
    _held_offer(client, agent, application)
    client.force_login(approver)
    returned = client.post(action_url("return", application), {"note": "waiver too large, do not send"})
    assert returned.status_code == 302
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW
    page = client.get(action_url("approve", application), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "not possible now" in page.content.decode()
    response = client.post(action_url("approve", application), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "not possible now" in response.content.decode()
    application.refresh_from_db()
    assert application.state == S.IN_REVIEW
    assert application.approved_by is None
    assert not application.customer.notifications.filter(template_code="negotiation_offer").exists()
    # Made again, it waits for approval again and can then be approved.
    _held_offer(client, agent, application)
    client.force_login(approver)
    assert client.post(action_url("approve", application)).status_code == 302
    application.refresh_from_db()
    assert application.state == S.OFFERED
    assert application.approved_by == approver


@pytest.mark.parametrize("state", [S.SUBMITTED, S.IN_REVIEW, S.INFO_REQUESTED])
def test_approve_without_an_offer_is_refused_not_a_500(client, agent, approver, late_plan, state) -> None:
    """Finding 13: approve on an application with no offer answered 500 (AttributeError on offered_at)."""
    application = apply(late_plan)
    if state != S.SUBMITTED:
        client.force_login(agent)
        client.post(action_url("review", application))
    if state == S.INFO_REQUESTED:
        client.post(action_url("request_info", application), {"message": "payslip please"})
    application.refresh_from_db()
    assert application.state == state
    assert application.offered_at is None
    client.force_login(approver)
    assert client.get(action_url("approve", application)).status_code == 200
    response = client.post(action_url("approve", application), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "not possible now" in response.content.decode()
    application.refresh_from_db()
    assert application.state == state

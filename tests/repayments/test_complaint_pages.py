"""投诉 on every surface: the customer's pages (zh and en), the API (own complaints only, idempotent filing,
stable error codes) and the staff admin (queue order, filters, the steps, filing from the workspace, what
each group may open)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffAction, User
from notifications.models import Notification
from repayments.models import Complaint, ComplaintState
from repayments.services import complaint_file, complaint_investigate, complaint_resolve
from repayments.staff import LEAD
from tests.factories import StaffFactory
from tests.installments.negotiation_support import PDF, upload

API = "/api/v1"


def key() -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


def filed(customer: User, **kwargs: object) -> Complaint:
    return complaint_file(customer=customer, channel="web", category="fees", text="多收了手续费", **kwargs)


@pytest.fixture
def lead(db) -> User:
    return StaffFactory(phone="+8613700000009", groups=[LEAD])


# --- customer pages ------------------------------------------------------------------------------------


def test_file_follow_and_read_the_decision_on_the_web(signed_in, customer, current_plan, agent) -> None:
    account = signed_in.get(reverse("repayments:account")).content.decode()
    assert reverse("repayments:complaints") in account
    page = signed_in.get(reverse("repayments:complaints"))
    assert "投诉与建议" in page.content.decode()
    form = signed_in.get(reverse("repayments:complaint_new")).content.decode()
    assert str(current_plan.public_id) in form

    response = signed_in.post(
        reverse("repayments:complaint_new"),
        {
            "category": "debit_error",
            "plan": str(current_plan.public_id),
            "text": "同一期扣了两次款",
            "documents": [upload("bank.pdf", PDF)],
        },
    )
    complaint = Complaint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("repayments:complaint", args=[complaint.public_id])
    assert (complaint.channel, complaint.category, complaint.plan) == ("web", "debit_error", current_plan)
    assert complaint.documents.count() == 1
    detail = signed_in.get(response["Location"]).content.decode()
    assert complaint.reference in detail
    assert 'data-state="received"' in detail
    assert "bank.pdf" in detail
    document = complaint.documents.get()
    download = signed_in.get(reverse("repayments:complaint_document", args=[document.public_id]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")

    complaint = complaint_investigate(staff=agent, complaint=complaint)
    complaint_resolve(staff=agent, complaint=complaint, decision="第二笔已退回原卡。")
    detail = signed_in.get(reverse("repayments:complaint", args=[complaint.public_id])).content.decode()
    assert 'id="complaint-decision" data-state="resolved"' in detail
    assert "第二笔已退回原卡。" in detail


def test_the_pages_in_english(signed_in, customer) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    filed(customer)
    page = signed_in.get(reverse("repayments:complaints")).content.decode()
    assert "Complaints and suggestions" in page
    assert "Fees and charges" in page
    assert 'class="stack"' in page


def test_bad_input_is_shown_on_the_form_and_nothing_is_filed(signed_in, other_customer) -> None:
    other_plan_id = uuid.uuid4()
    response = signed_in.post(
        reverse("repayments:complaint_new"),
        {"category": "fees", "text": "", "plan": str(other_plan_id)},
    )
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"text", "plan"}
    response = signed_in.post(
        reverse("repayments:complaint_new"),
        {"category": "fees", "text": "看附件", "documents": [upload("page.pdf", b"<html>hi</html>")]},
    )
    assert response.status_code == 200
    assert "documents" in response.context["form"].errors
    assert not Complaint.objects.exists()


def test_another_customers_complaint_is_a_404_on_the_web(signed_in, other_customer) -> None:
    theirs = complaint_file(
        customer=other_customer, channel="web", category="privacy", text="x", documents=[upload()]
    )
    assert signed_in.get(reverse("repayments:complaint", args=[theirs.public_id])).status_code == 404
    document = theirs.documents.get()
    assert (
        signed_in.get(reverse("repayments:complaint_document", args=[document.public_id])).status_code == 404
    )
    assert theirs.reference not in signed_in.get(reverse("repayments:complaints")).content.decode()


# --- API -----------------------------------------------------------------------------------------------


def test_api_file_idempotently_list_and_read_own_only(api, customer, other_customer, current_plan) -> None:
    body = {"category": "fees", "text": "手续费不对", "plan_id": str(current_plan.public_id)}
    headers = {"HTTP_IDEMPOTENCY_KEY": "complaint-1"}
    first = api.post(f"{API}/complaints/", body, format="json", **headers)
    assert first.status_code == 201, first.content
    again = api.post(f"{API}/complaints/", body, format="json", **headers)
    assert again.json() == first.json()
    assert Complaint.objects.count() == 1
    data = first.json()
    assert (data["state"], data["channel"], data["plan_id"]) == (
        "received",
        "api",
        str(current_plan.public_id),
    )
    assert data["decision"] is None
    assert data["deadline"] == (timezone.localdate() + timedelta(days=15)).isoformat()

    theirs = filed(other_customer)
    listed = api.get(f"{API}/complaints/").json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]
    assert api.get(f"{API}/complaints/{data['id']}/").json()["reference"] == data["reference"]
    assert_error(api.get(f"{API}/complaints/{theirs.public_id}/"), 404, "not_found")
    assert_error(
        api.post(f"{API}/complaints/{theirs.public_id}/documents/", {"document": upload()}, **key()),
        404,
        "not_found",
    )


def test_api_bad_input_codes(api, customer, other_customer) -> None:
    assert_error(
        api.post(f"{API}/complaints/", {"category": "weather", "text": "x"}, format="json", **key()),
        400,
        "invalid_request",
    )
    assert_error(
        api.post(f"{API}/complaints/", {"category": "fees", "text": ""}, format="json", **key()),
        400,
        "invalid_request",
    )
    theirs = filed(other_customer, plan_id=None)
    plan_of_theirs = uuid.uuid4()
    body = assert_error(
        api.post(
            f"{API}/complaints/",
            {"category": "fees", "text": "x", "plan_id": str(plan_of_theirs)},
            format="json",
            **key(),
        ),
        400,
        "complaint_link_invalid",
    )
    assert "plan_id" in body["fields"]
    assert_error(
        api.post(
            f"{API}/complaints/",
            {"category": "fees", "text": "x", "documents": [upload("x.pdf", b"<html></html>")]},
            format="multipart",
            **key(),
        ),
        422,
        "unsupported_file_type",
    )
    assert list(Complaint.objects.all()) == [theirs]


def test_api_attachment_upload_and_download(api, customer) -> None:
    complaint = filed(customer)
    response = api.post(f"{API}/complaints/{complaint.public_id}/documents/", {"document": upload()}, **key())
    assert response.status_code == 201, response.content
    download = api.get(response.json()["download"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert_error(
        api.post(f"{API}/complaints/{complaint.public_id}/documents/", {}, **key()), 400, "invalid_request"
    )


# --- admin ---------------------------------------------------------------------------------------------


def changelist(client) -> str:
    return client.get(reverse("admin:repayments_complaint_changelist")).content.decode()


def test_the_queue_shows_overdue_first_then_the_nearest_deadline(client, customer, agent) -> None:
    now = timezone.now()
    later = filed(customer, received_at=now - timedelta(days=1))
    overdue = filed(customer, received_at=now - timedelta(days=18))
    soon = filed(customer, received_at=now - timedelta(days=14))
    client.force_login(agent)
    page = changelist(client)
    positions = [page.index(c.reference) for c in (overdue, soon, later)]
    assert positions == sorted(positions)
    assert page.count('class="overdue"') == 1
    complaint_investigate(staff=agent, complaint=soon)
    mine = client.get(reverse("admin:repayments_complaint_changelist") + "?handler=mine").content.decode()
    assert soon.reference in mine
    assert overdue.reference not in mine
    by_category = client.get(reverse("admin:repayments_complaint_changelist") + "?category__exact=privacy")
    assert overdue.reference not in by_category.content.decode()


def test_agent_investigates_asks_to_extend_lead_approves_agent_resolves(
    client, customer, agent, lead
) -> None:
    complaint = filed(customer)
    change = reverse("admin:repayments_complaint_change", args=[complaint.pk])

    def step(name: str, data: dict | None = None):
        return client.post(reverse(f"admin:repayments_complaint_{name}", args=[complaint.pk]), data or {})

    client.force_login(agent)
    assert client.get(change).status_code == 200
    assert step("investigate").status_code == 302
    assert step("extend", {"reason": "需核实银行记录"}).status_code == 302
    # An agent cannot open the approval page.
    assert (
        client.get(reverse("admin:repayments_complaint_approve_extension", args=[complaint.pk])).status_code
        == 403
    )

    client.force_login(lead)
    assert step("approve_extension").status_code == 302
    complaint.refresh_from_db()
    assert complaint.extension_count == 1
    assert Notification.objects.filter(user=customer, template_code="complaint_extended").count() == 1

    client.force_login(agent)
    refused = step("resolve", {"decision": ""})
    assert refused.status_code == 200
    assert step("resolve", {"decision": "已退款。"}).status_code == 302
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.RESOLVED
    assert Notification.objects.filter(user=customer, template_code="complaint_resolved").count() == 1
    page = client.get(change).content.decode()
    assert "已退款。" in page


def test_a_lead_cannot_approve_their_own_extension_in_the_admin(client, customer, lead) -> None:
    complaint = filed(customer)
    client.force_login(lead)
    client.post(reverse("admin:repayments_complaint_extend", args=[complaint.pk]), {"reason": "复杂"})
    response = client.post(reverse("admin:repayments_complaint_approve_extension", args=[complaint.pk]), {})
    assert response.status_code == 200
    assert "someone other than" in response.content.decode() or "其他" in response.content.decode()
    complaint.refresh_from_db()
    assert complaint.extension_count == 0


def test_open_a_complaint_from_the_customer_workspace(client, customer, agent, current_plan) -> None:
    client.force_login(agent)
    workspace = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    add = reverse("admin:repayments_complaint_add") + f"?customer={customer.pk}"
    assert 'id="open-complaint"' in workspace
    assert add in workspace
    form = client.get(add)
    assert form.status_code == 200
    response = client.post(
        reverse("admin:repayments_complaint_add"),
        {
            "customer": customer.pk,
            "category": "collection_conduct",
            "text": "催收员态度恶劣",
            "plan": current_plan.pk,
            "staff_member": agent.pk,
            "documents": [upload()],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    complaint = Complaint.objects.get()
    assert (complaint.channel, complaint.filed_by, complaint.staff_member) == ("phone", agent, agent)
    assert complaint.documents.count() == 1
    assert StaffAction.objects.filter(staff=agent, customer=customer, action="complaint_filed").exists()
    # Without a customer the add page sends the agent to find one first.
    assert client.get(reverse("admin:repayments_complaint_add")).status_code == 302


@pytest.mark.parametrize("group", ["agent", "approver", "lead"])
def test_each_group_opens_the_queue_and_only_approvers_and_leads_the_approval(
    client, customer, group
) -> None:
    staff = StaffFactory(phone="+8613700000077", groups=[group])
    complaint = filed(customer)
    client.force_login(staff)
    assert client.get(reverse("admin:repayments_complaint_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:repayments_complaint_investigate", args=[complaint.pk])).status_code == 200
    )
    approval = client.get(reverse("admin:repayments_complaint_approve_extension", args=[complaint.pk]))
    assert approval.status_code == (403 if group == "agent" else 200)


def test_staff_without_a_group_cannot_open_the_queue(client, customer) -> None:
    nobody = StaffFactory(phone="+8613700000078")
    filed(customer)
    client.force_login(nobody)
    assert client.get(reverse("admin:repayments_complaint_changelist")).status_code == 403

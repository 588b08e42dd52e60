"""投诉: the deadline math, filing with links and attachments, the staff steps with maker-checker extensions,
the SMS on receipt, extension and decision, the start page's counts, and what each staff group may do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import StaffAction, User
from core.errors import ApplicationError
from notifications.models import Notification
from repayments.complaint_selectors import complaint_queue, complaints_by_category, complaints_queue_counts
from repayments.models import Complaint, ComplaintDocument, ComplaintEvent, ComplaintState
from repayments.services import (
    complaint_assign,
    complaint_deadline,
    complaint_extension_approve,
    complaint_extension_refuse,
    complaint_extension_request,
    complaint_file,
    complaint_investigate,
    complaint_reject,
    complaint_resolve,
)
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import StaffFactory
from tests.installments.negotiation_support import PDF, upload

SHANGHAI = ZoneInfo("Asia/Shanghai")


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[ApplicationError]]:
    with pytest.raises(ApplicationError) as info:
        yield info
    assert info.value.code == code, (info.value.code, info.value.message)


@pytest.fixture
def lead(db) -> User:
    return StaffFactory(phone="+8613700000009", groups=[LEAD])


def filed(customer: User, **kwargs: object) -> Complaint:
    return complaint_file(
        customer=customer, channel="web", category=kwargs.pop("category", "fees"), text="收费不对", **kwargs
    )


def sms(customer: User, code: str) -> list[Notification]:
    return list(Notification.objects.filter(user=customer, template_code=code))


# --- deadlines -----------------------------------------------------------------------------------------


def test_the_deadline_is_15_then_30_then_60_days_from_the_day_of_receipt() -> None:
    received = date(2026, 12, 1)
    assert complaint_deadline(received) == date(2026, 12, 16)
    assert complaint_deadline(received, 1) == date(2026, 12, 31)
    assert complaint_deadline(received, 2) == date(2027, 1, 30)
    with pytest.raises(ValueError, match="0 to 2"):
        complaint_deadline(received, 3)


def test_a_complaint_filed_late_at_night_counts_from_that_shanghai_day(customer) -> None:
    # 23:30 in Shanghai on 30 Nov is 15:30 UTC: the day of receipt is the 30th, not the next day.
    with time_machine.travel(datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI), tick=False):
        complaint = filed(customer)
    assert complaint.deadline == date(2026, 12, 15)
    assert complaint.state == ComplaintState.RECEIVED
    assert complaint.reference.startswith("TS-")
    [event] = complaint.events.all()
    assert (event.action, event.actor, event.to_state) == ("filed", customer, "received")
    [notice] = sms(customer, "complaint_received")
    assert complaint.reference in notice.text
    assert "12月15日" in notice.text


# --- filing --------------------------------------------------------------------------------------------


def test_links_must_be_the_customers_own(customer, other_customer, current_plan) -> None:
    with refused("complaint_link_invalid") as info:
        filed(other_customer, plan_id=current_plan.public_id)
    assert "plan_id" in info.value.fields
    assert not Complaint.objects.exists()
    complaint = filed(customer, plan_id=current_plan.public_id)
    assert complaint.plan == current_plan


def test_text_and_category_are_required(customer) -> None:
    with refused("complaint_text_required"):
        complaint_file(customer=customer, channel="web", category="fees", text="   ")
    with refused("invalid_request") as info:
        complaint_file(customer=customer, channel="web", category="weather", text="x")
    assert "category" in info.value.fields
    assert not Complaint.objects.exists()


def test_attachments_pass_the_document_checks_and_a_bad_file_files_nothing(customer) -> None:
    page = b"<html><script>alert(1)</script></html>"
    with refused("unsupported_file_type"):
        filed(customer, documents=[upload("receipt.pdf", PDF), upload("evil.pdf", page)])
    assert not Complaint.objects.exists()
    assert not ComplaintDocument.objects.exists()
    with refused("invalid_file_name"):
        filed(customer, documents=[upload("receipt\u202efdp.exe", PDF)])
    complaint = filed(customer, documents=[upload("receipt.pdf", PDF)])
    [document] = complaint.documents.all()
    assert (document.original_name, document.content_type) == ("receipt.pdf", "application/pdf")
    assert document.file.read() == PDF


def test_staff_file_for_a_caller_by_phone_and_it_is_audited(customer, agent) -> None:
    complaint = complaint_file(
        customer=customer, channel="phone", category="collection_conduct", text="催收电话太多", staff=agent
    )
    assert complaint.filed_by == agent
    assert StaffAction.objects.filter(staff=agent, customer=customer, action="complaint_filed").count() == 1
    with refused("permission_denied"):
        complaint_file(customer=customer, channel="phone", category="other", text="x", staff=customer)


# --- the staff steps -----------------------------------------------------------------------------------


def test_received_investigating_resolved_with_the_decision_sms_in_the_customers_language(
    customer, agent
) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    complaint = filed(customer)
    with refused("complaint_invalid_state"):
        complaint_resolve(staff=agent, complaint=complaint, decision="Refunded.")
    complaint = complaint_investigate(staff=agent, complaint=complaint)
    assert (complaint.state, complaint.assigned_to) == ("investigating", agent)
    with refused("complaint_decision_required"):
        complaint_resolve(staff=agent, complaint=complaint, decision="  ")
    complaint = complaint_resolve(staff=agent, complaint=complaint, decision="We refund the fee of ¥20.00.")
    assert complaint.state == ComplaintState.RESOLVED
    assert complaint.decided_by == agent
    [notice] = sms(customer, "complaint_resolved")
    assert "has been resolved" in notice.text
    assert complaint.reference in notice.text
    assert list(complaint.events.values_list("action", flat=True)) == ["filed", "investigating", "resolved"]
    assert set(StaffAction.objects.filter(customer=customer).values_list("action", flat=True)) == {
        "complaint_investigating",
        "complaint_resolved",
    }
    with refused("complaint_invalid_state"):
        complaint_reject(staff=agent, complaint=complaint, decision="no")


def test_a_rejection_tells_the_customer_it_was_not_upheld(customer, agent) -> None:
    complaint = complaint_investigate(staff=agent, complaint=filed(customer))
    complaint_reject(staff=agent, complaint=complaint, decision="扣款与合同一致。")
    [notice] = sms(customer, "complaint_rejected")
    assert "未予支持" in notice.text


def test_extensions_need_another_approver_and_stop_at_two(customer, agent, approver, approver2) -> None:
    with time_machine.travel(datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI), tick=False):
        complaint = filed(customer)
    assert complaint.deadline == date(2026, 12, 16)
    with refused("reason_required"):
        complaint_extension_request(staff=agent, complaint=complaint, reason="")
    complaint_extension_request(staff=agent, complaint=complaint, reason="需核实银行扣款记录")
    with refused("complaint_extension_pending"):
        complaint_extension_request(staff=agent, complaint=complaint, reason="again")
    with refused("permission_denied"):
        complaint_extension_approve(staff=agent, complaint=complaint)  # an agent does not approve
    complaint = complaint_extension_approve(staff=approver, complaint=complaint)
    assert (complaint.extension_count, complaint.deadline) == (1, date(2026, 12, 31))
    [notice] = sms(customer, "complaint_extended")
    assert "12月31日" in notice.text
    assert "需核实银行扣款记录" in notice.text

    # Nobody approves their own request, whatever their rights.
    complaint_extension_request(staff=approver, complaint=complaint, reason="等待银行回复")
    with refused("complaint_self_approval"):
        complaint_extension_approve(staff=approver, complaint=complaint)
    complaint = complaint_extension_approve(staff=approver2, complaint=complaint)
    assert (complaint.extension_count, complaint.deadline) == (2, date(2027, 1, 30))
    assert len(sms(customer, "complaint_extended")) == 2

    with refused("complaint_extension_limit"):
        complaint_extension_request(staff=agent, complaint=complaint, reason="再延")
    with refused("complaint_no_extension_pending"):
        complaint_extension_approve(staff=approver, complaint=complaint)
    assert StaffAction.objects.filter(action="complaint_extension_approved").count() == 2


def test_a_refused_extension_keeps_the_deadline_and_may_be_asked_again(customer, agent, approver) -> None:
    complaint = filed(customer)
    deadline = complaint.deadline
    complaint_extension_request(staff=agent, complaint=complaint, reason="需要更多时间")
    with refused("reason_required"):
        complaint_extension_refuse(staff=approver, complaint=complaint, note="")
    complaint = complaint_extension_refuse(staff=approver, complaint=complaint, note="15天内可以完成")
    assert (complaint.deadline, complaint.extension_count, complaint.extension_pending) == (
        deadline,
        0,
        False,
    )
    assert not sms(customer, "complaint_extended")
    complaint_extension_request(staff=agent, complaint=complaint, reason="银行尚未回复")
    assert Complaint.objects.get(pk=complaint.pk).extension_pending


def test_assign_only_to_someone_who_handles_complaints(customer, agent, approver) -> None:
    complaint = filed(customer)
    with refused("complaint_assignee_invalid"):
        complaint_assign(staff=agent, complaint=complaint, assignee=customer)
    complaint = complaint_assign(staff=agent, complaint=complaint, assignee=approver)
    assert complaint.assigned_to == approver
    assert ComplaintEvent.objects.filter(complaint=complaint, action="assigned").exists()


# --- the start page's reads ----------------------------------------------------------------------------


def test_queue_counts_and_order_overdue_first(customer, agent) -> None:
    now = timezone.now()
    old = filed(customer, received_at=now - timedelta(days=20))  # 5 days past its deadline
    soon = filed(customer, received_at=now - timedelta(days=13))  # due in 2 days
    later = filed(customer, received_at=now - timedelta(days=1))
    answered = complaint_investigate(
        staff=agent, complaint=filed(customer, received_at=now - timedelta(days=30))
    )
    complaint_resolve(staff=agent, complaint=answered, decision="done")
    complaint_investigate(staff=agent, complaint=soon)

    assert list(complaint_queue().values_list("pk", flat=True)) == [old.pk, soon.pk, later.pk, answered.pk]
    counts = complaints_queue_counts()
    assert counts.open_by_state == {"received": 2, "investigating": 1}
    assert (counts.overdue, counts.due_soon, counts.oldest_age_days, counts.open_total) == (1, 1, 20, 3)
    mine = complaints_queue_counts(staff=agent)
    assert mine.open_by_state == {"received": 0, "investigating": 1}
    assert complaints_queue_counts(staff=customer).oldest_age_days is None


def test_monthly_count_by_category_counts_shanghai_months(customer) -> None:
    # 1 Dec 00:30 in Shanghai is still 30 Nov in UTC: it counts for December.
    filed(customer, category="fees", received_at=datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI))
    filed(customer, category="fees", received_at=datetime(2026, 12, 31, 23, 0, tzinfo=SHANGHAI))
    filed(customer, category="privacy", received_at=datetime(2026, 12, 10, tzinfo=SHANGHAI))
    filed(customer, category="fees", received_at=datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI))
    december = complaints_by_category(date(2026, 12, 15))
    assert december == {
        "fees": 2,
        "debit_error": 0,
        "collection_conduct": 0,
        "privacy": 1,
        "other": 0,
    }
    assert complaints_by_category(date(2026, 11, 1))["fees"] == 1


# --- the groups ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "can_approve"), [(AGENT, False), (APPROVER, True), (LEAD, True)])
def test_each_group_handles_complaints_and_only_approvers_and_leads_approve_extensions(
    db, group: str, can_approve: bool
) -> None:
    codenames = set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))
    assert {"view_complaint", "add_complaint", "change_complaint", "handle_complaint"} <= codenames
    assert ("approve_complaint_extension" in codenames) is can_approve
    assert "delete_complaint" not in codenames

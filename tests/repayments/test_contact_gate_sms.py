"""Collection SMS through the contact gate (issue 19, items 3 and 6): the overdue SMS of the daily run and
the payment-link SMS an agent sends from the customer workspace."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffAction, User
from core.errors import ApplicationError
from installments.models import ContactRefusal, InstallmentPlan
from notifications.models import Notification
from repayments.services import overdue_reminders_send, payment_link_send, payment_link_url
from repayments.staff import AGENT, APPROVER, FINANCE, LEAD
from tests.factories import StaffFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(timezone.localdate(), time(hour, minute), tzinfo=SHANGHAI)


def _window(customer: User, start: str, end: str) -> None:
    customer.contact_window_start = time.fromisoformat(start)
    customer.contact_window_end = time.fromisoformat(end)
    customer.save(update_fields=["contact_window_start", "contact_window_end"])


def _overdue_sms(customer: User) -> list[Notification]:
    return list(Notification.objects.filter(user=customer, template_code__startswith="overdue"))


# --- overdue SMS ---------------------------------------------------------------------------------------


def test_the_morning_run_waits_for_the_hours_and_for_a_customers_later_window(late_plan, other_customer):
    customer = late_plan.customer
    _window(customer, "12:00", "13:30")
    with time_machine.travel(today_at(7, 30), tick=False):  # the daily-morning task's time
        overdue_reminders_send(business_date=timezone.localdate(), customer_ids=[customer.pk])
    [sms] = _overdue_sms(customer)
    assert sms.send_after == today_at(12)  # the customer's window, not the 08:00 of the quiet hours
    assert not ContactRefusal.objects.exists()


def test_default_hours_the_sms_goes_when_the_quiet_hours_end(late_plan) -> None:
    with time_machine.travel(today_at(7, 30), tick=False):
        overdue_reminders_send(business_date=timezone.localdate(), customer_ids=[late_plan.customer_id])
    [sms] = _overdue_sms(late_plan.customer)
    assert sms.send_after == today_at(8)
    with time_machine.travel(today_at(10), tick=False):
        Notification.objects.all().delete()
        overdue_reminders_send(business_date=timezone.localdate(), customer_ids=[late_plan.customer_id])
    [sms] = _overdue_sms(late_plan.customer)
    assert sms.send_after is None  # inside every window: at once


def test_a_customer_whose_window_is_over_for_today_is_skipped_and_the_refusal_stored(late_plan) -> None:
    customer = late_plan.customer
    _window(customer, "06:00", "07:00")
    with time_machine.travel(today_at(10), tick=False):
        written = overdue_reminders_send(business_date=timezone.localdate(), customer_ids=[customer.pk])
    assert written == 0
    assert _overdue_sms(customer) == []
    refusal = ContactRefusal.objects.get()
    assert (refusal.customer, refusal.channel, refusal.code, refusal.source, refusal.staff) == (
        customer,
        "sms",
        "contact_outside_hours",
        "overdue_reminder",
        None,
    )


# --- the payment-link SMS ------------------------------------------------------------------------------


def test_payment_link_sms_in_the_customers_language_with_amount_and_link(agent, late_plan, client) -> None:
    customer = late_plan.customer
    customer.language = "en"
    customer.save(update_fields=["language"])
    with time_machine.travel(today_at(10), tick=False):
        sms = payment_link_send(staff=agent, plan=late_plan)
    assert sms.template_code == "payment_link"
    assert sms.language == "en"
    assert "Repay now" in sms.text
    assert re.search(r"¥[\d,]+\.\d\d is due", sms.text)
    assert str(customer.phone.national_number) not in sms.text
    link = payment_link_url(late_plan)
    assert link in sms.text
    assert str(late_plan.public_id) not in sms.text  # a short ref, nothing more
    audit = StaffAction.objects.get()
    assert (audit.staff, audit.customer, audit.action) == (agent, customer, "payment_link_sent")
    assert audit.detail["plan"] == str(late_plan.public_id)
    # The link opens the plan's 立即还款 page for its customer, after sign-in; for anyone else a 404.
    path = link.removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 302  # to sign-in
    client.force_login(customer)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == reverse("repayments:pay", args=[late_plan.public_id])
    stranger = StaffFactory.build()  # any other signed-in user
    stranger.is_staff = False
    stranger.save()
    client.force_login(stranger)
    assert client.get(path).status_code == 404


def test_payment_link_sms_in_chinese(agent, late_plan) -> None:
    with time_machine.travel(today_at(10), tick=False):
        sms = payment_link_send(staff=agent, plan=late_plan)
    assert sms.language == "zh-hans"
    assert "立即还款" in sms.text
    assert "待还¥" in sms.text


def test_payment_link_refused_at_22_30_and_the_refusal_stored(agent, late_plan) -> None:
    with time_machine.travel(today_at(22, 30), tick=False), pytest.raises(ApplicationError) as refused:
        payment_link_send(staff=agent, plan=late_plan)
    assert refused.value.code == "contact_outside_hours"
    assert not Notification.objects.filter(template_code="payment_link").exists()
    assert not StaffAction.objects.exists()
    refusal = ContactRefusal.objects.get()
    assert (refusal.staff, refusal.channel, refusal.source) == (agent, "sms", "payment_link")


def test_payment_link_needs_something_due(agent, current_plan) -> None:
    with time_machine.travel(today_at(10), tick=False), pytest.raises(ApplicationError) as refused:
        payment_link_send(staff=agent, plan=current_plan)
    assert refused.value.code in {"nothing_due", "plan_not_payable"}


def _workspace_post(client, staff: User, plan: InstallmentPlan):
    client.force_login(staff)
    url = reverse("admin:support_payment_link", args=[plan.customer_id])
    with time_machine.travel(today_at(10), tick=False):
        return client.post(url, {"plan": plan.pk}, follow=True)


@pytest.mark.parametrize("group", [AGENT, APPROVER, LEAD])
def test_agents_approvers_and_leads_send_it_from_the_workspace(client, late_plan, group) -> None:
    staff = StaffFactory(groups=[group])
    client.force_login(staff)
    workspace = client.get(reverse("admin:support_customer", args=[late_plan.customer_id])).content.decode()
    assert 'data-action="payment-link"' in workspace
    response = _workspace_post(client, staff, late_plan)
    assert response.status_code == 200
    assert Notification.objects.filter(template_code="payment_link", user=late_plan.customer).count() == 1
    assert StaffAction.objects.filter(staff=staff, action="payment_link_sent").count() == 1


@pytest.mark.parametrize("group", [FINANCE, None])
def test_other_staff_cannot_send_it(client, late_plan, group) -> None:
    staff = StaffFactory(groups=[group] if group else [])
    response = _workspace_post(client, staff, late_plan)
    assert response.status_code == 403
    assert not Notification.objects.filter(template_code="payment_link").exists()
    with pytest.raises(ApplicationError) as refused:
        payment_link_send(staff=staff, plan=late_plan)
    assert refused.value.code == "permission_denied"


def test_the_workspace_shows_the_gates_refusal_with_its_code(client, agent, late_plan) -> None:
    client.force_login(agent)
    url = reverse("admin:support_payment_link", args=[late_plan.customer_id])
    with time_machine.travel(today_at(22, 30), tick=False):
        response = client.post(url, {"plan": late_plan.pk}, follow=True)
    assert response.status_code == 200
    assert "contact_outside_hours" in response.content.decode()
    assert client.get(url).status_code == 405  # a POST only


def test_agent_group_permissions_for_the_gate(db) -> None:
    for name in (AGENT, APPROVER, LEAD):
        codenames = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert {"send_payment_link", "view_contactrefusal"} <= codenames, name
        assert "add_contactrefusal" not in codenames
    finance = set(Group.objects.get(name=FINANCE).permissions.values_list("codename", flat=True))
    assert "send_payment_link" not in finance

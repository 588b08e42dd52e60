"""The contact gate (issue 19, item 6): hours, the day's connected calls, the debtor alone; each refusal
stored with its code. "Now" is put at a given China time with time_machine."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from installments.models import ContactLog, ContactRefusal, InstallmentPlan
from installments.services import contact_allowed, contact_log_create
from tests.factories import StaffFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def _window(customer: User, start: str, end: str) -> None:
    customer.contact_window_start = time.fromisoformat(start)
    customer.contact_window_end = time.fromisoformat(end)
    customer.save(update_fields=["contact_window_start", "contact_window_end"])


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(7, 59, False), (8, 0, True), (21, 59, True), (22, 0, False), (22, 30, False)],
)
@pytest.mark.parametrize("channel", ["call", "sms"])
def test_default_hours_08_to_22_china_time(customer, hour, minute, allowed, channel) -> None:
    decision = contact_allowed(customer=customer, channel=channel, at=at(hour, minute))
    assert decision.allowed is allowed
    refusals = list(ContactRefusal.objects.all())
    if allowed:
        assert refusals == []
    else:
        assert decision.code == "contact_outside_hours"
        [refusal] = refusals
        assert (refusal.customer, refusal.channel, refusal.code) == (
            customer,
            channel,
            "contact_outside_hours",
        )
        assert refusal.party == "debtor"
        assert refusal.at == at(hour, minute)
        # The next opening: 08:00 the same morning, or the next morning after 22:00.
        expected = at(8) if hour < 8 else at(8, day=DAY + timedelta(days=1))
        assert decision.opens_at == expected


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(8, 30, False), (9, 0, True), (11, 59, True), (12, 0, False), (21, 0, False)],
)
def test_the_customers_window_replaces_the_default_hours(customer, hour, minute, allowed) -> None:
    _window(customer, "09:00", "12:00")
    assert contact_allowed(customer=customer, channel="call", at=at(hour, minute)).allowed is allowed


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(22, 30, True), (7, 0, True), (8, 59, True), (9, 0, False), (12, 0, False), (19, 59, False)],
)
def test_only_the_customers_own_window_opens_night_hours(customer, hour, minute, allowed) -> None:
    _window(customer, "20:00", "09:00")  # a night worker: across midnight
    assert contact_allowed(customer=customer, channel="sms", at=at(hour, minute)).allowed is allowed


def test_third_party_is_refused_and_stored(customer, agent) -> None:
    decision = contact_allowed(customer=customer, channel="call", at=at(10), party="other", staff=agent)
    assert not decision
    assert decision.code == "contact_third_party"
    refusal = ContactRefusal.objects.get()
    assert (refusal.code, refusal.party, refusal.staff) == ("contact_third_party", "other", agent)
    assert contact_allowed(customer=customer, channel="call", at=at(10)).allowed


def test_probing_without_record_stores_nothing(customer) -> None:
    assert not contact_allowed(customer=customer, channel="sms", at=at(23), record=False)
    assert not ContactRefusal.objects.exists()


def _log(staff: User, customer: User, outcome: str = "reached", **kwargs: object) -> ContactLog:
    return contact_log_create(staff=staff, customer=customer, channel="call_out", outcome=outcome, **kwargs)


def test_the_fourth_connected_call_of_the_day_is_refused_across_staff(customer, agent, approver) -> None:
    other_agent = StaffFactory(groups=["agent"])
    with time_machine.travel(at(9), tick=False):
        _log(agent, customer)
        _log(approver, customer, outcome="no_answer")  # not connected: does not count
        _log(other_agent, customer, outcome="promise_to_pay", promise_to_pay_date=DAY + timedelta(days=3))
        _log(approver, customer, outcome="wrong_number")
    with time_machine.travel(at(14), tick=False):
        _log(agent, customer)  # the third connected call
        assert not contact_allowed(customer=customer, channel="call", record=False)
        with pytest.raises(ApplicationError) as refused:
            _log(other_agent, customer, outcome="no_answer")  # a fourth call, whatever came of it
        assert refused.value.code == "contact_daily_limit"
        assert "contact_daily_limit" in refused.value.message
        # An SMS is not a call: the day's call limit does not hold it back.
        assert contact_allowed(customer=customer, channel="sms").allowed
        # An inbound call is the customer's: never refused.
        contact_log_create(staff=agent, customer=customer, channel="call_in", outcome="reached")
    assert ContactLog.objects.filter(channel="call_out").count() == 5
    refusal = ContactRefusal.objects.get()
    assert (refusal.code, refusal.staff, refusal.source) == (
        "contact_daily_limit",
        other_agent,
        "contact_log",
    )
    with time_machine.travel(at(9, day=DAY + timedelta(days=1)), tick=False):
        _log(agent, customer)  # a new day


def test_log_a_call_refused_outside_hours_and_to_a_third_party(customer, agent) -> None:
    with time_machine.travel(at(22, 30), tick=False):
        with pytest.raises(ApplicationError) as late:
            _log(agent, customer)
        assert late.value.code == "contact_outside_hours"
        assert "08:00" in late.value.message
        assert "22:00" in late.value.message
        contact_log_create(staff=agent, customer=customer, channel="chat", outcome="reached")  # not gated
    with time_machine.travel(at(10), tick=False):
        with pytest.raises(ApplicationError) as other:
            _log(agent, customer, party="other")
        assert other.value.code == "contact_third_party"
        entry = _log(agent, customer)
    assert entry.party == "debtor"
    assert list(ContactRefusal.objects.order_by("id").values_list("code", flat=True)) == [
        "contact_outside_hours",
        "contact_third_party",
    ]


# --- the admin ---------------------------------------------------------------------------------------


def _contact_form(customer: User, **extra: str) -> dict[str, object]:
    return {"customer": customer.pk, "channel": "call_out", "outcome": "reached", "notes": "", **extra}


def test_log_a_call_in_the_admin_refused_at_22_30_allowed_at_10(client, agent, late_plan) -> None:
    customer = late_plan.customer
    today = timezone.localdate()
    client.force_login(agent)
    url = reverse("admin:installments_contactlog_add") + f"?customer={customer.pk}"
    with time_machine.travel(datetime.combine(today, time(22, 30), tzinfo=SHANGHAI), tick=False):
        response = client.post(url, _contact_form(customer))
    assert response.status_code == 200
    page = response.content.decode()
    assert "contact_outside_hours" in page  # the code is on the form, with the words
    assert "08:00" in page
    assert not ContactLog.objects.exists()
    with time_machine.travel(datetime.combine(today, time(10), tzinfo=SHANGHAI), tick=False):
        response = client.post(url, _contact_form(customer, party="other"))
        assert response.status_code == 200
        assert "contact_third_party" in response.content.decode()
        response = client.post(url, _contact_form(customer))
    assert response.status_code == 302
    assert ContactLog.objects.get().party == "debtor"

    # The refusals, in words, for staff: no raw code as the reason.
    listing = client.get(reverse("admin:installments_contactrefusal_changelist"))
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "不在客户可联系时间内" in text  # the staff member's language (zh-hans)
    assert "催收只能联系客户本人" in text
    assert str(customer.phone.national_number) not in text  # masked


def test_refusals_are_read_only_in_the_admin(client, agent, customer) -> None:
    contact_allowed(customer=customer, channel="call", at=at(23), staff=agent)
    refusal = ContactRefusal.objects.get()
    client.force_login(agent)
    assert client.get(reverse("admin:installments_contactrefusal_add")).status_code == 403
    page = client.get(reverse("admin:installments_contactrefusal_change", args=[refusal.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_plan_fixture_is_unaffected(late_plan: InstallmentPlan) -> None:
    assert late_plan.customer.contact_window_start is None  # the default hours for every customer

"""The support workspace's start page (the admin index for staff), customer search, the customer 360
header and tabs, the audited phone reveal and the leads' KPIs (issue 19, items 1, 2 and 9)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffAction
from core.errors import ApplicationError
from installments.allocation import payable_total
from installments.ledger import installment_rows, plan_dues
from installments.models import CollectionCase, CreditEvent, InstallmentPlan, NegotiationApplication
from installments.services import overdue_sweep, plan_create
from notifications.messages import NEGOTIATION_REPLY_WORKING_DAYS, get_template, render_message
from repayments.selectors import customer_summary, plan_balance
from repayments.services import (
    autodebit_set,
    complaint_file,
    customer_phone_reveal,
    debit_run_inline,
    repayment_record_offline,
    support,
)
from repayments.staff import AGENT, APPROVER, FINANCE, LEAD
from repayments.support_selectors import (
    add_working_days,
    application_queue_counts,
    customer_search,
    debit_success,
    reply_promise_cutoff,
    roll_rates,
)
from tests.factories import CustomerFactory, StaffFactory
from tests.installments.negotiation_support import apply

SHANGHAI = ZoneInfo("Asia/Shanghai")
INDEX = "/admin/"


@pytest.fixture
def lead(db):
    return StaffFactory(phone="+8613700000004", groups=[LEAD])


def search_url(q: str) -> str:
    return (
        reverse("admin:support_customer_search") + "?" + __import__("urllib.parse").parse.urlencode({"q": q})
    )


# --- customer search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "+86 138-1111-2222",
        "13811112222",
        "138 1111 2222",
        "１３８１１１１２２２２",
        "8613811112222",
        "(138) 1111-2222",
    ],
)
def test_search_finds_a_phone_in_any_spelling(customer, typed) -> None:
    assert [h.customer for h in customer_search(typed)] == [customer]


def test_search_by_name_plan_repayment_and_card_tail(customer, other_customer, card, overdue_plan) -> None:
    hits = customer_search("张")
    assert [h.customer for h in hits] == [customer]
    assert hits[0].matched == "name"
    assert [h.customer for h in customer_search(str(overdue_plan.public_id))] == [customer]
    assert [h.customer for h in customer_search(overdue_plan.public_id.hex[-8:])] == [customer]
    assert [h.customer for h in customer_search(overdue_plan.public_id.hex.upper())] == [customer]
    staff = StaffFactory(phone="+8613700000009", groups=[AGENT])
    repayment = repayment_record_offline(staff=staff, plan=overdue_plan, amount="10.00", reference="TRF-1")
    found = customer_search(str(repayment.public_id))
    assert [h.customer for h in found] == [customer]
    assert found[0].matched == "repayment"
    assert [h.customer for h in customer_search(repayment.public_id.hex[-8:])] == [customer]
    assert [h.customer for h in customer_search(f"{card.last4} 张")] == [customer]
    assert [h.customer for h in customer_search(f"张三 {card.last4}")] == [customer]
    assert customer_search(f"{card.last4} 李") == []  # the tail is another person's
    assert [h.customer for h in customer_search("李四")] == [other_customer]
    assert customer_search("王五") == []
    assert customer_search("   ") == []


def test_search_never_finds_staff(customer, agent) -> None:
    StaffFactory(phone="+8613700000077", real_name="张客服", groups=[AGENT])
    assert [h.customer for h in customer_search("张")] == [customer]
    assert customer_search("+86 137 0000 0001") == []  # the agent's own number
    assert customer_search("客服") == []


def test_search_page_masks_and_links_to_the_360(client, agent, customer) -> None:
    client.force_login(agent)
    page = client.get(search_url("张三")).content.decode()
    assert "张*" in page
    assert "138****2222" in page
    assert "13811112222" not in page
    assert "张三" not in page.replace('value="张三"', "")
    assert reverse("admin:support_customer", args=[customer.pk]) in page


def test_search_needs_a_workspace_right(client, customer) -> None:
    bookkeeper = StaffFactory(phone="+8613700000066")
    bookkeeper.user_permissions.add(Permission.objects.get(codename="view_journalentry"))
    client.force_login(bookkeeper)
    assert client.get(search_url("张")).status_code == 403


# --- the 360 header ------------------------------------------------------------------------------------


def test_header_figures_are_the_ledgers(late_plan, current_plan, customer, agent) -> None:
    today = timezone.localdate()
    summary = customer_summary(customer)
    rows = installment_rows([late_plan.pk], open_only=True)[late_plan.pk]
    late = [r for r in rows if r.due_date < today]
    assert summary.overdue == sum(r.outstanding for r in late) > 0
    assert summary.penalty == sum(r.open("penalty") for r in rows) > 0
    assert summary.days_past_due == late_plan.days_past_due == (today - late[0].due_date).days
    assert summary.bucket == late_plan.delinquency_bucket
    assert summary.payoff == plan_balance(late_plan).payoff + plan_balance(current_plan).payoff
    current_rows = installment_rows([current_plan.pk], open_only=True)[current_plan.pk]
    assert summary.payoff == payable_total(plan_dues(late_plan, rows, today=today)) + payable_total(
        plan_dues(current_plan, current_rows, today=today)
    )
    next_late = min(r.due_date for r in rows if r.due_date > today)
    next_current = min(r.due_date for r in current_rows if r.due_date > today)
    assert summary.next_due_date == min(next_late, next_current)
    assert summary.plans_paying == 2
    assert summary.autodebit_off == 2
    assert summary.autodebit_on == []
    assert summary.last_contact is None
    assert summary.open_application is None
    application = apply(late_plan)
    assert customer_summary(customer).open_application == application


def test_customer_page_header_tabs_and_labels(client, agent, customer, late_plan) -> None:
    client.force_login(agent)
    url = reverse("admin:support_customer", args=[customer.pk])
    page = client.get(url).content.decode()
    summary = customer_summary(customer)
    assert 'id="customer-header"' in page
    assert f"¥{summary.overdue:,.2f}" in page
    assert f"¥{summary.payoff:,.2f}" in page
    assert "138****2222" in page
    assert "13811112222" not in page
    assert " / 0.00 / " not in page  # no raw triples: each figure has its label
    for tab in ("plans", "payments", "debits", "sms", "documents", "contacts", "audit"):
        response = client.get(f"{url}?tab={tab}")
        assert response.status_code == 200, tab
        assert f'id="tab-{tab}" aria-current="page"' in response.content.decode()
    staff = StaffFactory(phone="+8613700000055", groups=[AGENT])
    assert client.get(reverse("admin:support_customer", args=[staff.pk])).status_code == 404


def test_application_change_page_carries_the_header(client, agent, late_plan) -> None:
    application = apply(late_plan)
    client.force_login(agent)
    page = client.get(
        reverse("admin:installments_negotiationapplication_change", args=[application.pk])
    ).content.decode()
    assert 'id="customer-header"' in page
    assert f"¥{customer_summary(late_plan.customer).overdue:,.2f}" in page


def test_case_and_complaint_pages_carry_the_header(client, agent, late_plan) -> None:
    """One header everywhere a customer appears: the collection case and the complaint too."""
    overdue_sweep(as_of=timezone.localdate())
    case = CollectionCase.objects.get(plan=late_plan)
    complaint = complaint_file(customer=late_plan.customer, channel="web", category="fees", text="收费不对")
    client.force_login(agent)
    overdue = f"¥{customer_summary(late_plan.customer).overdue:,.2f}"
    for url in (
        reverse("admin:installments_collectioncase_change", args=[case.pk]),
        reverse("admin:repayments_complaint_change", args=[complaint.pk]),
    ):
        page = client.get(url).content.decode()
        assert 'id="customer-header"' in page, url
        assert overdue in page, url


# --- the phone reveal --------------------------------------------------------------------------------------


def test_an_agent_reveals_the_phone_and_it_is_audited(client, agent, customer) -> None:
    client.force_login(agent)
    url = reverse("admin:support_customer_reveal_phone", args=[customer.pk])
    assert client.get(url).status_code == 405
    response = client.post(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "+86 138 1111 2222" in page
    assert "no-store" in response["Cache-Control"]
    action = StaffAction.objects.get()
    assert (action.staff, action.customer, action.action) == (agent, customer, "phone_revealed")
    assert action.detail == {"field": "account_phone", "masked": "138****2222"}
    assert "11112222" not in str(action.detail)
    audit = client.get(reverse("admin:support_customer", args=[customer.pk]) + "?tab=audit").content.decode()
    assert "Saw the full phone number" in audit or "查看了完整手机号" in audit
    assert agent.real_name in audit
    # The plain page shows the number masked again.
    assert (
        "+86 138 1111 2222"
        not in client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    )


@pytest.mark.parametrize("groups", [[AGENT], [APPROVER], [LEAD]])
def test_every_support_group_may_reveal(client, customer, groups) -> None:
    staff = StaffFactory(phone="+8613700000031", groups=groups)
    client.force_login(staff)
    assert client.post(reverse("admin:support_customer_reveal_phone", args=[customer.pk])).status_code == 200


def test_reveal_without_the_right_is_403_and_writes_nothing(client, customer) -> None:
    reader = StaffFactory(phone="+8613700000032", groups=[FINANCE])
    client.force_login(reader)
    assert client.post(reverse("admin:support_customer_reveal_phone", args=[customer.pk])).status_code == 403
    # Workspace rights without the reveal right: the header has no button and the POST is refused.
    viewer = StaffFactory(phone="+8613700000033")
    viewer.user_permissions.add(Permission.objects.get(codename="view_repayment"))
    client.force_login(viewer)
    page = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    assert 'id="reveal-phone"' not in page
    assert client.post(reverse("admin:support_customer_reveal_phone", args=[customer.pk])).status_code == 403
    assert not StaffAction.objects.exists()


def test_reveals_are_limited_per_hour(agent, customer, monkeypatch) -> None:
    monkeypatch.setattr(support, "PHONE_REVEALS_PER_HOUR", 2)
    customer_phone_reveal(staff=agent, customer=customer)
    customer_phone_reveal(staff=agent, customer=customer)
    with pytest.raises(ApplicationError) as refused:
        customer_phone_reveal(staff=agent, customer=customer)
    assert refused.value.code.value == "phone_reveal_limit"
    assert StaffAction.objects.count() == 2


def test_user_admin_masks_the_phone_for_readers(client, agent, customer) -> None:
    client.force_login(agent)
    page = client.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    assert "138****2222" in page
    assert "13811112222" not in page


# --- the start page -----------------------------------------------------------------------------------


def test_sms_promise_and_the_constant_agree() -> None:
    for language, words in (
        ("zh-hans", f"{NEGOTIATION_REPLY_WORKING_DAYS}个工作日"),
        ("en", f"{NEGOTIATION_REPLY_WORKING_DAYS} working days"),
    ):
        text = render_message(get_template("negotiation_submitted"), language=language, context={"plan": "x"})
        assert words in text


def test_working_days_skip_weekends() -> None:
    friday = date(2026, 11, 27)
    assert add_working_days(friday, 1) == date(2026, 11, 30)
    assert add_working_days(friday, 3) == date(2026, 12, 2)
    # Now: Wednesday 2 Dec 10:00. Submitted Friday 27 Nov: due Wednesday 2 Dec, not late yet;
    # submitted Thursday 26 Nov: due Tuesday 1 Dec, late.
    now = datetime(2026, 12, 2, 10, tzinfo=SHANGHAI)
    assert reply_promise_cutoff(now, 3) == datetime(2026, 11, 27, tzinfo=SHANGHAI)


def test_application_counts_mine_team_and_past_promise(
    agent, late_plan, other_customer, flat_product
) -> None:
    first = apply(late_plan)
    NegotiationApplication.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(days=10), assigned_to=agent, state="in_review"
    )
    queue = application_queue_counts(staff=agent)
    by_state = {s.state: s for s in queue.states}
    assert by_state["in_review"].count == 1
    assert by_state["in_review"].mine == 1
    assert by_state["in_review"].oldest_days == 10
    assert queue.past_promise == 1
    assert queue.past_promise_mine == 1
    assert queue.team_total == 1
    assert queue.mine_total == 1
    assert application_queue_counts(staff=None).mine_total == 0


def _index(client, user) -> str:
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def test_start_page_per_group(client, agent, approver, lead, customer) -> None:
    for user in (agent, approver, lead):
        page = _index(client, user)
        assert 'id="customer-search"' in page
        assert 'id="start-applications"' in page
        assert 'id="start-debit-slots"' in page
        assert 'id="reconciliation-alert"' not in page
        assert ('id="start-team-figures"' in page) is (user == lead), user.groups.first()
    # Finance reads repayments (so may look a customer up) but has no queue and no figures.
    finance = StaffFactory(phone="+8613700000034", groups=[FINANCE])
    page = _index(client, finance)
    assert 'id="start-applications"' not in page
    assert 'id="start-team-figures"' not in page


def test_index_names_the_sections_in_the_readers_language(client, agent) -> None:
    client.force_login(agent)
    page = client.get(INDEX, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "客服工作台" in page
    assert "Support workspace" not in page
    assert ">分期<" in page or "分期</a>" in page
    assert ">期数<" not in page


def test_index_query_count_is_bounded(client, lead, late_plan, flat_product) -> None:
    client.force_login(lead)
    client.get(INDEX)
    with CaptureQueriesContext(connection) as few:
        client.get(INDEX)
    for n in range(5):
        c = CustomerFactory(phone=f"+861390000{n:04d}")
        plan_create(
            customer=c,
            product=flat_product,
            principal=Decimal("600.00"),
            tenor=3,
            purchase_date=timezone.localdate() - timedelta(days=40),
        )
        complaint_file(customer=c, channel="web", category="fees", text="收费")
    overdue_sweep(as_of=timezone.localdate())  # opens a collection case per late plan
    assert CollectionCase.objects.filter(closed_at__isnull=True).count() >= 5
    with CaptureQueriesContext(connection) as many:
        client.get(INDEX)
    # 25 before the cases and complaints sections (h/wire): +10 for the cases (mine and the team's),
    # +4 for complaints (mine and the team's), +3 for the leads' cure rates and complaints by category.
    assert len(many) == len(few) <= 42


# --- KPIs ---------------------------------------------------------------------------------------------


def test_kpis_only_for_leads(client, agent, approver, lead) -> None:
    assert 'id="start-team-figures"' not in _index(client, agent)
    assert 'id="start-team-figures"' not in _index(client, approver)
    page = _index(client, lead)
    assert 'id="roll-rates"' in page
    assert "M0→M1" in page
    assert 'id="cure-rates"' in page


def test_roll_rates_from_credit_events(customer, flat_product) -> None:
    today = timezone.localdate()
    start = today - timedelta(days=30)
    plans = [
        plan_create(
            customer=customer,
            product=flat_product,
            principal=Decimal("600.00"),
            tenor=3,
            purchase_date=start - timedelta(days=40),
        )
        for _ in range(4)
    ]
    InstallmentPlan.objects.filter(pk__in=[p.pk for p in plans]).update(
        created_at=timezone.make_aware(datetime.combine(start - timedelta(days=40), datetime.min.time()))
    )
    a, _b, c, d = plans

    def event(plan, kind, src, dst, day):
        CreditEvent.objects.create(
            customer=customer, plan=plan, kind=kind, from_bucket=src, to_bucket=dst, business_date=day
        )

    # a: M0 at start, rolls to M1 in the window. b: M0, stays. c: M1 at start, rolls to M2. d: M1, cures.
    event(a, "became_late", "M0", "M1", start + timedelta(days=3))
    event(c, "became_late", "M0", "M1", start - timedelta(days=5))
    event(c, "bucket_changed", "M1", "M2", start + timedelta(days=20))
    event(d, "became_late", "M0", "M1", start - timedelta(days=10))
    event(d, "cured", "M1", "M0", start + timedelta(days=2))
    rates = {f"{r.source}{r.target}": r for r in roll_rates(days=30).rates}
    assert (rates["M0M1"].cohort, rates["M0M1"].rolled) == (2, 1)
    assert rates["M0M1"].percent == Decimal("50.0")
    assert (rates["M1M2"].cohort, rates["M1M2"].rolled) == (2, 1)
    assert (rates["M2M3"].cohort, rates["M2M3"].rolled) == (0, 0)


def test_debit_success_by_bank_and_slot(client, lead, customer, card, current_plan) -> None:
    autodebit_set(customer=customer, plan=current_plan, enabled=True, card=card)
    day = current_plan.first_due_date
    with time_machine.travel(datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI).replace(hour=9)):
        debit_run_inline(business_date=day, slot=1)
        figures = debit_success(days=30)
        assert [(r.label, r.total, r.hits) for r in figures.by_bank] == [(card.bank_name, 1, 1)]
        assert [(r.label, r.total) for r in figures.by_slot] == [("08:00", 1)]
        assert figures.by_bank[0].percent == Decimal("100.0")
        page = _index(client, lead)
        assert card.bank_name in page
        assert "100.0%" in page

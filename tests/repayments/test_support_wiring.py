"""The start page, the 360 header and the workspace wired to collection cases, promises to pay and 投诉."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from installments.models import CaseStatus, CollectionCase, ContactLog, PromiseToPay
from installments.services import overdue_sweep, plan_create, promise_to_pay_record
from repayments.selectors import customer_summary
from repayments.services import complaint_file
from repayments.staff import FINANCE, LEAD
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.usefixtures("contact_hours")


@pytest.fixture
def lead(db):
    return StaffFactory(phone="+8613700000004", groups=[LEAD])


@pytest.fixture
def case(late_plan) -> CollectionCase:
    overdue_sweep(as_of=timezone.localdate())
    return CollectionCase.objects.get(plan=late_plan, closed_at__isnull=True)


def _index(client, user) -> str:
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def test_start_page_shows_cases_by_bucket_with_links(client, agent, case) -> None:
    page = _index(client, agent)
    assert 'id="start-cases"' in page
    assert f'data-bucket="{case.bucket}"' in page
    queue = reverse("admin:installments_collectioncase_changelist")
    assert f"{queue}?who=all&amp;bucket__exact={case.bucket}" in page
    assert f"{queue}?who=all&amp;state=broken_promise" in page
    assert 'id="promises-due-today"' in page


def test_start_page_shows_complaints_near_their_deadline(client, agent, customer) -> None:
    complaint_file(customer=customer, channel="web", category="fees", text="收费不清楚")
    page = _index(client, agent)
    assert 'id="start-complaints"' in page
    queue = reverse("admin:repayments_complaint_changelist")
    assert f"{queue}?handler=mine&amp;open=yes" in page
    assert 'id="complaints-due-soon"' in page


def test_cases_and_complaints_sections_follow_rights(client, agent, approver, lead) -> None:
    for user in (agent, approver, lead):
        page = _index(client, user)
        assert 'id="start-cases"' in page
        assert 'id="start-complaints"' in page
    finance = StaffFactory(phone="+8613700000034", groups=[FINANCE])
    page = _index(client, finance)
    assert 'id="start-cases"' not in page
    assert 'id="start-complaints"' not in page


def test_leads_see_cure_rates_and_complaints_by_category(client, agent, lead, customer) -> None:
    complaint_file(customer=customer, channel="web", category="privacy", text="短信泄露")
    page = _index(client, lead)
    assert 'id="cure-rates"' in page
    assert 'id="complaints-by-category"' in page
    assert "cure-rates-placeholder" not in page
    assert 'id="complaints-by-category"' not in _index(client, agent)


# --- the 360 header ------------------------------------------------------------------------------------


def test_header_shows_the_open_case_last_promise_and_open_complaints(client, agent, customer, case) -> None:
    promised = timezone.localdate() + timedelta(days=2)
    promise_to_pay_record(staff=agent, case=case, amount="88.00", promised_date=promised, note="")
    complaint = complaint_file(customer=customer, channel="web", category="fees", text="收费不清楚")
    summary = customer_summary(customer)
    assert summary.open_case == case
    assert summary.last_promise is not None
    assert (summary.last_promise.amount, summary.last_promise.promised_date) == (Decimal("88.00"), promised)
    assert summary.last_promise.case_id == case.pk
    assert summary.open_complaint is not None
    assert (summary.open_complaint.count, summary.open_complaint.nearest) == (1, complaint)
    client.force_login(agent)
    page = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    assert reverse("admin:installments_collectioncase_change", args=[case.pk]) in page
    assert reverse("admin:repayments_complaint_change", args=[complaint.pk]) in page
    assert "¥88.00" in page
    assert complaint.deadline.strftime("%Y-%m-%d") in page


def test_header_query_count_is_bounded(customer, case, agent) -> None:
    """Ten queries at most (six before the case, the PromiseToPay, the complaints and the freezes were
    added)."""
    for n in range(3):
        complaint_file(customer=customer, channel="web", category="fees", text=f"第{n}次")
    with CaptureQueriesContext(connection) as queries:
        customer_summary(customer)
    assert len(queries) <= 10


# --- the workspace ------------------------------------------------------------------------------------


def test_workspace_links_a_plan_with_an_open_case_to_record_a_promise(
    client, agent, customer, case, current_plan
) -> None:
    client.force_login(agent)
    page = client.get(reverse("admin:support_customer", args=[customer.pk])).content.decode()
    promise_page = reverse("admin:installments_collectioncase_promise", args=[case.pk])
    assert page.count('class="button record-promise"') == 1  # the plan without a case has none
    assert promise_page in page
    assert client.get(promise_page).status_code == 200
    finance = StaffFactory(phone="+8613700000035", groups=[FINANCE])
    client.force_login(finance)
    response = client.get(reverse("admin:support_customer", args=[customer.pk]))
    assert response.status_code != 200 or promise_page not in response.content.decode()


# --- log a call with a promise: one way to record a promise -------------------------------------------

LOG_A_CALL = "/admin/installments/contactlog/add/"


def test_a_promise_logged_on_a_call_is_a_promise_on_the_open_case(client, agent, customer, case) -> None:
    client.force_login(agent)
    promised = timezone.localdate() + timedelta(days=3)
    response = client.post(
        LOG_A_CALL,
        {
            "customer": customer.pk,
            "channel": "call_in",
            "outcome": "promise_to_pay",
            "promise_to_pay_date": promised.isoformat(),
            "promise_amount": "60.00",
            "notes": "发薪日还",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("admin:installments_collectioncase_change", args=[case.pk])
    promise = PromiseToPay.objects.get()
    assert (promise.case, promise.amount, promise.promised_date) == (case, Decimal("60.00"), promised)
    assert ContactLog.objects.get() == promise.contact  # one contact, written with the promise
    case.refresh_from_db()
    assert case.status == CaseStatus.PROMISE_TO_PAY


def test_several_open_cases_need_the_plan(client, agent, customer, case, flat_product) -> None:
    other = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=50),
    )
    overdue_sweep(as_of=timezone.localdate())
    assert CollectionCase.objects.filter(customer=customer, closed_at__isnull=True).count() == 2
    client.force_login(agent)
    post = {
        "customer": customer.pk,
        "channel": "call_in",
        "outcome": "promise_to_pay",
        "promise_to_pay_date": (timezone.localdate() + timedelta(days=2)).isoformat(),
        "promise_amount": "20.00",
    }
    response = client.post(LOG_A_CALL, post)
    assert response.status_code == 200
    assert "多个未结案件" in response.content.decode()  # the agent reads the admin in zh
    assert not PromiseToPay.objects.exists()
    assert not ContactLog.objects.exists()
    response = client.post(LOG_A_CALL, {**post, "plan": other.pk})
    assert response.status_code == 302
    assert PromiseToPay.objects.get().case.plan == other


def test_without_an_open_case_the_promise_stays_on_the_contact(client, agent) -> None:
    nobody = CustomerFactory(phone="+8613811119999")
    client.force_login(agent)
    promised = timezone.localdate() + timedelta(days=2)
    response = client.post(
        LOG_A_CALL,
        {
            "customer": nobody.pk,
            "channel": "call_in",
            "outcome": "promise_to_pay",
            "promise_to_pay_date": promised.isoformat(),
            "promise_amount": "15.00",
        },
    )
    assert response.status_code == 302
    assert ContactLog.objects.get().promise_to_pay_date == promised
    assert not PromiseToPay.objects.exists()
    assert customer_summary(nobody).last_promise.amount == Decimal("15.00")


def test_the_new_sections_speak_chinese(client, agent, case) -> None:
    client.force_login(agent)
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "催收案件" in page
    assert "今天到期的承诺还款" in page
    assert "Collection cases" not in page


def test_the_plan_list_is_the_customers_own(client, agent, customer, case, flat_product) -> None:
    stranger = CustomerFactory(phone="+8613811118888")
    theirs = plan_create(
        customer=stranger,
        product=flat_product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=50),
    )
    overdue_sweep(as_of=timezone.localdate())
    client.force_login(agent)
    page = client.get(f"{LOG_A_CALL}?customer={customer.pk}").content.decode()
    assert f'<option value="{case.plan_id}"' in page
    assert f'<option value="{theirs.pk}"' not in page
    response = client.post(
        LOG_A_CALL,
        {
            "customer": customer.pk,
            "channel": "call_in",
            "outcome": "promise_to_pay",
            "promise_to_pay_date": (timezone.localdate() + timedelta(days=2)).isoformat(),
            "promise_amount": "20.00",
            "plan": theirs.pk,
        },
    )
    assert response.status_code == 200
    assert not PromiseToPay.objects.exists()

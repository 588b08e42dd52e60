"""The start page, the 360 header and the workspace wired to collection cases, promises to pay and 投诉."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from installments.models import CollectionCase
from installments.services import overdue_sweep
from repayments.services import complaint_file
from repayments.staff import FINANCE, LEAD
from tests.factories import StaffFactory

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

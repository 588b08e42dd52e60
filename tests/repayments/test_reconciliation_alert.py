"""A day with an open critical reconciliation break is visible: in ``/readyz``'s details (still 200: an
operations alert, not a reason to take web out of the load balancer) and as a banner on the admin index for
staff who may see breaks, linking to the open critical ones."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from repayments.models import BreakKind, BreakSeverity, BreakState, ReconciliationBreak
from repayments.selectors import reconciliation_alert
from repayments.services import reconciliation_break_resolve
from repayments.staff import AGENT
from tests.factories import StaffFactory

DAY = date(2026, 11, 28)


def _break(
    day: date = DAY, *, severity: str = BreakSeverity.CRITICAL, key: str = "repayment:x"
) -> ReconciliationBreak:
    return ReconciliationBreak.objects.create(
        business_date=day,
        kind=BreakKind.BOOK_ONLY,
        severity=severity,
        gateway_key=key,
        book_amount=Decimal("106.00"),
        note="test",
    )


def test_readyz_is_ok_with_no_break(client, db) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["alerts"]["reconciliation"] == {
        "status": "ok",
        "open_critical_breaks": 0,
        "dates": [],
    }


def test_readyz_reports_an_open_critical_break_and_stays_ready(client, db) -> None:
    _break()
    _break(date(2026, 11, 27), key="repayment:y")
    _break(key="repayment:z", severity=BreakSeverity.WARNING)  # not critical: not counted
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["alerts"]["reconciliation"] == {
        "status": "breaks_open",
        "open_critical_breaks": 2,
        "dates": ["2026-11-27", "2026-11-28"],
    }


def test_a_resolved_break_no_longer_shows(client, db) -> None:
    item = _break()
    reconciliation_break_resolve(staff=StaffFactory(is_superuser=True), item=item, reason="bank confirmed")
    assert ReconciliationBreak.objects.get().state == BreakState.RESOLVED
    assert not reconciliation_alert()
    assert client.get("/readyz").json()["alerts"]["reconciliation"]["open_critical_breaks"] == 0


def test_the_admin_index_shows_a_banner_linking_to_the_open_critical_breaks(client, db) -> None:
    _break()
    client.force_login(StaffFactory(is_superuser=True))
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="reconciliation-alert"' in page
    assert "2026-11-28" in page
    link = (
        reverse("admin:repayments_reconciliationbreak_changelist")
        + "?state__exact=open&amp;severity__exact=critical"
    )
    assert link in page
    listing = client.get(link.replace("&amp;", "&")).content.decode()
    assert "repayment:x" in listing


def test_no_banner_without_breaks_or_for_staff_who_cannot_see_them(client, db) -> None:
    client.force_login(StaffFactory(is_superuser=True))
    assert 'id="reconciliation-alert"' not in client.get(reverse("admin:index")).content.decode()
    _break()
    client.force_login(StaffFactory(groups=[AGENT]))  # agents do not see breaks
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert 'id="reconciliation-alert"' not in page.content.decode()


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-hans", "有 2 条未处理的严重对账差错"), ("en", "2 open critical reconciliation breaks")],
)
def test_the_banner_counts_in_both_languages(client, db, language, words) -> None:
    _break()
    _break(key="repayment:y")
    client.force_login(StaffFactory(is_superuser=True))
    client.cookies["django_language"] = language
    page = client.get(reverse("admin:index")).content.decode()
    assert words in page.split('id="reconciliation-alert"')[1].split("</ul>")[0]

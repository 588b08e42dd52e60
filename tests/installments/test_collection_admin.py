"""The case queue in the admin, per staff group: agents see their open cases by default and can work anyone's;
approvers work them too; only a lead reassigns in bulk; finance does not see cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from installments.models import CaseStatus, CollectionCase, PromiseToPay
from installments.services import overdue_sweep, plan_create
from repayments.staff import AGENT, APPROVER, FINANCE, LEAD
from tests.factories import CustomerFactory, StaffFactory

# Promises are taken on calls: inside the contact hours whatever time the suite runs.
pytestmark = pytest.mark.usefixtures("contact_hours")

QUEUE = "/admin/installments/collectioncase/"


@pytest.fixture
def agents(db):
    return StaffFactory(groups=[AGENT], real_name="王坐席"), StaffFactory(groups=[AGENT], real_name="李坐席")


@pytest.fixture
def cases(agents, flat_product) -> list[CollectionCase]:
    """Two M1 cases, one per agent (round-robin in the bucket): the first 15 days late, the second 10."""
    today = timezone.localdate()
    for days in (45, 40):
        plan_create(
            customer=CustomerFactory(),
            product=flat_product,
            principal="1200.00",
            tenor=12,
            purchase_date=today - timedelta(days=days),
        )
    overdue_sweep(as_of=today)
    return list(CollectionCase.objects.order_by("plan_id"))


def test_agent_queue_defaults_to_mine_open_sorted_with_age_and_yuan(client, agents, cases) -> None:
    mine, theirs = cases
    assert mine.assignee == agents[0]
    client.force_login(agents[0])
    page = client.get(QUEUE)
    assert page.status_code == 200
    body = page.content.decode()
    assert f"/admin/installments/collectioncase/{mine.pk}/change/" in body
    assert f"/admin/installments/collectioncase/{theirs.pk}/change/" not in body
    assert "¥" in body
    assert 'class="field-age"' in body
    # Anyone's cases are one click away, ordered by next action date then days past due.
    body = client.get(QUEUE + "?who=all").content.decode()
    assert body.index(f"/{mine.pk}/change/") < body.index(f"/{theirs.pk}/change/")
    CollectionCase.objects.filter(pk=theirs.pk).update(
        next_action_date=timezone.localdate() - timedelta(days=1)
    )
    body = client.get(QUEUE + "?who=all").content.decode()
    assert body.index(f"/{theirs.pk}/change/") < body.index(f"/{mine.pk}/change/")
    # One status is one choice: the default "open (any)" is not the status "open" as well.
    assert body.count('class="selected"') == 3
    # Resolved cases are left out by default.
    CollectionCase.objects.filter(pk=mine.pk).update(
        status=CaseStatus.RESOLVED, closed_at=timezone.now(), close_reason="cured"
    )
    assert f"/{mine.pk}/change/" not in client.get(QUEUE).content.decode()
    assert f"/{mine.pk}/change/" in client.get(QUEUE + "?state=all").content.decode()


def test_case_page_links_the_workspace_and_records_a_promise(client, agents, cases) -> None:
    theirs = cases[1]
    client.force_login(agents[0])  # another agent's case: anyone may work it
    page = client.get(f"{QUEUE}{theirs.pk}/change/").content.decode()
    assert f"/admin/repayments/repayment/customer/{theirs.customer_id}/" in page
    assert f"{QUEUE}{theirs.pk}/promise/" in page
    too_late = timezone.localdate() + timedelta(days=30)
    refused = client.post(
        f"{QUEUE}{theirs.pk}/promise/", {"amount": "50.00", "promised_date": too_late, "channel": "call_out"}
    )
    assert refused.status_code == 200
    assert "errorlist" in refused.content.decode()
    assert not PromiseToPay.objects.exists()
    promised = timezone.localdate() + timedelta(days=2)
    done = client.post(
        f"{QUEUE}{theirs.pk}/promise/",
        {
            "amount": "50.00",
            "promised_date": promised.isoformat(),
            "channel": "call_in",
            "note": "周五发工资",
        },
    )
    assert done.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.status, theirs.next_action_date) == (CaseStatus.PROMISE_TO_PAY, promised)
    page = client.get(f"{QUEUE}{theirs.pk}/change/").content.decode()
    assert "¥50.00" in page
    assert "周五发工资" in page


@pytest.mark.parametrize(("group", "allowed"), [(AGENT, False), (APPROVER, False), (LEAD, True)])
def test_only_the_lead_reassigns_in_bulk(client, agents, cases, group, allowed) -> None:
    staff = StaffFactory(groups=[group])
    client.force_login(staff)
    queue = client.get(QUEUE + "?who=all").content.decode()
    assert ('value="reassign"' in queue) is allowed
    ids = ",".join(str(case.pk) for case in cases)
    answer = client.post(f"{QUEUE}reassign/?ids={ids}", {"assignee": agents[1].pk})
    if not allowed:
        assert answer.status_code == 403
        assert CollectionCase.objects.filter(assignee=agents[1]).count() == 1
        return
    assert answer.status_code == 302
    assert CollectionCase.objects.filter(assignee=agents[1]).count() == 2
    # The action on the list leads to that page.
    action = client.post(QUEUE + "?who=all", {"action": "reassign", "_selected_action": [cases[0].pk]})
    assert action.status_code == 302
    assert action["Location"].endswith(f"reassign/?ids={cases[0].pk}")


@pytest.mark.parametrize(("group", "status"), [(AGENT, 200), (APPROVER, 200), (LEAD, 200), (FINANCE, 403)])
def test_who_sees_the_queue_and_records_promises(client, cases, group, status) -> None:
    staff = StaffFactory(groups=[group])
    client.force_login(staff)
    assert client.get(QUEUE).status_code == status
    assert client.get(f"{QUEUE}{cases[0].pk}/promise/").status_code == status
    # Nobody adds or deletes a case by hand: the sweep opens and closes them.
    assert client.get(f"{QUEUE}add/").status_code == 403
    assert client.post(f"{QUEUE}{cases[0].pk}/delete/").status_code == 403


def test_next_step_sets_the_date_and_takes_an_unassigned_case(client, flat_product) -> None:
    plan = plan_create(
        customer=CustomerFactory(),
        product=flat_product,
        principal="1200.00",
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=40),
    )
    overdue_sweep(as_of=timezone.localdate())  # no agent yet: unassigned
    case = CollectionCase.objects.get(plan=plan)
    assert case.assignee is None
    agent = StaffFactory(groups=[AGENT])
    client.force_login(agent)
    later = timezone.localdate() + timedelta(days=5)
    too_late = timezone.localdate() + timedelta(days=31)
    refused = client.post(f"{QUEUE}{case.pk}/follow-up/", {"next_action_date": too_late.isoformat()})
    assert refused.status_code == 200
    assert "errorlist" in refused.content.decode()
    assert (
        client.post(f"{QUEUE}{case.pk}/follow-up/", {"next_action_date": later.isoformat()}).status_code
        == 302
    )
    case.refresh_from_db()
    assert (case.status, case.assignee, case.next_action_date) == (CaseStatus.IN_PROGRESS, agent, later)

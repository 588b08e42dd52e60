"""The waiver pages in the staff workspace, per group: agents ask (applied at once up to the threshold),
approvers and leads approve or reject what waits, nobody approves their own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffAction
from installments.models import Adjustment, AdjustmentState, InstallmentPlan
from installments.services import overdue_sweep, plan_create
from notifications.models import Notification
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import StaffFactory

ADD = "admin:installments_adjustment_add"


@pytest.fixture
def penalised(customer, flat_product) -> InstallmentPlan:
    plan = plan_create(
        customer=customer, product=flat_product, principal=Decimal("3000.00"), tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=100),
    )  # fmt: skip
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=Decimal("0.01"))
    overdue_sweep(as_of=timezone.localdate())
    return plan


def _form(plan: InstallmentPlan, amount: str) -> dict[str, object]:
    return {
        "plan": plan.pk,
        "kind": "waive_penalty",
        "amount": amount,
        "reason_code": "hardship",
        "note": "n",
    }


@pytest.mark.parametrize("group", [AGENT, APPROVER, LEAD])
def test_each_group_asks_for_a_waiver_from_the_workspace(client, group, penalised, settings) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    staff = StaffFactory(groups=[group])
    client.force_login(staff)
    url = reverse(ADD) + f"?customer={penalised.customer_id}&plan={penalised.pk}"
    page = client.get(url).content.decode()
    assert f'<option value="{penalised.pk}" selected>' in page
    assert "Open now on this plan" in page or "本分期当前未还" in page
    small = client.post(url, _form(penalised, "3.00"))
    assert small.status_code == 302
    assert small["Location"] == reverse("admin:support_customer", args=[penalised.customer_id])
    big = client.post(url, _form(penalised, "10.00"))
    assert big.status_code == 302
    states = list(Adjustment.objects.order_by("id").values_list("state", flat=True))
    assert states == [AdjustmentState.APPLIED, AdjustmentState.REQUESTED]
    own = Adjustment.objects.get(state=AdjustmentState.REQUESTED)
    approve = reverse("admin:installments_adjustment_approve", args=[own.pk])
    if group == AGENT:
        assert client.get(approve).status_code == 403
    else:
        refused = client.post(approve, {})
        assert refused.status_code == 200  # own request: refused on the form
        assert "errorlist" in refused.content.decode()
    assert Adjustment.objects.get(pk=own.pk).state == AdjustmentState.REQUESTED


@pytest.mark.parametrize("group", [APPROVER, LEAD])
def test_approvers_and_leads_approve_and_reject(client, group, penalised, agent, settings) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    client.force_login(agent)
    client.post(reverse(ADD), _form(penalised, "10.00"))
    client.post(reverse(ADD), _form(penalised, "11.00"))
    first, second = Adjustment.objects.order_by("id")
    checker = StaffFactory(groups=[group])
    client.force_login(checker)
    listing = client.get(reverse("admin:installments_adjustment_changelist")).content.decode()
    assert reverse("admin:installments_adjustment_approve", args=[first.pk]) in listing
    assert "¥10.00" in listing
    assert (
        client.post(reverse("admin:installments_adjustment_approve", args=[first.pk]), {}).status_code == 302
    )
    no_note = client.post(reverse("admin:installments_adjustment_reject", args=[second.pk]), {"note": ""})
    assert no_note.status_code == 200
    done = client.post(
        reverse("admin:installments_adjustment_reject", args=[second.pk]), {"note": "no proof"}
    )
    assert done.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.approved_by) == (AdjustmentState.APPLIED, checker)
    assert (second.state, second.decision_note) == (AdjustmentState.REJECTED, "no proof")
    assert Notification.objects.filter(template_code="adjustment_applied").count() == 1
    actions = set(StaffAction.objects.filter(staff=checker).values_list("action", flat=True))
    assert actions == {"adjustment_approved", "adjustment_rejected"}


def test_more_than_is_open_is_refused_on_the_form_with_the_figure(client, penalised, agent) -> None:
    client.force_login(agent)
    page = client.post(reverse(ADD), _form(penalised, "99999.00"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "errorlist" in text
    assert "¥" in text
    assert not Adjustment.objects.exists()


def test_staff_without_the_right_cannot_ask_or_approve(client, penalised, agent, settings) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    client.force_login(agent)
    client.post(reverse(ADD), _form(penalised, "10.00"))
    adjustment = Adjustment.objects.get()
    client.force_login(StaffFactory())
    assert client.get(reverse(ADD)).status_code == 403
    assert (
        client.post(reverse("admin:installments_adjustment_approve", args=[adjustment.pk]), {}).status_code
        == 403
    )

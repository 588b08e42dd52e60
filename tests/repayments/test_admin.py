"""Staff record offline payments and reverse repayments in the admin, through the services."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from repayments.models import Repayment, RepaymentStatus
from repayments.services import debit_run_inline, repayment_create
from simulators.bank import simulator_balance


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")


def test_offline_payment_from_the_admin(client, staff, overdue_plan) -> None:
    client.force_login(staff)
    url = reverse("admin:repayments_repayment_add")
    assert client.get(url).status_code == 200
    response = client.post(url, {"plan": overdue_plan.pk, "amount": "106.00", "reference": "TRF-9"})
    repayment = Repayment.objects.get()
    assert response.status_code == 302
    assert repayment.channel == "staff"
    assert repayment.created_by == staff
    assert repayment.allocations.count() == 2
    response = client.post(url, {"plan": overdue_plan.pk, "amount": "5000.00", "reference": "TRF-10"})
    assert response.status_code == 200
    assert "¥1," in response.content.decode()  # the most that can be recorded is shown
    assert Repayment.objects.count() == 1


def test_reversal_from_the_admin_needs_a_reason(client, staff, customer, card, overdue_plan) -> None:
    before = simulator_balance(card.gateway_token)
    repayment = repayment_create(
        customer=customer, plan=overdue_plan, mode="due_now", card=card, channel="web", idempotency_key="a1"
    )
    client.force_login(staff)
    change = client.get(reverse("admin:repayments_repayment_change", args=[repayment.pk])).content.decode()
    url = reverse("admin:repayments_repayment_reverse", args=[repayment.pk])
    assert url in change
    assert client.post(url, {"reason": ""}).status_code == 200
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert client.post(url, {"reason": "duplicate payment"}).status_code == 302
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.REVERSED
    assert simulator_balance(card.gateway_token) == before
    assert repayment.events.get(kind="reversed").actor == staff


def test_cards_are_read_only_and_masked_in_admin(client, staff, card) -> None:
    client.force_login(staff)
    body = client.get(reverse("admin:repayments_bankcard_changelist")).content.decode()
    assert f"尾号{card.last4}" in body
    assert client.get(reverse("admin:repayments_bankcard_add")).status_code == 403


def test_debit_runs_list_and_run_now(
    client, staff, customer, card, django_capture_on_commit_callbacks
) -> None:
    debit_run_inline(business_date=timezone.localdate(), slot=1)
    client.force_login(staff)
    body = client.get(reverse("admin:repayments_debitrun_changelist")).content.decode()
    assert "无应扣款项" in body  # nothing was due: finished, not "0/0"
    assert reverse("admin:repayments_debitrun_run_now") in body
    url = reverse("admin:repayments_debitrun_run_now")
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"slot": "2"})
    assert response.status_code == 302
    assert len(callbacks) == 1


def test_an_agent_reads_debit_runs_but_cannot_start_one(client, agent, customer, card) -> None:
    """Review: agents got a bare 403 on debit runs. They read them now; starting a slot moves money and
    stays with operators (the change right)."""
    debit_run_inline(business_date=timezone.localdate(), slot=1)
    client.force_login(agent)
    listing = client.get(reverse("admin:repayments_debitrun_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:repayments_debitrun_run_now") not in listing.content.decode()
    assert client.get(reverse("admin:repayments_debitrun_run_now")).status_code == 403
    assert client.post(reverse("admin:repayments_debitrun_run_now"), {"slot": "2"}).status_code == 403

"""A charged-off plan (核销) from the customer's side and the money side: auto-debit and reminders stop,
the customer can still pay (a recovery) until it is paid off, pages and the API say "overdue, please
contact us" and never "charged off", a payment made before the charge-off cannot be reversed, and staff
see the charge-off with its Undo page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import ApplicationError
from installments.models import ChargeOffUndo, CreditEventKind, InstallmentPlan, PlanStatus
from installments.services import charge_off_undo_request, overdue_sweep, plan_create, plans_charge_off
from notifications.models import Notification
from repayments.models import DebitAttempt, Repayment, RepaymentStatus
from repayments.services import (
    autodebit_set,
    debit_run_inline,
    reminders_send,
    repayment_create,
    repayment_reverse,
)
from repayments.services.autodebit import candidate_plans
from tests.factories import ProductFactory

D = Decimal


@pytest.fixture
def short_product(db):
    return ProductFactory(
        code="short", name="短期", fee_method="flat_fee", fee_rate=D("0.005"), tenors=[12],
        charge_off_after_days=30,
    )  # fmt: skip


@pytest.fixture
def plan(customer, short_product) -> InstallmentPlan:
    """Bought 70 days ago: about 40 days past due today, over its 30-day limit (not yet charged off)."""
    plan = plan_create(
        customer=customer,
        product=short_product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    return plan


def charge_off_today(plan: InstallmentPlan) -> InstallmentPlan:
    assert plans_charge_off(business_date=timezone.localdate()).charged_off == 1
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CHARGED_OFF
    return plan


def owed(plan: InstallmentPlan) -> Decimal:
    return sum((i.outstanding for i in plan.installments.all()), D("0.00"))


def pay(customer, plan, card, amount, key):
    return repayment_create(
        customer=customer,
        plan=plan,
        mode="custom",
        amount=amount,
        card=card,
        channel="web",
        idempotency_key=key,
    )


def test_auto_debit_skips_a_charged_off_plan(customer, card, plan) -> None:
    autodebit_set(customer=customer, plan=plan, enabled=True)
    next_due = plan.installments.filter(status="pending").order_by("sequence").first().due_date
    assert plan.pk in set(candidate_plans(next_due, 1))  # its next due date would be debited...
    charge_off_today(plan)
    assert plan.pk not in set(candidate_plans(next_due, 1))  # ...but not once charged off
    debit_run_inline(business_date=next_due, slot=1)
    assert not DebitAttempt.objects.filter(plan=plan).exists()
    with pytest.raises(ApplicationError):  # and it cannot be turned on again
        autodebit_set(customer=customer, plan=plan, enabled=True)


def test_reminders_skip_a_charged_off_plan(customer, plan, settings) -> None:
    today = timezone.localdate()
    settings.REMINDER_DAYS_OVERDUE = [plan.days_past_due]
    settings.REMINDER_DAYS_BEFORE_DUE = [d for d in range(0, 40)]
    assert reminders_send(business_date=today) >= 1  # it would be reminded...
    Notification.objects.all().delete()
    charge_off_today(plan)
    assert reminders_send(business_date=today) == 0  # ...but not once charged off
    assert list(Notification.objects.values_list("template_code", flat=True)) == ["charge_off_notice"]


def test_a_customer_payment_is_allowed_and_paying_in_full_pays_it_off(customer, card, plan) -> None:
    charge_off_today(plan)
    before = owed(plan)
    first = pay(customer, plan, card, D("100.00"), "r1")
    assert first.status == RepaymentStatus.SUCCEEDED
    plan.refresh_from_db()
    assert (plan.status, owed(plan)) == (PlanStatus.CHARGED_OFF, before - D("100.00"))
    rest = repayment_create(
        customer=customer, plan=plan, mode="payoff", card=card, channel="api", idempotency_key="r2"
    )
    assert rest.status == RepaymentStatus.SUCCEEDED
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PAID_OFF
    assert plan.charged_off_on == timezone.localdate()  # the history stays
    assert plan.credit_events.filter(kind=CreditEventKind.CURED).exists()


def test_a_payment_made_before_the_charge_off_cannot_be_reversed_one_after_can(
    customer, card, plan, agent
) -> None:
    early = pay(customer, plan, card, D("50.00"), "early")
    charge_off_today(plan)
    with pytest.raises(ApplicationError) as refused:
        repayment_reverse(staff=agent, repayment=early, reason="chargeback")
    assert refused.value.code == "paid_before_charge_off"
    late = pay(customer, plan, card, D("60.00"), "late")
    reversed_ = repayment_reverse(staff=agent, repayment=late, reason="chargeback")
    plan.refresh_from_db()
    assert (reversed_.status, plan.status) == (RepaymentStatus.REVERSED, PlanStatus.CHARGED_OFF)


def test_a_charge_off_with_a_recovery_cannot_be_undone(customer, card, plan, agent, settings) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100000.00"
    charge_off_today(plan)
    pay(customer, plan, card, D("30.00"), "recovery")
    with pytest.raises(ApplicationError) as refused:
        charge_off_undo_request(staff=agent, plan=plan, reason="mistake")
    assert refused.value.code == "recovery_received"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CHARGED_OFF
    assert not ChargeOffUndo.objects.exists()


def test_a_charge_off_is_deferred_while_a_charge_is_in_flight(customer, card, plan) -> None:
    in_flight = pay(customer, plan, card, D("30.00"), "slow")
    Repayment.objects.filter(pk=in_flight.pk).update(status=RepaymentStatus.PENDING)
    run = plans_charge_off(business_date=timezone.localdate())
    plan.refresh_from_db()
    assert (run.charged_off, run.deferred, plan.status) == (0, 1, PlanStatus.OVERDUE)
    Repayment.objects.filter(pk=in_flight.pk).update(status=RepaymentStatus.SUCCEEDED)


@pytest.mark.parametrize(
    ("language", "shown"),
    [("zh-hans", "已逾期，请联系客服"), ("en", "Overdue, please contact us")],
)
def test_the_customer_pages_say_overdue_please_contact_us(signed_in, plan, language, shown) -> None:
    charge_off_today(plan)
    signed_in.post(reverse("accounts:language"), {"language": language})  # the account's language decides
    for url in (reverse("repayments:plan", args=[plan.public_id]), reverse("repayments:bills")):
        page = signed_in.get(url).content.decode()
        assert shown in page, url
        for word in ("charged off", "charged_off", "核销", "Charged off"):
            assert word not in page, (url, word)
    detail = signed_in.get(reverse("repayments:plan", args=[plan.public_id])).content.decode()
    assert reverse("repayments:pay", args=[plan.public_id]) in detail  # it can still be repaid


def test_the_api_shows_overdue_with_contact_us(customer, plan) -> None:
    api = APIClient()
    api.force_authenticate(customer)
    url = f"/api/v1/plans/{plan.public_id}/"
    before = api.get(url).json()
    assert (before["status"], before["contact_us"], before["notice"]) == ("overdue", False, None)
    charge_off_today(plan)
    for language, notice in (("en", "Overdue, please contact us"), ("zh-hans", "已逾期，请联系客服")):
        body = api.get(url, HTTP_ACCEPT_LANGUAGE=language).json()
        assert (body["status"], body["contact_us"], body["notice"]) == ("overdue", True, notice)
        assert "charged" not in str(body)
    listed = api.get("/api/v1/plans/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["status"] for r in rows] == ["overdue"]
    bills = api.get("/api/v1/bills/", HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    assert [(b["contact_us"], b["notice"], b["autodebit_enabled"]) for b in bills] == [
        (True, "Overdue, please contact us", False)
    ]


def test_staff_see_the_charge_off_and_undo_it_from_the_plan_page(client, agent, plan, settings) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100000.00"
    charge_off_today(plan)
    client.force_login(agent)
    change = client.get(reverse("admin:installments_installmentplan_change", args=[plan.pk])).content.decode()
    assert "charged off on" in change or "核销" in change
    undo_url = reverse("admin:installments_installmentplan_undo_charge_off", args=[plan.pk])
    assert undo_url in change
    response = client.post(undo_url, {"reason": "the payment arrived late"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    assert ChargeOffUndo.objects.get().requested_by == agent


def test_the_approver_page_undoes_a_request_above_the_threshold(
    client, agent, approver, plan, settings
) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "10.00"
    charge_off_today(plan)
    client.force_login(agent)
    client.post(
        reverse("admin:installments_installmentplan_undo_charge_off", args=[plan.pk]), {"reason": "dispute"}
    )
    undo = ChargeOffUndo.objects.get()
    assert undo.state == "pending_approval"
    approve_url = reverse("admin:installments_chargeoffundo_approve", args=[undo.pk])
    assert client.get(approve_url).status_code == 403  # the agent cannot approve
    client.force_login(approver)
    assert approve_url in client.get(reverse("admin:installments_chargeoffundo_changelist")).content.decode()
    assert client.post(approve_url, {}).status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE

"""The business day opens the same way whichever path opens it: ``run_daily`` (the command, demos) and
the morning beat task both call ``day_open``, with one cut-off for expiring negotiated-plan offers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from installments.models import CreditEvent, InstallmentPlan, NegotiationApplication
from installments.services import (
    OfferTerms,
    negotiation_start_review,
    overdue_sweep,
    plan_create,
)
from notifications.models import Notification
from repayments.services import run_daily
from repayments.tasks import daily_morning
from tests.installments.negotiation_support import apply, send_offer


def offered(plan: InstallmentPlan, agent, expires_at: datetime) -> NegotiationApplication:
    application = apply(plan)
    negotiation_start_review(staff=agent, application=application)
    terms = OfferTerms(tenor=12, fee_rate=Decimal("0.004"), penalty_waiver=Decimal("0"))
    application = send_offer(agent, application, terms)
    NegotiationApplication.objects.filter(pk=application.pk).update(offer_expires_at=expires_at)
    return application


def state_after(run: Callable[[], object]) -> tuple:
    """What a path leaves behind (offers, plans, credit events, SMS by template), then rolled back."""
    with transaction.atomic():
        run()
        state = (
            sorted(NegotiationApplication.objects.values_list("pk", "state")),
            sorted(
                InstallmentPlan.objects.values_list("pk", "status", "delinquency_bucket", "days_past_due")
            ),
            sorted(CreditEvent.objects.values_list("plan_id", "kind", "business_date")),
            sorted(Notification.objects.values_list("template_code", flat=True)),
        )
        transaction.set_rollback(True)
    return state


def test_run_daily_and_the_morning_task_open_the_day_alike(customer, flat_product, late_plan, agent) -> None:
    today = timezone.localdate()
    start_of_day = timezone.make_aware(datetime.combine(today, time.min))
    other = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("600.00"),
        tenor=6,
        purchase_date=today - timedelta(days=70),
        merchant_order_ref="LATE-2",
    )
    overdue_sweep(as_of=today)
    lapsed = offered(late_plan, agent, start_of_day - timedelta(minutes=1))  # before the day opened
    offered(other, agent, start_of_day + timedelta(seconds=1))  # after: still open on this business date
    by_task = state_after(daily_morning)
    by_command = state_after(lambda: run_daily(business_date=today))
    assert by_task == by_command
    offers = dict(by_task[0])
    assert offers[lapsed.pk] == "expired"
    assert sorted(offers.values()) == ["expired", "offered"]

"""Overdue SMS: one message per customer and day with the total over all their overdue plans (review, 短信:
"two overdue reminders in one minute give per-plan figures instead of one total")."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.celery import app
from installments.models import FreezeEnd, FreezeReason, InstallmentPlan
from installments.services import overdue_sweep, plan_create, plan_freeze_end, plan_freeze_start
from notifications.models import Notification
from repayments.services import overdue_reminders_send, reminders_send
from repayments.tasks import daily_morning
from tests.schedule_dates import first_due_on, purchase_due_on

D = Decimal


def _late_plan(customer: User, product, ref: str, days_late: int) -> InstallmentPlan:
    """Installment 1 (106.00) is ``days_late`` days overdue; no penalty, so the figures read plainly."""
    due = timezone.localdate() - timedelta(days=days_late)
    plan = plan_create(
        customer=customer,
        product=product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=purchase_due_on(due),
        merchant_order_ref=ref,
    )
    first_due_on(plan, due)
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=0)
    return plan


def _overdue_sms(user: User) -> list[Notification]:
    return list(
        Notification.objects.filter(
            user=user, template_code__in=["overdue_reminder", "overdue_summary"]
        ).order_by("id")
    )


def test_several_overdue_plans_get_one_sms_with_the_total(customer, other_customer, flat_product) -> None:
    today = timezone.localdate()
    _late_plan(customer, flat_product, "LATE-A", 3)
    _late_plan(customer, flat_product, "LATE-B", 3)
    _late_plan(customer, flat_product, "LATE-C", 5)  # not a reminder day on its own, but in the total
    _late_plan(other_customer, flat_product, "LATE-OTHER", 7)
    overdue_sweep(as_of=today)

    reminders_send(business_date=today)

    [summary] = _overdue_sms(customer)
    assert summary.template_code == "overdue_summary"
    assert "3笔分期已逾期" in summary.text
    assert "最长5天" in summary.text
    assert "¥318.00" in summary.text  # 3 x 106.00, one figure
    [single] = _overdue_sms(other_customer)
    assert single.template_code == "overdue_reminder"  # one plan: named, with its own figure
    assert "LATE-OTHER" in single.text
    assert "逾期7天" in single.text
    assert "¥106.00" in single.text


def test_a_second_run_the_same_day_sends_nothing_new(customer, flat_product) -> None:
    today = timezone.localdate()
    _late_plan(customer, flat_product, "LATE-A", 3)
    _late_plan(customer, flat_product, "LATE-B", 1)
    overdue_sweep(as_of=today)
    reminders_send(business_date=today)
    _late_plan(customer, flat_product, "LATE-NEW", 1)  # a third plan falls late before the second run
    overdue_sweep(as_of=today)
    reminders_send(business_date=today)
    overdue_reminders_send(business_date=today, customer_ids=[customer.pk])
    [only] = _overdue_sms(customer)
    assert "2笔" in only.text
    # The next reminder day is a new message.
    tomorrow = today + timedelta(days=2)  # LATE-B is 3 days late then
    overdue_sweep(as_of=tomorrow)
    reminders_send(business_date=tomorrow)
    assert len(_overdue_sms(customer)) == 2


def test_no_reminder_day_no_sms(customer, flat_product) -> None:
    today = timezone.localdate()
    _late_plan(customer, flat_product, "LATE-A", 2)
    _late_plan(customer, flat_product, "LATE-B", 4)
    overdue_sweep(as_of=today)
    reminders_send(business_date=today)
    assert _overdue_sms(customer) == []


def test_english_customer_reads_the_total_in_english(customer, flat_product) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    today = timezone.localdate()
    _late_plan(customer, flat_product, "LATE-A", 1)
    _late_plan(customer, flat_product, "LATE-B", 1)
    overdue_sweep(as_of=today)
    reminders_send(business_date=today)
    [summary] = _overdue_sms(customer)
    assert "2 of your plans are overdue" in summary.text
    assert "¥212.00 in all" in summary.text


@pytest.mark.postgres
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_morning_task_on_a_real_worker_sends_one_total_per_customer(customer, flat_product) -> None:
    with transaction.atomic():
        _late_plan(customer, flat_product, "LATE-A", 3)
        _late_plan(customer, flat_product, "LATE-B", 3)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert "reminders" in daily_morning.delay().get(timeout=60)
        daily_morning.delay().get(timeout=60)  # the beat's message delivered twice
    [summary] = _overdue_sms(customer)
    assert "¥212.00" in summary.text


def test_seed_demo_sends_one_overdue_sms_per_customer(db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    late = Notification.objects.filter(template_code__in=["overdue_reminder", "overdue_summary"])
    users = list(late.values_list("user_id", flat=True))
    assert users
    assert len(users) == len(set(users))


# --- 暂停计息: no overdue SMS for a frozen plan; they resume once it ends -------------------------------


def test_a_frozen_plan_gets_no_overdue_sms_and_they_resume_after(customer, flat_product) -> None:
    today = timezone.localdate()
    frozen = _late_plan(customer, flat_product, "LATE-FROZEN", 3)
    overdue_sweep(as_of=today)
    plan_freeze_start(plan=frozen, reason=FreezeReason.NEGOTIATION, today=today)
    reminders_send(business_date=today)
    assert _overdue_sms(customer) == []
    # Another overdue plan of the same customer is reminded, with its amount alone.
    _late_plan(customer, flat_product, "LATE-OTHER", 3)
    overdue_sweep(as_of=today)
    overdue_reminders_send(business_date=today)
    (sms,) = _overdue_sms(customer)
    assert sms.template_code == "overdue_reminder"
    assert "LATE-OTHER" in sms.text
    assert "¥106.00" in sms.text
    # The freeze ends: tomorrow's reminder day counts the first plan again.
    plan_freeze_end(plan=frozen, end_reason=FreezeEnd.REJECTED, today=today)
    Notification.objects.all().delete()
    overdue_reminders_send(business_date=today)
    (sms,) = _overdue_sms(customer)
    assert sms.template_code == "overdue_summary"
    assert "¥212.00" in sms.text

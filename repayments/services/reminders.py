"""Reminder SMS of the daily run: before a due date and on chosen days overdue. All deduped per day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, Sum

from core.money import ZERO, quantize_money
from installments.ledger import OPEN_STATUSES, PAYABLE_PLAN_STATUSES
from installments.models import Installment, InstallmentStatus
from notifications.services import notification_create


def reminders_send(*, business_date: date) -> int:
    """Write today's reminders to the outbox; quiet hours and limits are the outbox's business."""
    written = 0
    days_before = settings.REMINDER_DAYS_BEFORE_DUE
    upcoming = (
        Installment.objects.filter(
            status__in=OPEN_STATUSES,
            plan__status__in=PAYABLE_PLAN_STATUSES,
            due_date__in=[business_date + timedelta(days=d) for d in days_before],
        )
        .select_related("plan__customer", "plan__autodebit__card")
        .order_by("id")
    )
    for inst in upcoming.iterator(chunk_size=2000):
        plan = inst.plan
        mandate = getattr(plan, "autodebit", None)
        days = (inst.due_date - business_date).days
        if mandate is not None and mandate.enabled:
            code = "autodebit_scheduled"
            context = {"plan": plan.display_name, "amount": inst.outstanding, "due_date": inst.due_date}
            context["card_last4"] = mandate.card.last4
        else:
            code = "due_reminder"
            context = {
                "plan": plan.display_name,
                "seq": inst.sequence,
                "amount": inst.outstanding,
                "due_date": inst.due_date,
            }
        notification_create(
            user=plan.customer, code=code, context=context, dedupe_key=f"{code}:{inst.pk}:{days}d"
        )
        written += 1
    overdue_days = settings.REMINDER_DAYS_OVERDUE
    late = list(
        Installment.objects.filter(
            status=InstallmentStatus.OVERDUE,
            plan__status__in=PAYABLE_PLAN_STATUSES,
            due_date__in=[business_date - timedelta(days=d) for d in overdue_days],
        )
        .select_related("plan__customer")
        .order_by("plan_id", "due_date")
    )
    owed_by_plan = _overdue_owed({inst.plan_id for inst in late})
    seen_plans: set[int] = set()
    for inst in late:
        plan = inst.plan
        if plan.pk in seen_plans:
            continue  # one reminder per plan per day, about its oldest late installment
        seen_plans.add(plan.pk)
        owed = owed_by_plan.get(plan.pk, ZERO)
        days = (business_date - inst.due_date).days
        notification_create(
            user=plan.customer,
            code="overdue_reminder",
            context={"plan": plan.display_name, "days": days, "amount": owed},
            dedupe_key=f"overdue_reminder:{inst.pk}:{days}d",
        )
        written += 1
    return written


def _overdue_owed(plan_ids: set[int]) -> dict[int, Decimal]:
    """What each plan owes on its overdue installments, penalties included, in one aggregate query."""
    if not plan_ids:
        return {}
    open_amount = Installment.open_amount()
    rows = (
        Installment.objects.filter(plan_id__in=plan_ids, status=InstallmentStatus.OVERDUE)
        .values("plan_id")
        .annotate(overdue=Sum(open_amount, output_field=DecimalField(max_digits=16, decimal_places=2)))
    )
    return {row["plan_id"]: quantize_money(Decimal(str(row["overdue"]))) for row in rows}

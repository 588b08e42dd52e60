"""Reminder SMS of the daily run: before a due date and on chosen days overdue. All deduped per day.

The overdue SMS are collection: each passes the contact gate (``installments.services.contact``) and
this module is their only writer (``tests/installments/test_contact_paths.py`` keeps it so).

A plan frozen today (暂停计息, ``installments.freezes``) gets no overdue SMS: it neither triggers one nor
counts in a customer's overdue total; they resume on the reminder days after the freeze ends. Due-date
reminders still go (the installment still falls due, and the customer must know the date if the
application fails), but a frozen plan whose auto-debit is paused gets the plain due reminder, not "we
will debit card ..." (which would be untrue)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import DecimalField, Min, Sum
from django.utils import timezone

from accounts.models import User
from core.money import ZERO, quantize_money
from installments.freezes import plan_frozen_exists
from installments.ledger import OPEN_STATUSES, PAYABLE_PLAN_STATUSES
from installments.models import (
    ContactParty,
    ContactRefusalCode,
    GateChannel,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
)
from installments.services import contact_allowed, contact_refusal_record
from notifications.quiet_hours import parse_hhmm, quiet_hours_release
from notifications.services import (
    NotificationRequest,
    notification_create,
    notifications_create_bulk,
    recipients,
)


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
        .annotate(
            autodebit_paused=plan_frozen_exists(business_date, plan_ref="plan_id", autodebit_paused=True)
        )
        .order_by("id")
    )
    for inst in upcoming.iterator(chunk_size=2000):
        plan = inst.plan
        mandate = getattr(plan, "autodebit", None)
        days = (inst.due_date - business_date).days
        if mandate is not None and mandate.enabled and not inst.autodebit_paused:
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
    return written + overdue_reminders_send(business_date=business_date)


@dataclass(frozen=True)
class CustomerOverdue:
    """What one customer owes on every overdue plan, as the day's one overdue SMS tells it."""

    customer_id: int
    plans: int
    amount: Decimal
    days: int  # since the oldest overdue installment's due date
    plan_name: str  # the plan's name when there is one plan (the SMS names it), else ""


def overdue_reminders_send(*, business_date: date, customer_ids: Iterable[int] | None = None) -> int:
    """One overdue SMS per customer and day, with the total overdue over all their plans (review: two
    reminders in one minute, each with one plan's figure, read as two debts of unknown sum).

    A customer is reminded on a day when one of their overdue installments reaches a reminder day
    (``REMINDER_DAYS_OVERDUE``), or on any day for ``customer_ids`` (the demo seed). The message is keyed by
    customer and day: a second run of the day writes nothing, whatever changed in between.
    """
    if customer_ids is None:
        overdue_days = settings.REMINDER_DAYS_OVERDUE
        customer_ids = set(
            Installment.objects.filter(
                status=InstallmentStatus.OVERDUE,
                plan__status__in=PAYABLE_PLAN_STATUSES,
                due_date__in=[business_date - timedelta(days=d) for d in overdue_days],
            )
            .exclude(plan_frozen_exists(business_date, plan_ref="plan_id"))
            .values_list("plan__customer_id", flat=True)
        )
    totals = customers_overdue(customer_ids=set(customer_ids), business_date=business_date)
    people = recipients(totals)
    send_after = _overdue_send_times(set(totals))
    requests = []
    for total in totals.values():
        if total.customer_id not in send_after:
            continue  # refused by the contact gate; the refusal is stored
        if total.plans == 1:
            code = "overdue_reminder"
            context: dict[str, object] = {"plan": total.plan_name, "days": total.days, "amount": total.amount}
        else:
            code = "overdue_summary"
            context = {"plans": total.plans, "days": total.days, "amount": total.amount}
        requests.append(
            NotificationRequest(
                people[total.customer_id],
                code,
                context,
                f"overdue_reminder:{total.customer_id}:{business_date.isoformat()}",
                send_after=send_after[total.customer_id],
            )
        )
    return notifications_create_bulk(requests)


def _overdue_send_times(customer_ids: set[int]) -> dict[int, datetime | None]:
    """When each customer's overdue SMS may go, as the contact gate decides (issue 19, item 6): ``None``
    for as soon as the SMS quiet hours allow, a later time today when the customer's own window opens
    later, and no entry for a customer the gate refuses today (their refusal is stored).

    The gate is asked about the moment the SMS would really be sent (after the quiet hours), not the
    moment the morning run writes it (07:30, before any contact hours).
    """
    if not customer_ids:
        return {}
    now = timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    quiet_start = parse_hhmm(settings.SMS_QUIET_HOURS_START)
    quiet_end = parse_hhmm(settings.SMS_QUIET_HOURS_END)
    sends_at = quiet_hours_release(now, start=quiet_start, end=quiet_end, tz=tz) or now
    customers = User.objects.filter(pk__in=customer_ids).only(
        "pk", "contact_window_start", "contact_window_end"
    )
    times: dict[int, datetime | None] = {}
    for customer in customers:
        decision = contact_allowed(customer=customer, channel=GateChannel.SMS, at=sends_at, record=False)
        if decision.allowed:
            times[customer.pk] = None if sends_at == now else sends_at
            continue
        opens = decision.opens_at
        if (
            decision.code == ContactRefusalCode.OUTSIDE_HOURS
            and opens is not None
            and opens.astimezone(tz).date() == sends_at.astimezone(tz).date()
            and quiet_hours_release(opens, start=quiet_start, end=quiet_end, tz=tz) is None
        ):
            times[customer.pk] = opens  # the customer's window opens later today
            continue
        contact_refusal_record(
            customer=customer,
            channel=GateChannel.SMS,
            party=ContactParty.DEBTOR,
            code=decision.code,
            staff=None,
            at=sends_at,
            source="overdue_reminder",
        )
    return times


def customers_overdue(*, customer_ids: set[int], business_date: date) -> dict[int, CustomerOverdue]:
    """Each customer's overdue total (penalties included), plan count and oldest due date, in one
    aggregate query grouped by plan; plans frozen on ``business_date`` are left out."""
    if not customer_ids:
        return {}
    rows = (
        Installment.objects.filter(
            plan__customer_id__in=customer_ids,
            plan__status__in=PAYABLE_PLAN_STATUSES,
            status=InstallmentStatus.OVERDUE,
        )
        .exclude(plan_frozen_exists(business_date, plan_ref="plan_id"))
        .values("plan_id", "plan__customer_id")
        .annotate(
            open_total=Sum(
                Installment.open_amount(), output_field=DecimalField(max_digits=16, decimal_places=2)
            ),
            oldest=Min("due_date"),
        )
        .order_by("plan_id")
    )
    by_customer: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_customer.setdefault(row["plan__customer_id"], []).append(dict(row))
    names = {
        plan.pk: plan.display_name
        for plan in InstallmentPlan.objects.filter(
            pk__in=[r[0]["plan_id"] for r in by_customer.values() if len(r) == 1]
        ).only("description", "merchant_order_ref", "public_id")
    }
    return {
        customer_id: CustomerOverdue(
            customer_id=customer_id,
            plans=len(plans),
            amount=quantize_money(sum((Decimal(str(p["open_total"])) for p in plans), ZERO)),
            days=(business_date - min(p["oldest"] for p in plans)).days,
            plan_name=names.get(plans[0]["plan_id"], "") if len(plans) == 1 else "",
        )
        for customer_id, plans in by_customer.items()
    }

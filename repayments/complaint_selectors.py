"""Reads of 投诉: the staff queue's order, the start page's counts, the monthly count by category and the
customer's own complaints. The start page (another module) calls ``complaints_queue_counts`` and
``complaints_by_category``; nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.db.models import Case, Count, IntegerField, Min, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from repayments.models import (
    CLOSED_COMPLAINT_STATES,
    OPEN_COMPLAINT_STATES,
    Complaint,
    ComplaintCategory,
)

DUE_SOON_DAYS = 3


def complaint_queue(queryset: QuerySet[Complaint] | None = None) -> QuerySet[Complaint]:
    """Open complaints first, the overdue at the top, then the nearest deadline; answered ones after."""
    queryset = Complaint.objects.all() if queryset is None else queryset
    return queryset.annotate(
        closed_rank=Case(
            When(state__in=[s.value for s in CLOSED_COMPLAINT_STATES], then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        )
    ).order_by("closed_rank", "deadline", "received_at", "id")


@dataclass(frozen=True)
class ComplaintQueueCounts:
    """For the start page: ``open_by_state`` (received, investigating), how many are past their deadline
    (``overdue``) or due within ``DUE_SOON_DAYS`` days (``due_soon``, not overdue), extensions waiting for
    an approver, and the age in days of the oldest open complaint (None when nothing is open)."""

    open_by_state: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    due_soon: int = 0
    extensions_waiting: int = 0
    oldest_age_days: int | None = None

    @property
    def open_total(self) -> int:
        return sum(self.open_by_state.values())


def complaints_queue_counts(*, staff: User | None = None, today: date | None = None) -> ComplaintQueueCounts:
    """The team's queue, or one handler's (``staff``: the complaints assigned to them)."""
    today = today or timezone.localdate()
    rows = Complaint.objects.filter(state__in=[s.value for s in OPEN_COMPLAINT_STATES])
    if staff is not None:
        rows = rows.filter(assigned_to=staff)
    by_state = dict(rows.values_list("state").annotate(n=Count("id")).order_by())
    figures = rows.aggregate(
        overdue=Count("id", filter=Q(deadline__lt=today)),
        due_soon=Count("id", filter=Q(deadline__gte=today, deadline__lte=today + timedelta(DUE_SOON_DAYS))),
        waiting=Count("id", filter=Q(extension_requested_by__isnull=False)),
        oldest=Min("received_at"),
    )
    oldest: datetime | None = figures["oldest"]
    return ComplaintQueueCounts(
        open_by_state={s.value: by_state.get(s.value, 0) for s in OPEN_COMPLAINT_STATES},
        overdue=figures["overdue"],
        due_soon=figures["due_soon"],
        extensions_waiting=figures["waiting"],
        oldest_age_days=None if oldest is None else (today - timezone.localdate(oldest)).days,
    )


def complaints_by_category(month: date) -> dict[str, int]:
    """Complaints received in ``month`` (any day of it; Asia/Shanghai), counted by category, every
    category present (zero included), for the monthly root-cause review."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(following, time.min, tzinfo=tz)
    counted = dict(
        Complaint.objects.filter(received_at__gte=start, received_at__lt=end)
        .values_list("category")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {c.value: counted.get(c.value, 0) for c in ComplaintCategory}


def customer_complaints(*, customer: User) -> QuerySet[Complaint]:
    return Complaint.objects.filter(customer=customer).select_related("plan").order_by("-received_at", "-id")


def complaint_for_customer(*, customer: User, public_id: UUID | str) -> Complaint:
    """The customer's own complaint, or 404 (another customer's id is not theirs to know of)."""
    return get_object_or_404(
        Complaint.objects.select_related("plan", "repayment", "repayment__plan").prefetch_related(
            "documents"
        ),
        customer=customer,
        public_id=public_id,
    )


def complaint_days_left(complaint: Complaint, today: date | None = None) -> int:
    """Days until the deadline (negative: past it)."""
    return (complaint.deadline - (today or timezone.localdate())).days

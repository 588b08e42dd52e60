"""The support start page's sections and the customer 360 header, as template tags, so any admin page
(the index, a 协商 application, the customer workspace) can show them without its admin importing this
layer. Each tag answers None to staff without the section's right; the include then shows nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone

from accounts.models import User
from installments.selectors import collection_queue_counts, cure_and_promise_rates
from repayments import support_selectors
from repayments.complaint_selectors import complaints_by_category, complaints_queue_counts
from repayments.complaints import ComplaintCategory, ComplaintState
from repayments.selectors import CustomerSummary
from repayments.selectors import customer_summary as _customer_summary

register = template.Library()


def _user(context: dict[str, Any]) -> Any:
    request = context.get("request")
    return getattr(request, "user", None)


@register.simple_tag(takes_context=True)
def start_applications(context: dict[str, Any]) -> support_selectors.ApplicationQueue | None:
    user = _user(context)
    if user is None or not user.has_perm("installments.view_negotiationapplication"):
        return None
    return support_selectors.application_queue_counts(staff=user)


@register.simple_tag(takes_context=True)
def start_cases(context: dict[str, Any]) -> dict[str, Any] | None:
    """Collection cases by bucket (mine beside the team's, the oldest's age), promises due today and broken
    promises; for staff who may read cases (``installments.view_collectioncase``)."""
    user = _user(context)
    if user is None or not user.has_perm("installments.view_collectioncase"):
        return None
    team = collection_queue_counts()
    mine = collection_queue_counts(staff=user)
    mine_by_bucket = {row.key: row.count for row in mine.by_bucket}
    today = timezone.localdate()
    return {
        "buckets": [
            {
                "bucket": r.key,
                "label": r.label,
                "count": r.count,
                "mine": mine_by_bucket.get(r.key, 0),
                "oldest_days": r.oldest_age_days,
            }
            for r in team.by_bucket
        ],
        "team": team,
        "mine": mine,
        "today": today,
        "tomorrow": today + timedelta(days=1),
    }


@register.simple_tag(takes_context=True)
def start_complaints(context: dict[str, Any]) -> dict[str, Any] | None:
    """投诉 near and past their deadline, mine and the team's (``repayments.view_complaint``)."""
    user = _user(context)
    if user is None or not user.has_perm("repayments.view_complaint"):
        return None
    team = complaints_queue_counts()
    mine = complaints_queue_counts(staff=user)
    labels = dict(ComplaintState.choices)
    return {
        "team": team,
        "mine": mine,
        "states": [
            {
                "state": state,
                "label": str(labels[state]),
                "count": n,
                "mine": mine.open_by_state.get(state, 0),
            }
            for state, n in team.open_by_state.items()
        ],
    }


@register.simple_tag(takes_context=True)
def start_debit_slots(context: dict[str, Any]) -> list[support_selectors.SlotSummary] | None:
    user = _user(context)
    if user is None or not user.has_perm("repayments.view_debitrun"):
        return None
    return support_selectors.debit_slots_today()


@register.simple_tag(takes_context=True)
def start_can_search(context: dict[str, Any]) -> bool:
    user = _user(context)
    return bool(user is not None and user.has_perm("repayments.view_repayment"))


@register.simple_tag(takes_context=True)
def start_team_figures(context: dict[str, Any]) -> dict[str, Any] | None:
    """The leads' KPIs (permission ``accounts.view_team_figures``, the lead group's alone)."""
    user = _user(context)
    if user is None or not user.has_perm("accounts.view_team_figures"):
        return None
    labels = dict(ComplaintCategory.choices)
    month = timezone.localdate()
    return {
        "debits": support_selectors.debit_success(days=30),
        "rolls": support_selectors.roll_rates(days=30),
        "cure": cure_and_promise_rates(days=30),
        "complaint_month": month,
        "complaint_categories": [
            {"label": str(labels[c]), "count": n} for c, n in complaints_by_category(month).items()
        ],
    }


@register.simple_tag
def customer_summary(customer: User) -> CustomerSummary:
    """``{% customer_summary customer as summary %}`` then include admin/support/_customer_header.html."""
    return _customer_summary(customer)


@register.filter
def bar_percent(value: object, top: object) -> int:
    """Width of a chart bar in percent of the largest value (CSS bars, no JavaScript)."""
    try:
        v, t = float(str(value)), float(str(top))
    except ValueError:
        return 0
    return 0 if t <= 0 else max(0, min(100, round(v * 100 / t)))

"""Reads of hardship freezes (暂停计息): which plans are frozen on a day, and each plan's open freeze.

A plan is frozen on day D iff one of its freezes has ``started_on <= D < COALESCE(ended_on, planned_end)``
(``installments/models/relief.py``). Every reader asks through ``frozen_on`` so the reminders, auto-debit,
the pages and the sweep agree on the same days, whether or not the daily run has closed an expired
freeze yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from installments.models import NegotiationApplication, PlanFreeze


def frozen_on(day: date, *, prefix: str = "") -> Q:
    """The freezes (``PlanFreeze`` rows, or rows reached through ``prefix``) covering ``day``."""
    return Q(**{f"{prefix}started_on__lte": day}) & (
        Q(**{f"{prefix}ended_on__gt": day})
        | Q(**{f"{prefix}ended_on__isnull": True, f"{prefix}planned_end__gt": day})
    )


def freezes_on(day: date) -> QuerySet[PlanFreeze]:
    return PlanFreeze.objects.filter(frozen_on(day))


def plan_frozen_exists(day: date, *, plan_ref: str = "pk", autodebit_paused: bool = False) -> Exists:
    """``Exists`` for a queryset's plan (``plan_ref`` names its plan id: ``pk`` on plans, ``plan_id`` on
    installments) being frozen on ``day``; ``autodebit_paused``: only freezes that pause auto-debit."""
    rows = freezes_on(day).filter(plan_id=OuterRef(plan_ref))
    if autodebit_paused:
        rows = rows.filter(autodebit_opt_in=False)
    return Exists(rows)


def open_freezes(plan_ids: Iterable[int], *, today: date) -> dict[int, PlanFreeze]:
    """Each plan's freeze covering ``today`` (at most one: one open freeze per plan), by plan id."""
    ids = list(plan_ids)
    if not ids:
        return {}
    return {f.plan_id: f for f in freezes_on(today).filter(plan_id__in=ids).order_by("plan_id", "-id")}


def open_freeze(plan_id: int, *, today: date) -> PlanFreeze | None:
    return open_freezes([plan_id], today=today).get(plan_id)


def application_freeze(application: NegotiationApplication) -> PlanFreeze | None:
    """The freeze a 协商 application started (open or ended), or None."""
    return application.freezes.order_by("-id").first()


def application_freeze_note(application: NegotiationApplication) -> str | None:
    """Why an application did not pause penalties, in words for the customer; None when it did."""
    if application_freeze(application) is not None:
        return None
    event = application.events.filter(action="not_frozen").order_by("-id").first()
    if event is None:
        return None
    if event.data.get("reason") == "freeze_already_open":
        return _("Penalties on this plan are already paused while our staff review your case.")
    return _(
        "Penalties are paused on your own application once per plan in 12 months; this application is "
        "reviewed without a pause, so penalties keep accruing until it is decided."
    )


__all__ = [
    "application_freeze",
    "application_freeze_note",
    "freezes_on",
    "frozen_on",
    "open_freeze",
    "open_freezes",
    "plan_frozen_exists",
]

"""Hardship freeze (暂停计息): the clock stops on a plan while relief is decided.

A freeze starts when the customer submits a 协商 application (self-started, at most once per plan in 12
months) or when staff open a hardship case; it ends with the application's outcome (accepted, rejected,
expired, withdrawn), early by staff, or after ``FREEZE_MAX_DAYS`` in the daily run. The sweep charges no
penalty and ages no plan on frozen days; frozen days are never charged later. The reminders leave out the
overdue SMS and auto-debit skips a frozen plan unless the customer opted in (``repayments``).

Every function here writes in the caller's transaction (``plan_freeze_start`` locks the plan row first,
so two starts on one plan are serialised); the staff actions own theirs.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.ledger import PAYABLE_PLAN_STATUSES, lock_plan
from installments.models import (
    FREEZE_MAX_DAYS,
    FreezeEnd,
    FreezeReason,
    InstallmentPlan,
    NegotiationApplication,
    PlanFreeze,
)

# Staff who work collection cases or review 协商 applications may open and end a hardship freeze.
FREEZE_PERMISSIONS = ("installments.review_negotiation", "installments.change_collectioncase")


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def self_freeze_used(*, plan: InstallmentPlan | int, today: date) -> PlanFreeze | None:
    """The customer's own freeze on this plan in the 12 months before ``today``, if any."""
    plan_id = plan if isinstance(plan, int) else plan.pk
    return (
        PlanFreeze.objects.filter(plan_id=plan_id, self_started=True, started_on__gt=_year_before(today))
        .order_by("-started_on")
        .first()
    )


def plan_freeze_start(
    *,
    plan: InstallmentPlan,
    reason: str,
    today: date,
    application: NegotiationApplication | None = None,
    actor: User | None = None,
    autodebit_opt_in: bool = False,
    note: str = "",
) -> PlanFreeze:
    """Freeze ``plan`` from ``today`` to at most ``today + FREEZE_MAX_DAYS``, in the caller's transaction.

    Self-started (``reason`` negotiation, no staff ``actor``): refused with ``freeze_once_a_year`` when the
    customer's own freeze already ran on this plan in the last 12 months. Refused with
    ``freeze_already_open`` while another freeze is open, and ``plan_not_active`` on a closed plan."""
    if reason not in FreezeReason.values:
        raise ValueError(f"unknown freeze reason {reason!r}")
    self_started = actor is None
    with transaction.atomic():
        locked, _installments = lock_plan(plan.pk, no_key=True)  # the ledger takes plan locks (DESIGN)
        if locked.status not in PAYABLE_PLAN_STATUSES:
            raise ApplicationError(
                InstallmentsError.PLAN_NOT_ACTIVE, _("Penalties can be paused on a plan being repaid only.")
            )
        if PlanFreeze.objects.filter(plan_id=plan.pk, ended_on__isnull=True).exists():
            raise ApplicationError(
                InstallmentsError.FREEZE_ALREADY_OPEN, _("Penalties on this plan are already paused.")
            )
        if self_started and self_freeze_used(plan=plan, today=today) is not None:
            raise ApplicationError(
                InstallmentsError.FREEZE_ONCE_A_YEAR,
                _("Penalties on a plan are paused on your application once in 12 months."),
            )
        return PlanFreeze.objects.create(
            plan_id=plan.pk,
            reason=reason,
            self_started=self_started,
            application=application,
            started_on=today,
            planned_end=today + timedelta(days=FREEZE_MAX_DAYS),
            autodebit_opt_in=autodebit_opt_in,
            created_by=actor,
            note=note.strip()[:300],
        )


def plan_freeze_end(
    *,
    plan: InstallmentPlan | int,
    end_reason: str,
    today: date,
    application: NegotiationApplication | None = None,
) -> PlanFreeze | None:
    """End the plan's open freeze on ``today`` (``today`` is no longer frozen), in the caller's
    transaction; None when none is open. ``application``: end only the freeze that application started
    (a staff hardship freeze is not ended by an application's outcome). A freeze already past its
    longest day ends on its ``planned_end`` as ``max_days``: frozen days stay what they were."""
    if end_reason not in FreezeEnd.values:
        raise ValueError(f"unknown freeze end {end_reason!r}")
    plan_id = plan if isinstance(plan, int) else plan.pk
    rows = PlanFreeze.objects.select_for_update().filter(plan_id=plan_id, ended_on__isnull=True)
    if application is not None:
        rows = rows.filter(application=application)
    freeze = rows.first()
    if freeze is None:
        return None
    if today >= freeze.planned_end:
        freeze.ended_on, freeze.end_reason = freeze.planned_end, FreezeEnd.MAX_DAYS
    else:
        freeze.ended_on, freeze.end_reason = max(today, freeze.started_on), end_reason
    freeze.save(update_fields=["ended_on", "end_reason"])
    return freeze


def freezes_expire(*, today: date) -> int:
    """The daily run: freezes that reached ``FREEZE_MAX_DAYS`` end on their ``planned_end`` (``max_days``),
    and open freezes of plans no longer repaid (paid off, closed, charged off) end today
    (``plan_closed``). Two set-based UPDATEs, no per-plan loop."""
    with transaction.atomic():
        expired = PlanFreeze.objects.filter(ended_on__isnull=True, planned_end__lte=today).update(
            ended_on=F("planned_end"), end_reason=FreezeEnd.MAX_DAYS
        )
        closed = (
            PlanFreeze.objects.filter(ended_on__isnull=True, started_on__lte=today)
            .filter(~Q(plan__status__in=PAYABLE_PLAN_STATUSES))
            .update(ended_on=today, end_reason=FreezeEnd.PLAN_CLOSED)
        )
    return expired + closed


def _require_staff(staff: User) -> None:
    if not (staff.is_active and staff.is_staff and any(staff.has_perm(p) for p in FREEZE_PERMISSIONS)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def hardship_freeze_open(*, staff: User, plan: InstallmentPlan, note: str, today: date) -> PlanFreeze:
    """Staff open a hardship freeze from the collection case or the customer workspace: a reason note is
    required, the 12-month rule of the customer's own freezes does not apply, auto-debit pauses. Audited
    (StaffAction ``hardship_freeze_opened``) in the same transaction."""
    _require_staff(staff)
    note = (note or "").strip()
    if not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"note": _("Required.")}
        )
    with transaction.atomic():
        freeze = plan_freeze_start(
            plan=plan, reason=FreezeReason.HARDSHIP_CASE, today=today, actor=staff, note=note
        )
        staff_action_record(
            staff=staff,
            customer=plan.customer,
            action="hardship_freeze_opened",
            detail={
                "plan": str(plan.public_id),
                "freeze": freeze.pk,
                "until": freeze.planned_end.isoformat(),
                "note": freeze.note,
            },
        )
    return freeze


def hardship_freeze_end(*, staff: User, plan: InstallmentPlan, today: date, note: str = "") -> PlanFreeze:
    """Staff end the plan's open freeze early (``staff``), whoever started it; audited."""
    _require_staff(staff)
    with transaction.atomic():
        freeze = plan_freeze_end(plan=plan, end_reason=FreezeEnd.STAFF, today=today)
        if freeze is None:
            raise ApplicationError(
                InstallmentsError.FREEZE_NOT_OPEN, _("Penalties on this plan are not paused.")
            )
        staff_action_record(
            staff=staff,
            customer=plan.customer,
            action="hardship_freeze_ended",
            detail={
                "plan": str(plan.public_id),
                "freeze": freeze.pk,
                "ended_on": str(freeze.ended_on),
                "note": (note or "").strip()[:300],
            },
        )
    return freeze


__all__ = [
    "FREEZE_PERMISSIONS",
    "freezes_expire",
    "hardship_freeze_end",
    "hardship_freeze_open",
    "plan_freeze_end",
    "plan_freeze_start",
    "self_freeze_used",
]

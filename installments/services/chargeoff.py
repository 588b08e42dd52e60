"""核销: the daily run charges off plans long past due, and staff may undo a charge-off on its business day.

A charge-off is a plan state, not a change of what the customer owes: ``installments.ledger.charge_off``
marks the plan charged off and writes the credit event, the installments keep their open amounts, and a
later payment posts onto them as a recovery. Auto-debit and reminders stop because they read active and
overdue plans only (the mandate row is kept, so an undo resumes auto-debit as it was); the customer gets
one final notice SMS. Both operations send the plan-change pair (``plan_changing`` lets ``repayments``
refuse while a charge is in flight; that plan is charged off on a later day's run instead).

The daily run is a per-plan loop, each plan in its own short transaction: charge-offs are rare (a plan
reaches the limit once), and each one sends the signals and writes an SMS row. The candidates are found by
one query (``days_past_due >= charge_off_after_days``, both on the plan, as of the sweep that ran first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.ledger import (
    ChargeOff,
    InstallmentRow,
    PlanRow,
    Posting,
    charge_off,
    charge_off_undo,
    lock_plan,
    owing,
)
from installments.models import ChargeOffUndo, ChargeOffUndoState, InstallmentPlan, PlanStatus
from installments.signals import CHARGE_OFF, CHARGE_OFF_UNDO, plan_changed, plan_changing
from notifications.services import notification_create

logger = logging.getLogger(__name__)

APPROVE_UNDO_PERMISSION = "installments.approve_charge_off_undo"


@dataclass(frozen=True)
class ChargeOffRun:
    """What one daily charge-off step did; a re-run for the same date reports zeros."""

    charged_off: int = 0
    amount: Decimal = Decimal("0.00")
    deferred: int = 0  # refused for now (a charge in flight): charged off on a later day's run


def plans_charge_off(*, business_date: date) -> ChargeOffRun:
    """Charge off every overdue plan at or past its ``charge_off_after_days``, as of ``business_date``.

    Run after that date's overdue sweep (``day_open``), which set each plan's days past due. Idempotent per
    date: a charged-off plan is no longer overdue, and a plan whose charge-off staff undid on this date is
    left alone (a re-run of the day must not charge it off again; the next day's run would, if the plan is
    still past the limit)."""
    undone_today = ChargeOffUndo.objects.filter(
        charged_off_on=business_date, state=ChargeOffUndoState.DONE
    ).values("plan_id")
    candidates = list(
        InstallmentPlan.objects.filter(
            status=PlanStatus.OVERDUE, days_past_due__gte=F("charge_off_after_days")
        )
        .exclude(pk__in=undone_today)
        .order_by("id")
        .values_list("id", flat=True)
    )
    done, deferred, amount = 0, 0, Decimal("0.00")
    for plan_id in candidates:
        try:
            result = _charge_off_one(plan_id, business_date)
        except ApplicationError as exc:
            deferred += 1
            logger.info("charge-off of plan %s deferred: %s", plan_id, exc.message)
            continue
        if result is not None:
            done += 1
            amount += result.total
    return ChargeOffRun(charged_off=done, amount=amount, deferred=deferred)


def _charge_off_one(plan_id: int, business_date: date) -> ChargeOff | None:
    with transaction.atomic():
        plan, installments = lock_plan(plan_id, no_key=True)
        if plan.status != PlanStatus.OVERDUE:
            return None  # paid, re-staged or already charged off since the candidates were read
        model = InstallmentPlan.objects.select_related("customer").get(pk=plan_id)
        if plan.days_past_due < model.charge_off_after_days:
            return None
        plan_changing.send(sender=InstallmentPlan, plan=model, kind=CHARGE_OFF)
        posting = Posting()
        result = charge_off(posting, plan, installments, today=business_date)
        posting.write()
        notification_create(
            user=model.customer,
            code="charge_off_notice",
            context={"plan": plan.display_name, "days": plan.days_past_due, "amount": result.total},
            dedupe_key=f"charge_off_notice:{plan.public_id}:{business_date.isoformat()}",
        )
        plan_changed.send(sender=InstallmentPlan, plan=model, kind=CHARGE_OFF, successor=None)
    logger.info("plan %s charged off on %s: %s", plan.public_id, business_date, result.total)
    return result


# --- the staff undo (maker-checker) -----------------------------------------------------------------------


def _require_staff(staff: User, permission: str | None = None) -> None:
    if not (staff.is_active and staff.is_staff) or (permission and not staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def _same_business_day(charged_off_on: date | None, today: date) -> date:
    if charged_off_on is None or charged_off_on != today:
        raise ApplicationError(
            InstallmentsError.CHARGE_OFF_UNDO_TOO_LATE,
            _("A charge-off can be undone only on the business day it was made (%(date)s).")
            % {"date": charged_off_on},
        )
    return charged_off_on


def charge_off_undo_request(
    *, staff: User, plan: InstallmentPlan, reason: str, today: date | None = None
) -> ChargeOffUndo:
    """A staff member asks to undo a plan's charge-off, on the business day it was made. At or below
    ``CHARGE_OFF_UNDO_APPROVAL_ABOVE`` (what the plan owes now) it is undone at once; above, the request
    waits for a second staff member with the approver permission (``charge_off_undo_approve``)."""
    _require_staff(staff)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"reason": _("Required.")}
        )
    today = today or timezone.localdate()
    with transaction.atomic():
        locked, installments = lock_plan(plan.pk, no_key=True)
        if locked.status != PlanStatus.CHARGED_OFF:
            raise ApplicationError(InstallmentsError.PLAN_NOT_CHARGED_OFF, _("This plan is not charged off."))
        charged_off_on = _same_business_day(locked.charged_off_on, today)
        amount = sum((i.outstanding for i in owing(installments)), Decimal("0.00"))
        above = amount > Decimal(settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE)
        try:
            with transaction.atomic():
                request = ChargeOffUndo.objects.create(
                    plan_id=locked.pk,
                    charged_off_on=charged_off_on,
                    amount=amount,
                    reason=reason[:255],
                    state=ChargeOffUndoState.PENDING_APPROVAL if above else ChargeOffUndoState.DONE,
                    requested_by=staff,
                    decided_at=None if above else timezone.now(),
                )
        except IntegrityError:
            raise ApplicationError(
                InstallmentsError.CHARGE_OFF_UNDO_PENDING,
                _("An undo of this charge-off already awaits approval."),
            ) from None
        if not above:
            _undo(locked.pk, today, locked_plan=(locked, installments))
    return request


def charge_off_undo_approve(
    *, staff: User, request: ChargeOffUndo, today: date | None = None
) -> ChargeOffUndo:
    """The checker: someone with the approver permission who did not ask undoes the charge-off, still on
    its business day. The request row is locked first (the workflow row), then the plan."""
    _require_staff(staff, APPROVE_UNDO_PERMISSION)
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = ChargeOffUndo.objects.select_for_update().get(pk=request.pk)
        if locked.state != ChargeOffUndoState.PENDING_APPROVAL:
            raise ApplicationError(
                InstallmentsError.INVALID_STATE,
                _("This request is %(state)s; that step is not possible now.")
                % {"state": locked.get_state_display()},
            )
        if locked.requested_by_id == staff.pk:
            raise ApplicationError(
                InstallmentsError.SELF_APPROVAL,
                _("An undo must be approved by someone other than the staff member who asked for it."),
            )
        _same_business_day(locked.charged_off_on, today)
        _undo(locked.plan_id, today)
        locked.state = ChargeOffUndoState.DONE
        locked.decided_by = staff
        locked.decided_at = timezone.now()
        locked.save(update_fields=["state", "decided_by", "decided_at"])
    return locked


def charge_off_undo_reject(*, staff: User, request: ChargeOffUndo, note: str) -> ChargeOffUndo:
    """The checker turns the request down with a note; the plan stays charged off."""
    _require_staff(staff, APPROVE_UNDO_PERMISSION)
    note = (note or "").strip()
    if not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"note": _("Required.")}
        )
    with transaction.atomic():
        locked = ChargeOffUndo.objects.select_for_update().get(pk=request.pk)
        if locked.state != ChargeOffUndoState.PENDING_APPROVAL:
            raise ApplicationError(
                InstallmentsError.INVALID_STATE,
                _("This request is %(state)s; that step is not possible now.")
                % {"state": locked.get_state_display()},
            )
        locked.state = ChargeOffUndoState.REJECTED
        locked.decided_by = staff
        locked.decided_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    return locked


def _undo(
    plan_id: int, today: date, *, locked_plan: tuple[PlanRow, list[InstallmentRow]] | None = None
) -> ChargeOff:
    """The ledger's undo between the plan-change pair, in the caller's transaction."""
    plan, installments = locked_plan or lock_plan(plan_id, no_key=True)
    if plan.status != PlanStatus.CHARGED_OFF:
        raise ApplicationError(InstallmentsError.PLAN_NOT_CHARGED_OFF, _("This plan is not charged off."))
    _same_business_day(plan.charged_off_on, today)
    model = InstallmentPlan.objects.get(pk=plan_id)
    plan_changing.send(sender=InstallmentPlan, plan=model, kind=CHARGE_OFF_UNDO)
    posting = Posting()
    result = charge_off_undo(posting, plan, installments, today=today)
    posting.write()
    plan_changed.send(sender=InstallmentPlan, plan=model, kind=CHARGE_OFF_UNDO, successor=None)
    return result

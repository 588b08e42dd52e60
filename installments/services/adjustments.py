"""Staff adjustments (减免): waiving a plan's penalty or fee with a reason, from the customer workspace.

A waiver lowers what the customer owes without money moving, so it is a ledger operation
(``installments.ledger.waive``) with its journal entry, sent between the plan-change pair (``repayments``
refuses while a charge is in flight: the charge would land on debts that changed). Up to
``ADJUSTMENT_APPROVAL_ABOVE`` the requester's waiver applies at once; above it, it waits for a second staff
member with ``installments.approve_adjustment`` (maker-checker; nobody approves their own). Every step is
audited (``accounts.audit``) in its transaction; the customer gets an SMS when a waiver is applied.

Lock order: the adjustment row (the workflow row, on approve and reject), then the plan via the ledger.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money import quantize_money
from core.money_input import parse_money
from installments.errors import InstallmentsError
from installments.ledger import (
    PAYABLE_PLAN_STATUSES,
    InstallmentRow,
    PlanRow,
    Posting,
    Source,
    WaiverExceedsOpen,
    lock_plan,
    open_component,
    remaining_total,
    waive,
)
from installments.models import (
    ADJUSTMENT_COMPONENT,
    Adjustment,
    AdjustmentKind,
    AdjustmentReason,
    AdjustmentState,
    InstallmentPlan,
)
from installments.signals import WAIVER, plan_changed, plan_changing
from notifications.services import notification_create

REQUEST_ADJUSTMENT_PERMISSION = "installments.add_adjustment"
APPROVE_ADJUSTMENT_PERMISSION = "installments.approve_adjustment"


def _require_staff(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def adjustment_approval_threshold() -> Decimal:
    """``ADJUSTMENT_APPROVAL_ABOVE`` as money: read at call time, so an operator's change needs no restart of
    the code that shows it."""
    return quantize_money(Decimal(str(settings.ADJUSTMENT_APPROVAL_ABOVE)))


def _exceeds(kind: str, exc: WaiverExceedsOpen) -> ApplicationError:
    what = _("penalty") if kind == AdjustmentKind.WAIVE_PENALTY else _("fee")
    return ApplicationError(
        InstallmentsError.ADJUSTMENT_EXCEEDS_OPEN,
        _("At most ¥%(open)s of %(what)s is open on this plan; ¥%(amount)s cannot be waived.")
        % {"open": f"{exc.open:,.2f}", "what": what, "amount": f"{exc.amount:,.2f}"},
        fields={"amount": _("At most ¥%(open)s.") % {"open": f"{exc.open:,.2f}"}},
    )


def adjustment_create(
    *,
    plan: InstallmentPlan,
    kind: str,
    amount: Decimal | str,
    reason_code: str,
    note: str,
    actor: User,
) -> Adjustment:
    """A staff member waives ``amount`` of the plan's penalty or fee (``kind``) for ``reason_code``.

    Refused above what is open now, with the figure. At or below the threshold it is applied in this
    transaction; above, it is stored as requested for an approver. Audited either way."""
    _require_staff(actor, REQUEST_ADJUSTMENT_PERMISSION)
    if kind not in AdjustmentKind.values:
        raise ApplicationError(
            InstallmentsError.INVALID_ADJUSTMENT, _("Choose what to waive."), fields={"kind": _("Required.")}
        )
    if reason_code not in AdjustmentReason.values:
        raise ApplicationError(
            InstallmentsError.INVALID_ADJUSTMENT,
            _("Choose a reason."),
            fields={"reason_code": _("Required.")},
        )
    note = (note or "").strip()
    if reason_code == AdjustmentReason.OTHER and not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED,
            _("Say why in the note when the reason is 'other'."),
            fields={"note": _("Required.")},
        )
    value = parse_money(amount, field="amount")
    if value <= 0:
        raise ApplicationError(
            CommonError.INVALID_AMOUNT, _("The amount must be positive."), fields={"amount": _("Required.")}
        )
    component = ADJUSTMENT_COMPONENT[AdjustmentKind(kind)]
    with transaction.atomic():
        locked, installments = lock_plan(plan.pk, no_key=True)
        if locked.status not in PAYABLE_PLAN_STATUSES:
            raise ApplicationError(
                InstallmentsError.PLAN_NOT_ACTIVE, _("Only an active or overdue plan can be adjusted.")
            )
        available = open_component(installments, component)
        if value > available:
            raise _exceeds(kind, WaiverExceedsOpen(component, value, available))
        above = value > adjustment_approval_threshold()
        adjustment = Adjustment.objects.create(
            plan_id=locked.pk,
            kind=kind,
            amount=value,
            reason_code=reason_code,
            note=note[:255],
            state=AdjustmentState.REQUESTED if above else AdjustmentState.APPLIED,
            requested_by=actor,
            decided_at=None if above else timezone.now(),
        )
        staff_action_record(
            staff=actor,
            customer=plan.customer,
            action="adjustment_requested" if above else "adjustment_applied",
            detail=_detail(adjustment),
        )
        if not above:
            _apply(adjustment, locked_plan=(locked, installments))
    return adjustment


def adjustment_approve(*, adjustment: Adjustment, actor: User) -> Adjustment:
    """The checker: someone with the approver permission who did not ask applies the waiver, if what it
    waives is still open (a payment may have paid it meanwhile: refused with the figure)."""
    _require_staff(actor, APPROVE_ADJUSTMENT_PERMISSION)
    with transaction.atomic():
        locked = _lock_requested(adjustment)
        if locked.requested_by_id == actor.pk:
            raise ApplicationError(
                InstallmentsError.SELF_APPROVAL,
                _("A waiver must be approved by someone other than the staff member who asked for it."),
            )
        locked.state = AdjustmentState.APPLIED
        locked.approved_by = actor
        locked.decided_at = timezone.now()
        locked.save(update_fields=["state", "approved_by", "decided_at"])
        _apply(locked)
        staff_action_record(
            staff=actor, customer=locked.plan.customer, action="adjustment_approved", detail=_detail(locked)
        )
    return locked


def adjustment_reject(*, adjustment: Adjustment, actor: User, note: str) -> Adjustment:
    """The checker turns a waiver down with a reason; nothing changes on the plan."""
    _require_staff(actor, APPROVE_ADJUSTMENT_PERMISSION)
    note = (note or "").strip()
    if not note:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"note": _("Required.")}
        )
    with transaction.atomic():
        locked = _lock_requested(adjustment)
        locked.state = AdjustmentState.REJECTED
        locked.approved_by = actor
        locked.decided_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save(update_fields=["state", "approved_by", "decided_at", "decision_note"])
        staff_action_record(
            staff=actor,
            customer=locked.plan.customer,
            action="adjustment_rejected",
            detail={**_detail(locked), "decision_note": locked.decision_note},
        )
    return locked


def _lock_requested(adjustment: Adjustment) -> Adjustment:
    locked = (
        Adjustment.objects.select_for_update(of=("self",))
        .select_related("plan__customer")
        .get(pk=adjustment.pk)
    )
    if locked.state != AdjustmentState.REQUESTED:
        raise ApplicationError(
            InstallmentsError.INVALID_STATE,
            _("This waiver is %(state)s; that step is not possible now.")
            % {"state": locked.get_state_display()},
        )
    return locked


def _detail(adjustment: Adjustment) -> dict[str, object]:
    return {
        "adjustment": adjustment.pk,
        "plan": str(adjustment.plan.public_id),
        "kind": adjustment.kind,
        "amount": f"{adjustment.amount:.2f}",
        "reason_code": adjustment.reason_code,
        "note": adjustment.note,
    }


def _apply(
    adjustment: Adjustment, *, locked_plan: tuple[PlanRow, list[InstallmentRow]] | None = None
) -> None:
    """The ledger's waiver between the plan-change pair, and the customer's SMS, in the caller's
    transaction."""
    plan, installments = locked_plan or lock_plan(adjustment.plan_id, no_key=True)
    if plan.status not in PAYABLE_PLAN_STATUSES:
        raise ApplicationError(
            InstallmentsError.PLAN_NOT_ACTIVE, _("Only an active or overdue plan can be adjusted.")
        )
    model = InstallmentPlan.objects.select_related("customer").get(pk=plan.pk)
    plan_changing.send(sender=InstallmentPlan, plan=model, kind=WAIVER)
    component = ADJUSTMENT_COMPONENT[AdjustmentKind(adjustment.kind)]
    today = timezone.localdate()
    posting = Posting()
    try:
        waive(
            posting,
            plan,
            installments,
            component=component,
            amount=adjustment.amount,
            today=today,
            source=Source(key=f"adjustment:{adjustment.pk}", reference=f"adjustment:{adjustment.pk}"),
        )
    except WaiverExceedsOpen as exc:
        raise _exceeds(adjustment.kind, exc) from None
    posting.write()
    plan_changed.send(sender=InstallmentPlan, plan=model, kind=WAIVER, successor=None)
    notification_create(
        user=model.customer,
        code="adjustment_applied",
        context={
            "plan": plan.display_name,
            "waived": component,
            "amount": adjustment.amount,
            "remaining": remaining_total(installments),
        },
        dedupe_key=f"adjustment_applied:{adjustment.pk}",
    )

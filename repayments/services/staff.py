"""Staff money operations: a payment that reached us outside the gateway (bank transfer), recorded and
posted at once, and the reversal of a succeeded payment (refund, then the ledger takes it back off)."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.db import insert_rows
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money import ZERO
from core.money_input import parse_money
from installments.allocation import payable_total
from installments.errors import InstallmentsError
from installments.ledger import Entry, Posting, Source, lock_plan, plan_dues, post, remaining_total, unpost
from installments.models import Account, CreditEvent, CreditEventKind, InstallmentPlan, PlanStatus
from installments.services import REOPENED_BY_REVERSAL, payoff_certificates_revoke
from notifications.services import notification_create
from repayments.errors import RepaymentsError
from repayments.gateway import GatewayError, get_gateway
from repayments.models import Allocation, Repayment, RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.selectors import reserved_amount
from repayments.services.settlement import allocation_rows, repayment_event


def repayment_record_offline(
    *, staff: User, plan: InstallmentPlan, amount: Decimal | str, reference: str, note: str = ""
) -> Repayment:
    """A payment that reached us outside the gateway (bank transfer): recorded and allocated at once."""
    if not staff.is_staff:
        raise ApplicationError(RepaymentsError.STAFF_ONLY, _("Only staff can record an offline payment."))
    reference = reference.strip()
    if not reference:
        raise ApplicationError(
            RepaymentsError.REFERENCE_REQUIRED,
            _("Enter the bank transfer reference."),
            fields={"reference": _("Required.")},
        )
    amount = parse_money(amount, field="amount")
    if amount <= 0:
        raise ApplicationError(CommonError.INVALID_AMOUNT, _("The amount must be positive."))
    today = timezone.localdate()
    with transaction.atomic():
        locked_plan, installments = lock_plan(plan.pk, no_key=True)
        available = payable_total(plan_dues(locked_plan, installments, today=today)) - reserved_amount(
            plan.pk
        )
        if amount > available:
            raise ApplicationError(
                RepaymentsError.AMOUNT_EXCEEDS_OUTSTANDING,
                _("The most that can be recorded on this plan now is ¥%(max)s.")
                % {"max": f"{max(available, ZERO):,.2f}"},
            )
        try:
            with transaction.atomic():
                repayment = Repayment.objects.create(
                    customer_id=locked_plan.customer_id,
                    plan=plan,
                    amount=amount,
                    mode=RepaymentMode.CUSTOM,
                    channel=RepaymentChannel.STAFF,
                    status=RepaymentStatus.SUCCEEDED,
                    idempotency_key=f"offline:{reference}",
                    gateway_reference=f"offline:{reference}"[:64],
                    settled_at=timezone.now(),
                    note=note[:255],
                    created_by=staff,
                )
        except IntegrityError:
            raise ApplicationError(
                RepaymentsError.DUPLICATE_REFERENCE, _("This transfer is already recorded.")
            ) from None
        posting = Posting()
        posted = post(
            posting,
            locked_plan,
            installments,
            amount,
            today=today,
            source=Source(
                key=f"repayment:{repayment.pk}", reference=str(repayment.public_id), account=Account.CASH
            ),
        )
        posting.write()
        insert_rows(Allocation, allocation_rows(repayment.pk, posted))
        repayment_event(repayment, "offline_recorded", actor=staff, reason=note, reference=reference)
        staff_action_record(
            staff=staff,
            customer=plan.customer,
            action="offline_payment_recorded",
            detail={
                "plan": str(plan.public_id),
                "repayment": str(repayment.public_id),
                "amount": f"{amount:.2f}",
                "reference": reference,
                "note": note[:255],
            },
        )
        notification_create(
            user=plan.customer,
            code="repayment_received",
            context={
                "plan": locked_plan.display_name,
                "amount": amount,
                "remaining": remaining_total(installments),
            },
            dedupe_key=f"repayment_received:{repayment.public_id}",
        )
    return repayment


def repayment_reverse(*, staff: User, repayment: Repayment, reason: str) -> Repayment:
    """Undo a succeeded repayment: refund it (card payments) and take its allocations off the installments;
    a payoff certificate of a plan this reopens is revoked in the same transaction."""
    if not staff.is_staff:
        raise ApplicationError(RepaymentsError.STAFF_ONLY, _("Only staff can reverse a repayment."))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"reason": _("Required.")}
        )
    if repayment.status != RepaymentStatus.SUCCEEDED:
        raise ApplicationError(
            RepaymentsError.REPAYMENT_NOT_REVERSIBLE, _("Only a succeeded repayment can be reversed.")
        )
    if repayment.plan.status == PlanStatus.RESTRUCTURED:
        # Its balance moved to a new plan at re-staging; reopening the old installments would count it twice.
        raise ApplicationError(
            RepaymentsError.PLAN_RESTRUCTURED,
            _("This plan was re-staged; a payment made before that can no longer be reversed here."),
        )
    if _paid_before_charge_off(repayment):
        # Reopening a written-off debt would put receivables back without a charge-off undo to match.
        raise ApplicationError(
            RepaymentsError.PAID_BEFORE_CHARGE_OFF,
            _(
                "This payment was made before the plan was charged off. Undo the charge-off first (on its "
                "business day), or ask finance."
            ),
        )
    if repayment.channel != RepaymentChannel.STAFF:
        # What the payment applied, not what it charged: an excess was already sent back on its own
        # (``excess:<id>``), and the bank refuses a refund above what is left of the charge.
        applied = sum((a.amount for a in repayment.allocations.all() if not a.waived), start=ZERO)
        try:
            get_gateway().refund(
                reference=repayment.gateway_reference,
                amount=applied,
                idempotency_key=f"reversal:{repayment.public_id}",
            )
        except GatewayError as exc:
            raise ApplicationError(
                RepaymentsError.REFUND_FAILED, _("The bank refused the refund: %(error)s") % {"error": exc}
            ) from None
    today = timezone.localdate()
    with transaction.atomic():
        plan, installments = lock_plan(repayment.plan_id, no_key=True)
        repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
        if repayment.status != RepaymentStatus.SUCCEEDED:
            return repayment
        posting = Posting()
        entries = [
            Entry(a.installment_id, a.component, a.amount, a.waived) for a in repayment.allocations.all()
        ]
        by_card = repayment.channel != RepaymentChannel.STAFF
        unpost(
            posting,
            plan,
            installments,
            entries,
            today=today,
            source=Source(
                key=f"repayment:{repayment.pk}:reversed",
                reference=str(repayment.public_id),
                account=Account.BANK_CLEARING if by_card else Account.CASH,
            ),
        )
        posting.write()
        if plan.status != PlanStatus.PAID_OFF:
            # The plan owes again: its 结清证明 no longer holds, from the moment this commits.
            payoff_certificates_revoke(plan_id=plan.pk, reason=REOPENED_BY_REVERSAL)
        repayment.status = RepaymentStatus.REVERSED
        repayment.save(update_fields=["status", "updated_at"])
        repayment_event(repayment, "reversed", actor=staff, reason=reason)
    return repayment


def _paid_before_charge_off(repayment: Repayment) -> bool:
    """Whether ``repayment`` settled before its plan's charge-off (核销), which stands or was paid off after.
    A payment after the charge-off (a recovery) can be reversed like any other."""
    plan = repayment.plan
    if plan.charged_off_on is None:
        return False
    charged_off_at = (
        CreditEvent.objects.filter(
            plan=plan, kind=CreditEventKind.CHARGED_OFF, business_date=plan.charged_off_on
        )
        .values_list("created_at", flat=True)
        .first()
    )
    settled_at = repayment.settled_at or repayment.requested_at
    return charged_off_at is None or settled_at < charged_off_at

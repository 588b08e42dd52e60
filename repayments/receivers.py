"""How repayments takes part in a plan change (installments/signals.py), inside that transaction."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from installments.models import CreditEvent, CreditEventKind, InstallmentPlan
from installments.signals import CHARGE_OFF_UNDO, plan_changed, plan_changing
from repayments.errors import RepaymentsError
from repayments.models import Repayment, RepaymentStatus
from repayments.services import mandates_carry_over


@receiver(plan_changing)
def refuse_while_money_in_flight(sender: type, plan: InstallmentPlan, kind: str, **kwargs: object) -> None:
    """A charge sent to the bank and not yet settled would land on debts that no longer exist as they
    were: wait until it settles (seconds, or the next reconciliation)."""
    if Repayment.objects.filter(plan_id=plan.pk, status=RepaymentStatus.PENDING).exists():
        raise ApplicationError(
            RepaymentsError.PAYMENT_IN_PROGRESS,
            _("A payment on this plan is being processed. Try again in a few minutes."),
        )


@receiver(plan_changing)
def refuse_undo_after_a_recovery(sender: type, plan: InstallmentPlan, kind: str, **kwargs: object) -> None:
    """A charge-off is undone only while nothing was recovered on it: its undo is then the exact opposite of
    the charge-off (the journal reverses one entry), and no recovery would need re-booking as a repayment."""
    if kind != CHARGE_OFF_UNDO or plan.charged_off_on is None:
        return
    charged_off_at = (
        CreditEvent.objects.filter(
            plan_id=plan.pk, kind=CreditEventKind.CHARGED_OFF, business_date=plan.charged_off_on
        )
        .values_list("created_at", flat=True)
        .first()
    )
    recovered = Repayment.objects.filter(plan_id=plan.pk, status=RepaymentStatus.SUCCEEDED)
    if charged_off_at is not None:
        recovered = recovered.filter(settled_at__gte=charged_off_at)
    if recovered.exists():
        raise ApplicationError(
            RepaymentsError.RECOVERY_RECEIVED,
            _(
                "A payment was received on this plan since its charge-off: the charge-off can no longer "
                "be undone."
            ),
        )


@receiver(plan_changed)
def carry_over(
    sender: type, plan: InstallmentPlan, kind: str, successor: InstallmentPlan | None = None, **kwargs: object
) -> None:
    """The balance moved to a successor plan: the mandate follows it, scheduled payments are cancelled."""
    if successor is not None:
        mandates_carry_over(source=plan, plan=successor)

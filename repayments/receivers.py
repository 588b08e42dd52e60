"""How repayments takes part in a plan change (installments/signals.py), inside that transaction."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from installments.models import InstallmentPlan
from installments.signals import plan_changed, plan_changing
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


@receiver(plan_changed)
def carry_over(
    sender: type, plan: InstallmentPlan, kind: str, successor: InstallmentPlan | None = None, **kwargs: object
) -> None:
    """The balance moved to a successor plan: the mandate follows it, scheduled payments are cancelled."""
    if successor is not None:
        mandates_carry_over(source=plan, plan=successor)

"""How repayments reacts to a plan being re-staged (installments/signals.py), inside that transaction."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from installments.models import InstallmentPlan
from installments.signals import plan_restaged, plan_restaging
from repayments.errors import RepaymentsError
from repayments.models import AutoDebitMandate, Repayment, RepaymentEvent, RepaymentStatus


@receiver(plan_restaging)
def refuse_while_money_in_flight(sender: type, plan: InstallmentPlan, **kwargs: object) -> None:
    """A charge sent to the bank and not yet settled would land on installments that no longer exist
    as debts: wait until it settles (seconds, or the next reconciliation)."""
    if Repayment.objects.filter(plan=plan, status=RepaymentStatus.PENDING).exists():
        raise ApplicationError(
            RepaymentsError.PAYMENT_IN_PROGRESS,
            _("A payment on this plan is being processed. Try again in a few minutes."),
        )


@receiver(plan_restaged)
def carry_over(sender: type, source: InstallmentPlan, plan: InstallmentPlan, **kwargs: object) -> None:
    """The new plan inherits the auto-debit setting; payments scheduled on the source plan are cancelled
    (they were for debts that moved) and the customer schedules again on the new plan if they wish."""
    mandate = AutoDebitMandate.objects.filter(plan=source).first()
    if mandate is not None:
        AutoDebitMandate.objects.create(plan=plan, card_id=mandate.card_id, enabled=mandate.enabled)
        if mandate.enabled:
            mandate.enabled = False
            mandate.save(update_fields=["enabled", "updated_at"])
    scheduled = list(Repayment.objects.filter(plan=source, status=RepaymentStatus.SCHEDULED))
    if scheduled:
        Repayment.objects.filter(pk__in=[r.pk for r in scheduled]).update(
            status=RepaymentStatus.CANCELLED, updated_at=timezone.now()
        )
        RepaymentEvent.objects.bulk_create(
            RepaymentEvent(repayment=r, kind="cancelled", reason="plan restructured") for r in scheduled
        )

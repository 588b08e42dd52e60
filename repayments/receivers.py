"""How repayments takes part in a plan change (installments/signals.py), inside that transaction."""

from __future__ import annotations

from contextlib import suppress
from datetime import date

from django.dispatch import receiver
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ApplicationError
from installments.models import CreditEvent, CreditEventKind, InstallmentPlan
from installments.signals import (
    CHARGE_OFF_UNDO,
    EXTENSION,
    HOLIDAY,
    autodebit_card_query,
    plan_changed,
    plan_changing,
)
from repayments.errors import RepaymentsError
from repayments.models import AutoDebitMandate, BankCard, CardStatus, Repayment, RepaymentStatus
from repayments.services import (
    autodebit_set,
    mandates_carry_over,
    scheduled_payments_cancel,
    scheduled_payments_move,
)


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
    sender: type,
    plan: InstallmentPlan,
    kind: str,
    successor: InstallmentPlan | None = None,
    autodebit: bool = False,
    **kwargs: object,
) -> None:
    """The balance moved to a successor plan: the mandate follows it, scheduled payments are cancelled;
    with ``autodebit`` (the customer's tick) auto-debit is turned on for the successor, on the card the
    mandate carried over or else the default card. No usable card leaves it off: the tick is not worth
    refusing the new plan over, and the plan page offers 设置自动扣款."""
    if successor is None:
        return
    mandates_carry_over(source=plan, plan=successor)
    if autodebit:
        with suppress(ApplicationError):
            autodebit_set(customer=plan.customer, plan=successor, enabled=True)


@receiver(plan_changed)
def follow_moved_due_dates(
    sender: type,
    plan: InstallmentPlan,
    kind: str,
    moved_due_dates: dict[date, date] | None = None,
    **kwargs: object,
) -> None:
    """An extension moved a due date: a payment scheduled for the old date moves with it."""
    if kind == EXTENSION and moved_due_dates:
        scheduled_payments_move(plan_id=plan.pk, moved_due_dates=moved_due_dates)


@receiver(plan_changed)
def holiday_cancels_scheduled(sender: type, plan: InstallmentPlan, kind: str, **kwargs: object) -> None:
    """A payment holiday moved the plan's due dates: the payments scheduled on it are cancelled (they were
    set for the old dates; the customer schedules again). Auto-debit follows the new dates by itself."""
    if kind == HOLIDAY:
        scheduled_payments_cancel(plan=plan, reason="payment holiday")


@receiver(autodebit_card_query)
def autodebit_card(sender: object, customer: User, plan: InstallmentPlan, **kwargs: object) -> str | None:
    """The card ``autodebit_set`` would use for ``plan``'s successor (``carry_over`` above, with the
    tick): the card the plan's mandate carries over, if still active; with no mandate, the default card."""
    mandate = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
    if mandate is not None:
        return str(mandate.card) if mandate.card.status == CardStatus.ACTIVE else None
    default = BankCard.objects.filter(customer=customer, is_default=True, status=CardStatus.ACTIVE).first()
    return str(default) if default else None

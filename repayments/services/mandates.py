"""自动扣款 mandates: which card pays a plan's auto-debit, and what happens to it when the card fails or
the plan changes."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.ledger import PAYABLE_PLAN_STATUSES
from installments.models import InstallmentPlan
from notifications.services import notification_create
from repayments.errors import RepaymentsError
from repayments.models import (
    AutoDebitMandate,
    BankCard,
    CardStatus,
    Repayment,
    RepaymentEvent,
    RepaymentStatus,
)


def autodebit_set(
    *, customer: User, plan: InstallmentPlan, enabled: bool, card: BankCard | None = None, otp_code: str = ""
) -> AutoDebitMandate:
    """Turn auto-debit on or off for a plan, or move it to another card (which needs the SMS code)."""
    if plan.customer_id != customer.pk:
        raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
    current = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
    if card is None:
        card = (
            current.card if current else BankCard.objects.filter(customer=customer, is_default=True).first()
        )
    if enabled:
        if card is None or card.customer_id != customer.pk or card.status != CardStatus.ACTIVE:
            raise ApplicationError(
                RepaymentsError.CARD_REQUIRED, _("Bind a bank card first, then turn on auto-debit.")
            )
        if plan.status not in PAYABLE_PLAN_STATUSES:
            raise ApplicationError(
                RepaymentsError.PLAN_NOT_PAYABLE, _("Nothing is left to pay on this plan.")
            )
    if card is None:  # turning off a plan that never had auto-debit, with no card bound
        raise ApplicationError(
            RepaymentsError.CARD_REQUIRED, _("Bind a bank card first, then turn on auto-debit.")
        )
    card_changed = current is not None and current.card_id != card.pk
    if card_changed:
        otp_verify(user=customer, purpose=OtpPurpose.CHANGE_AUTODEBIT_CARD, code=otp_code)
    with transaction.atomic():
        mandate, _created = AutoDebitMandate.objects.update_or_create(
            plan=plan, defaults={"card": card, "enabled": enabled}
        )
        if card_changed and enabled:
            autodebit_card_changed_notify(mandate)
    return mandate


def autodebit_card_changed_notify(mandate: AutoDebitMandate) -> None:
    """Tell the customer by SMS that a plan's auto-debit now uses another card (a security message: a
    change they did not make must not go unnoticed). Written in the caller's transaction."""
    notification_create(
        user=mandate.plan.customer,
        code="autodebit_card_changed",
        context={"plan": mandate.plan.display_name, "card_last4": mandate.card.last4},
        dedupe_key=f"autodebit_card_changed:{mandate.pk}:{mandate.card_id}:{mandate.updated_at.isoformat()}",
    )


def mandate_fallback(mandate: AutoDebitMandate, reason: str) -> BankCard | None:
    """The plan's card is gone or hard-declined: use the default card, else switch auto-debit off."""
    default = (
        BankCard.objects.filter(
            customer_id=mandate.plan.customer_id, is_default=True, status=CardStatus.ACTIVE
        )
        .exclude(pk=mandate.card_id)
        .first()
    )
    if default is not None:
        AutoDebitMandate.objects.filter(pk=mandate.pk).update(card=default)
        return default
    AutoDebitMandate.objects.filter(pk=mandate.pk).update(enabled=False)
    notification_create(
        user=mandate.plan.customer,
        code="autodebit_disabled",
        context={"plan": mandate.plan.display_name, "card_last4": mandate.card.last4, "reason": reason},
        dedupe_key=f"autodebit_disabled:{mandate.pk}:{mandate.card_id}",
    )
    return None


def mandates_carry_over(*, source: InstallmentPlan, plan: InstallmentPlan) -> None:
    """A plan's balance moved to ``plan`` (re-staging): the new plan inherits the auto-debit setting, and
    payments scheduled on the source plan are cancelled (they were for debts that moved); the customer
    schedules again on the new plan if they wish. Runs inside the plan change's transaction."""
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


def scheduled_payments_cancel(*, plan: InstallmentPlan, reason: str) -> int:
    """Cancel every payment the customer scheduled on ``plan`` (a payment holiday moved its due dates: a
    payment set for an old date would charge a month the customer asked to skip, so they schedule again
    against the new dates). Runs inside the plan change's transaction; returns how many."""
    scheduled = list(Repayment.objects.filter(plan=plan, status=RepaymentStatus.SCHEDULED))
    if scheduled:
        Repayment.objects.filter(pk__in=[r.pk for r in scheduled]).update(
            status=RepaymentStatus.CANCELLED, updated_at=timezone.now()
        )
        RepaymentEvent.objects.bulk_create(
            RepaymentEvent(repayment=r, kind="cancelled", reason=reason) for r in scheduled
        )
    return len(scheduled)

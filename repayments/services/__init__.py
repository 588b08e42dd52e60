"""Every write of the repayments app: cards (cards.py) and payments (payments.py)."""

from repayments.services.cards import card_bind, card_number_check, card_set_default, card_unbind
from repayments.services.payments import (
    OneTimeCard,
    PlanBalance,
    plan_balance,
    repayment_cancel,
    repayment_charge,
    repayment_create,
    repayment_record_offline,
    repayment_reverse,
    repayment_settle,
    repayments_reconcile,
    repayments_run_scheduled,
)

__all__ = [
    "OneTimeCard",
    "PlanBalance",
    "card_bind",
    "card_number_check",
    "card_set_default",
    "card_unbind",
    "plan_balance",
    "repayment_cancel",
    "repayment_charge",
    "repayment_create",
    "repayment_record_offline",
    "repayment_reverse",
    "repayment_settle",
    "repayments_reconcile",
    "repayments_run_scheduled",
]

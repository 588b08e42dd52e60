"""What a customer reads for a charge's outcome, in their language: the one place a failure code (the
gateway's answer, or one of ours for a scheduled payment) becomes words.

The gateway's own ``message`` (``Repayment.failure_message``) is the bank's text, in the bank's language,
kept for staff; pages, the records list and the API show the code's words from here, never the raw code.
The SMS about a failed auto-debit says the same in fewer words (``notifications.messages.PLAIN_WORDS``,
keyed by the same codes; ``tests/repayments/test_failures.py`` keeps the two key sets in step).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Charge outcomes (repayments.gateway.ChargeStatus) and ours: "not_charged" (settlement: the bank never saw
# it), "card_removed" and "nothing_due" (a scheduled payment on its date).
REASONS = {
    "insufficient_funds": _("The card's balance is not enough for this payment"),
    "declined": _("The bank declined the card (it may be frozen, closed or expired)"),
    "card_expired": _("The card has expired"),
    "limit_exceeded": _("The amount is above the card's limit"),
    "failed": _("The bank's system was busy and did not take the payment"),
    "not_charged": _("The payment did not reach the bank"),
    "card_removed": _("The card was removed before the payment date"),
    "nothing_due": _("Nothing was due on the payment date"),
}
OTHER_REASON = _("The payment did not go through")


def failure_reason(code: str) -> str:
    """The words for a failure code in the active language; an unknown non-empty code gets the general
    words, never the code."""
    if not code:
        return ""
    return str(REASONS.get(code, OTHER_REASON))


# --- the staff workspace's words for the audit trail's codes (the admin shows these, never the code) --------

# RepaymentEvent.kind, as written by the services (payments, settlement, staff, mandates).
EVENT_KINDS = {
    "requested": _("requested"),
    "scheduled": _("scheduled"),
    "succeeded": _("succeeded"),
    "late_succeeded": _("succeeded late (after being given up)"),
    "failed": _("failed"),
    "cancelled": _("cancelled"),
    "rescheduled": _("moved to the extended due date"),
    "excess_owed": _("overpaid: refund owed"),
    "excess_refunded": _("overpayment refunded"),
    "offline_recorded": _("offline payment recorded"),
    "reversed": _("reversed and refunded"),
}

# What a service wrote as a reason without a person behind it.
SYSTEM_REASONS = {"plan restructured": _("the plan was restructured")}

# BankWebhookEvent.kind: the bank's notification types (repayments.gateway.ChargeStatus, refunds).
WEBHOOK_KINDS = {
    "charge.succeeded": _("charge succeeded"),
    "charge.insufficient_funds": _("charge failed: insufficient funds"),
    "charge.declined": _("charge failed: card declined"),
    "charge.failed": _("charge failed: bank busy"),
    "refund.succeeded": _("refund succeeded"),
}

# RepaymentEvent.data keys.
EVENT_DATA_LABELS = {
    "reference": _("bank reference"),
    "amount": _("amount"),
    "code": _("reason"),
    "channel": _("channel"),
    "previous_status": _("status before"),
    "previous_failure_code": _("reason before"),
    "previous_date": _("date before"),
    "scheduled_for": _("scheduled for"),
}


def _humanized(code: str) -> str:
    """An unknown code still reads as words, not as an identifier."""
    return code.replace("_", " ").replace(".", ": ")


def event_kind_label(kind: str) -> str:
    return str(EVENT_KINDS.get(kind, _humanized(kind)))


def webhook_kind_label(kind: str) -> str:
    return str(WEBHOOK_KINDS.get(kind, _humanized(kind)))


def system_reason_label(reason: str) -> str:
    return str(SYSTEM_REASONS.get(reason, reason))

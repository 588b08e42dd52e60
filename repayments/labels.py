"""What a customer reads for a charge's outcome, in their language.

The gateway's own ``message`` (``Repayment.failure_message``) is the bank's text, in the bank's language,
kept for staff; pages, the records list and the API's ``failure_message`` show the code's words from here.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Charge outcomes (repayments.gateway.ChargeStatus) and "not_charged" (settlement: the bank never saw it).
FAILURE_REASONS = {
    "insufficient_funds": _("Not enough money on the card."),
    "declined": _("The bank declined the card."),
    "failed": _("The bank was busy. Try again later."),
    "not_charged": _("The bank never received the payment; nothing was charged."),
}
OTHER_FAILURE = _("The payment did not go through.")


def failure_reason(code: str) -> str:
    """The words for a failure code; an unknown non-empty code gets the general words, never the code."""
    if not code:
        return ""
    return str(FAILURE_REASONS.get(code, OTHER_FAILURE))

"""The staff audit trail (``StaffAction``): one writer and the words for each action.

Every staff action the support workspace offers calls ``staff_action_record`` in the transaction of the
change it records, so an action and its audit row exist together or not at all. Add an action's code and
its words to ``ACTION_LABELS`` in the change that adds the action; ``staff_action_record`` refuses a code
with no words, so the 360's audit tab never shows a raw code.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import StaffAction, User

ACTION_LABELS: dict[str, Any] = {
    "phone_revealed": _("Saw the full phone number"),
    "payment_link_sent": _("Sent a payment-link SMS"),
    "complaint_filed": _("Opened a complaint for the customer"),
    "complaint_assigned": _("Assigned a complaint"),
    "complaint_investigating": _("Started investigating a complaint"),
    "complaint_extension_requested": _("Asked to extend a complaint's deadline"),
    "complaint_extension_approved": _("Approved a complaint's deadline extension"),
    "complaint_extension_refused": _("Refused a complaint's deadline extension"),
    "complaint_resolved": _("Resolved a complaint"),
    "complaint_rejected": _("Rejected a complaint"),
    "adjustment_applied": _("Waived a penalty or fee"),
    "adjustment_requested": _("Asked to waive a penalty or fee (awaiting approval)"),
    "adjustment_approved": _("Approved a waiver"),
    "adjustment_rejected": _("Rejected a waiver"),
    "autodebit_switched_on": _("Turned auto-debit on at the customer's request"),
    "autodebit_switched_off": _("Turned auto-debit off at the customer's request"),
    "signin_unlocked": _("Unlocked the customer's sign-in"),
    "offline_payment_recorded": _("Recorded an offline payment"),
    "promise_recorded": _("Recorded a promise to pay"),
    "negotiation_offer_made": _("Made a negotiated-plan offer"),
    "negotiation_offer_approved": _("Approved a negotiated-plan offer"),
    "holiday_offered": _("Offered a payment holiday"),
    "holiday_proposed": _("Proposed a payment holiday (awaiting approval)"),
    "holiday_approved": _("Approved a payment holiday"),
    "holiday_rejected": _("Rejected a payment holiday"),
    "hardship_freeze_opened": _("Paused penalties on a plan (hardship freeze)"),
    "hardship_freeze_ended": _("Ended a hardship freeze early"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def staff_action_record(
    *, staff: User, customer: User, action: str, detail: dict[str, Any] | None = None
) -> StaffAction:
    """Writes one audit row; call it inside the transaction of the change it records."""
    if action not in ACTION_LABELS:
        raise ValueError(f"staff action {action!r} has no words in ACTION_LABELS")
    return StaffAction.objects.create(staff=staff, customer=customer, action=action, detail=detail or {})

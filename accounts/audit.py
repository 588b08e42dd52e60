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
    "negotiation_offer_made": _("Made a negotiated-plan offer"),
    "negotiation_offer_approved": _("Approved a negotiated-plan offer"),
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

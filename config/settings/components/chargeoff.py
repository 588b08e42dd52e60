"""Charge-off (核销): the staff undo's maker-checker threshold (installments)."""

from config.settings.env import env

# Undoing a charge-off whose open amount is above this needs a second staff member with the approver
# permission (installments.approve_charge_off_undo); at or below it, the requester's undo is done at once.
CHARGE_OFF_UNDO_APPROVAL_ABOVE = env.str("CHARGE_OFF_UNDO_APPROVAL_ABOVE", default="5000.00")

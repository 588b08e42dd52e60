"""Staff adjustments (减免): the waiver's maker-checker threshold (installments)."""

from config.settings.env import env

# A penalty or fee waiver above this amount waits for a second staff member with the approver permission
# (installments.approve_adjustment); at or below it, the requester's waiver is applied at once.
ADJUSTMENT_APPROVAL_ABOVE = env.str("ADJUSTMENT_APPROVAL_ABOVE", default="200.00")

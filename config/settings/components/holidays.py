"""Payment holidays (staff, installments): the maker-checker threshold and how long an offer stands."""

from config.settings.env import env

# A holiday of more periods than this waits for a second staff member with the approver permission
# (installments.approve_holiday: the approver and lead groups); up to it, the agent's proposal is offered
# to the customer at once. Nobody approves their own.
HOLIDAY_APPROVAL_ABOVE_PERIODS = env.int("HOLIDAY_APPROVAL_ABOVE_PERIODS", default=1)
# Days the customer has to accept an offered holiday with an SMS code; the daily run expires it after.
HOLIDAY_OFFER_VALID_DAYS = env.int("HOLIDAY_OFFER_VALID_DAYS", default=3)

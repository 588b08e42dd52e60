"""Collection cases and promises to pay (installments)."""

from config.settings.env import env

# How far ahead a promise to pay may be dated (承诺还款): a promise further out is a plan, not a promise.
PTP_MAX_DAYS = env.int("PTP_MAX_DAYS", default=14)
# Broken promises in a row after which only an approver or a lead may record another.
PTP_BROKEN_IN_A_ROW_LIMIT = env.int("PTP_BROKEN_IN_A_ROW_LIMIT", default=2)
# How far ahead staff may put a case's next action.
CASE_FOLLOW_UP_MAX_DAYS = env.int("CASE_FOLLOW_UP_MAX_DAYS", default=30)

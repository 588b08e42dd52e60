"""Events other apps react to when a plan is re-staged, without ``installments`` importing them.

Both are sent inside the re-staging transaction, after the source plan and its installments are locked,
so whatever a receiver writes commits or rolls back with the new plan. A receiver that raises
(an ``ApplicationError``) refuses the re-staging and nothing is written.
"""

from __future__ import annotations

import django.dispatch

# Sent with: plan (the locked source plan). ``repayments`` refuses while money is in flight on it.
plan_restaging = django.dispatch.Signal()

# Sent with: source (the source plan, now restructured) and plan (the new plan). ``repayments`` moves the
# auto-debit setting over and cancels payments scheduled on the source plan.
plan_restaged = django.dispatch.Signal()

"""Plans whose first installment falls due on a chosen day, on every day of the year.

Due dates fall on the purchase day-of-month one month later, clamped to the month's end, so some days
are no purchase's first due date: the 29th-31st of March (Feb 28 + 1 month = Mar 28), and the 31st after
a 30-day month. Fixtures that searched for "the purchase a month before today" looped to year 9999 on
those days (every auto-debit test errored on Mar 31). These helpers take the nearest reachable purchase
and move installment 1 onto the day, the way the hard-decline tests already set a due date.
"""

from __future__ import annotations

from datetime import date, timedelta

from installments.models import Installment, InstallmentPlan
from installments.schedules import add_months


def purchase_due_on(day: date) -> date:
    """The purchase whose first installment falls due on ``day``; where none does, the latest purchase
    that falls due before it (then call :func:`first_due_on`)."""
    reachable = [day - timedelta(days=back) for back in range(27, 33)]
    exact = [p for p in reachable if add_months(p, 1) == day]
    if exact:
        return exact[0]
    return max((p for p in reachable if add_months(p, 1) < day), key=lambda p: add_months(p, 1))


def first_due_on(plan: InstallmentPlan, day: date) -> InstallmentPlan:
    """Installment 1 of ``plan`` (made with :func:`purchase_due_on`) falls due on ``day``."""
    if plan.first_due_date != day:
        Installment.objects.filter(plan=plan, sequence=1).update(due_date=day)
        InstallmentPlan.objects.filter(pk=plan.pk).update(first_due_date=day)
        plan.refresh_from_db()
    return plan

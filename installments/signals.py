"""The plan-change pair: how other apps take part in a change to a plan, without ``installments``
importing them.

Every operation that changes what a plan owes other than by a payment (a re-staging, a charge-off and
its undo; a merchant refund or a hardship freeze when they come) MUST send both, with its ``kind``:

* ``plan_changing(plan=..., kind=...)``: after the plan and its installments are locked, before anything
  is written. A receiver that raises (an ``ApplicationError``) refuses the change and nothing is written.
  ``repayments`` refuses while money is in flight on the plan (a charge sent and not yet settled would
  land on debts that changed).
* ``plan_changed(plan=..., kind=..., successor=...)``: after the change is written, in the same
  transaction, so whatever a receiver writes commits or rolls back with it. ``successor`` is the plan that
  took the balance over (a re-staging), else None. ``repayments`` moves the auto-debit mandate to the
  successor and cancels payments scheduled on the plan; with ``autodebit=True`` (the customer ticked
  "turn on auto-debit" when accepting a negotiated plan) it also turns auto-debit on for the successor.

Kinds: ``"restage"`` (secondary and negotiated plans), ``"charge_off"`` and ``"charge_off_undo"`` (核销 and
its same-day undo: ``repayments`` refuses either while a charge is in flight), ``"waiver"`` (a staff
adjustment, 减免: refused the same way), ``"extension"`` (延期还款: refused the same way; ``plan_changed``
carries ``moved_due_dates``, ``{old due date: new due date}``, and ``repayments`` moves a payment scheduled
for an old date to the new one), ``"holiday"`` (a payment holiday: refused the same way; on
``plan_changed`` ``repayments`` cancels the payments scheduled on the plan); later ``"refund"``.
Payments themselves are not plan changes: they go through ``installments.ledger.post``.
"""

from __future__ import annotations

import django.dispatch

RESTAGE = "restage"
CHARGE_OFF = "charge_off"
CHARGE_OFF_UNDO = "charge_off_undo"
WAIVER = "waiver"  # a staff adjustment (减免): a penalty or fee waived
EXTENSION = "extension"  # 延期还款: one installment's due date moved (``moved_due_dates`` on plan_changed)
HOLIDAY = "holiday"  # a payment holiday (staff, accepted by the customer): due dates moved N months

plan_changing = django.dispatch.Signal()  # plan (locked), kind
plan_changed = (
    django.dispatch.Signal()
)  # plan, kind, successor (or None), autodebit, moved_due_dates (optional)

# Asked, not told: (customer, plan) -> the card auto-debit would use for that plan's successor, shown
# masked ("工商银行 尾号1234"), or None. ``repayments`` answers; the offer page ticks "turn on auto-debit" by
# default only when there is such a card.
autodebit_card_query = django.dispatch.Signal()


def autodebit_card_for(*, customer: object, plan: object) -> str | None:
    answers = [a for _r, a in autodebit_card_query.send(sender=None, customer=customer, plan=plan) if a]
    return str(answers[0]) if answers else None

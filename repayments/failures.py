"""Why a payment failed, in the customer's words, and what they can do next: the one place a failure code
(the gateway's answer, or one of ours for a scheduled payment) becomes text on a customer page or in the
API's ``failure_reason``. A page never shows the raw code or the bank's own (English) message.

The SMS about a failed auto-debit says the same in fewer words (``notifications.messages.PLAIN_WORDS``,
keyed by the same codes; ``tests/repayments/test_failures.py`` keeps the two key sets in step).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from installments.models import InstallmentPlan
from installments.next_steps import NextStep, relief_steps
from installments.templatetags.money import yuan
from repayments.models import BankCard, Repayment, RepaymentMode

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

REASONS: dict[str, StrOrPromise] = {
    "insufficient_funds": _("The card's balance is not enough for this payment"),
    "declined": _("The bank declined the card (it may be frozen, closed or expired)"),
    "card_expired": _("The card has expired"),
    "limit_exceeded": _("The amount is above the card's limit"),
    "failed": _("The bank's system was busy and did not take the payment"),
    "not_charged": _("The payment did not reach the bank"),
    "card_removed": _("The card was removed before the payment date"),
    "nothing_due": _("Nothing was due on the payment date"),
}
OTHER_REASON = _("The payment did not go through")

# The card itself cannot pay: trying it again is no next step.
_CARD_UNUSABLE = {"declined", "card_expired", "card_removed"}
# The card could pay less: offer a smaller amount with it.
_AMOUNT_TOO_HIGH = {"insufficient_funds", "limit_exceeded"}


def failure_reason(code: str) -> StrOrPromise:
    """The customer's words for a failure code, in the active language; an unknown code gets a general
    sentence, never the code."""
    return REASONS.get(code, OTHER_REASON) if code else ""


def pay_url(plan: InstallmentPlan, **params: object) -> str:
    """Step 1 of 立即还款 with choices filled in (``mode``, ``card``, ``amount``): the links of next steps."""
    query = urlencode({k: str(v) for k, v in params.items() if v not in (None, "")})
    return reverse("repayments:pay", args=[plan.public_id]) + (f"?{query}" if query else "")


def payment_next_steps(repayment: Repayment, *, cards: list[BankCard]) -> list[NextStep]:
    """The ways on after a failed payment, most likely first: try again, pay less with the same card, pay
    with another card (each other bound card, or a card used once), then 二次分期 / 协商还款 where the plan
    allows them. The page adds the hotline."""
    plan = repayment.plan
    code = repayment.failure_code
    card_value = str(repayment.card.public_id) if repayment.card else "one_time"
    amount: Decimal | None = repayment.amount if repayment.mode == RepaymentMode.CUSTOM else None
    steps: list[NextStep] = []
    if code == "nothing_due":
        return [
            NextStep("plan", _("See what the plan owes"), reverse("repayments:plan", args=[plan.public_id]))
        ]
    if code not in _CARD_UNUSABLE:
        steps.append(
            NextStep(
                "retry",
                _("Try again"),
                pay_url(plan, mode=repayment.mode, card=card_value, amount=amount),
                _("After topping up the card, or a little later if the bank was busy."),
            )
        )
    if code in _AMOUNT_TOO_HIGH:
        steps.append(
            NextStep(
                "smaller_amount",
                _("Pay what the card holds now"),
                pay_url(plan, mode=RepaymentMode.CUSTOM, card=card_value),
                _("Pay part now (less than %(amount)s) and the rest later.")
                % {"amount": yuan(repayment.amount)},
            )
        )
    others = [c for c in cards if c.pk != repayment.card_id]
    for other in others[:3]:
        steps.append(
            NextStep(
                "other_card",
                _("Pay with %(card)s") % {"card": other},
                pay_url(plan, mode=repayment.mode, card=other.public_id, amount=amount),
            )
        )
    steps.append(
        NextStep(
            "one_time_card",
            _("Pay with another card, once"),
            pay_url(plan, mode=repayment.mode, card="one_time", amount=amount),
        )
    )
    if not others:
        steps.append(NextStep("bind_card", _("Bind another card"), reverse("repayments:card_bind")))
    steps.extend(relief_steps(plan))
    return steps


def nothing_to_pay_steps(plan: InstallmentPlan) -> list[NextStep]:
    """Nothing can be paid now (paid off, or a payment in flight claims the rest): where to look instead."""
    return [
        NextStep(
            "plan", _("See the plan and its schedule"), reverse("repayments:plan", args=[plan.public_id])
        ),
        NextStep("records", _("See your payments"), reverse("repayments:records")),
    ]

"""What a customer can do after a failed payment: the next steps (retry, a smaller amount, another card,
二次分期, 协商还款). The failure's words come from ``repayments.labels``."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from installments.models import InstallmentPlan
from installments.next_steps import NextStep, relief_steps
from installments.templatetags.money import yuan
from repayments.models import BankCard, Repayment, RepaymentMode

# The card itself cannot pay: trying it again is no next step.
_CARD_UNUSABLE = {"declined", "card_expired", "card_removed"}
# The card could pay less: offer a smaller amount with it.
_AMOUNT_TOO_HIGH = {"insufficient_funds", "limit_exceeded"}


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

"""冲账: how one payment is split over a plan's installments. Pure arithmetic, no Django.

Order (DESIGN.md, Money): installments oldest first; inside each, penalty -> fee -> principal. What is
beyond the amount due now pays the following installments in order (prepayment). Where the plan's
prepayment policy waives the fees of periods that have not started, such an installment takes only its
early-repayment fee (zero, or a rate x its principal) and principal, and the rest of its fee is waived
once it is fully paid. Allocation never invents or loses a fen:
the splits sum exactly to the amount, and an amount above what can be paid is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.money import ZERO, fits_cents

COMPONENT_ORDER = ("penalty", "fee", "principal")


class OverpaymentError(ValueError):
    """More money than the plan can take; the caller refuses the payment instead of losing the rest."""

    def __init__(self, amount: Decimal, payable: Decimal) -> None:
        super().__init__(f"amount {amount} exceeds the payable balance {payable}")
        self.amount = amount
        self.payable = payable


@dataclass(frozen=True)
class Due:
    """What is still open on one installment, per component (due - paid - waived)."""

    installment_id: int
    sequence: int
    due_date: date
    penalty: Decimal
    fee: Decimal
    principal: Decimal
    # True for an installment whose period has not started: prepaid in full, it owes only
    # ``fee_if_prepaid`` of its fee (nothing, or an early-repayment fee) and the rest is waived.
    fee_waivable: bool = False
    fee_if_prepaid: Decimal = ZERO

    @property
    def prepaid_fee(self) -> Decimal:
        return min(self.fee, self.fee_if_prepaid)

    @property
    def payable(self) -> Decimal:
        """What paying this installment off costs now."""
        return self.penalty + self.principal + (self.prepaid_fee if self.fee_waivable else self.fee)

    @property
    def total(self) -> Decimal:
        return self.penalty + self.fee + self.principal


@dataclass(frozen=True)
class Split:
    installment_id: int
    component: str
    amount: Decimal


@dataclass(frozen=True)
class Waiver:
    installment_id: int
    component: str
    amount: Decimal


@dataclass(frozen=True)
class AllocationResult:
    splits: tuple[Split, ...]
    waivers: tuple[Waiver, ...]

    @property
    def total(self) -> Decimal:
        return sum((s.amount for s in self.splits), ZERO)


def payable_total(dues: Sequence[Due]) -> Decimal:
    return sum((d.payable for d in dues), ZERO)


def due_now_total(dues: Sequence[Due], *, today: date) -> Decimal:
    """Overdue and due-today installments in full: the '应还' a customer sees for today."""
    return sum((d.total for d in dues if d.due_date <= today), ZERO)


def allocate(amount: Decimal, dues: Sequence[Due]) -> AllocationResult:
    """Split ``amount`` over ``dues`` oldest first; penalty -> fee -> principal inside each installment."""
    if not isinstance(amount, Decimal) or not fits_cents(amount) or amount <= 0:
        raise ValueError(f"amount must be a positive Decimal with at most two decimals, not {amount!r}")
    ordered = sorted(dues, key=lambda d: (d.due_date, d.sequence))
    payable = payable_total(ordered)
    if amount > payable:
        raise OverpaymentError(amount, payable)
    left = amount
    splits: list[Split] = []
    waivers: list[Waiver] = []
    prior_cleared = True  # every earlier installment is fully paid by this payment
    for due in ordered:
        components = (
            (("penalty", due.penalty), ("fee", due.prepaid_fee), ("principal", due.principal))
            if due.fee_waivable
            else (("penalty", due.penalty), ("fee", due.fee), ("principal", due.principal))
        )
        cleared = True
        for component, open_amount in components:
            if open_amount <= 0:
                continue
            paid = min(left, open_amount)
            if paid > 0:
                splits.append(Split(due.installment_id, component, paid))
                left -= paid
            cleared = cleared and paid == open_amount
        if due.fee_waivable and due.fee > due.prepaid_fee and prior_cleared and cleared:
            waivers.append(Waiver(due.installment_id, "fee", due.fee - due.prepaid_fee))
        prior_cleared = prior_cleared and cleared
        if left <= 0 and not prior_cleared:
            break
    return AllocationResult(splits=tuple(splits), waivers=tuple(waivers))

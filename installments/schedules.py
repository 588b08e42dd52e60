"""Repayment schedule arithmetic for installment purchases.

This module is deliberately free of Django and of the rest of the project so that the money
rules can be reasoned about (and property-tested) in isolation; models and services persist
what it produces instead of re-deriving amounts themselves.

Conventions that callers rely on:

* Money is ``Decimal`` only. Every amount this module hands out has exactly two decimal places
  and was rounded exactly once, by :func:`quantize_money` (ROUND_HALF_UP, the rounding
  customers and regulators expect on a bill), at the point where it was produced. Sums of such
  amounts are exact and are therefore never re-rounded.
* Whatever a rounding step loses or gains is absorbed by the last installment, so the principal
  parts of a schedule always add up to the financed principal to the cent.
* Periods are treated as whole months for both interest and APR, even when a deferred first due
  date makes the first period longer: pricing a deferral is a business decision that belongs to
  whoever negotiates it, not to this arithmetic.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import (
    ROUND_HALF_UP,
    Decimal,
    InvalidOperation,
    localcontext,
)
from enum import StrEnum
from functools import cached_property

from core.money import MONEY_CONTEXT, MONEY_QUANTUM, ZERO, quantize_money

__all__ = [
    "FeeMethod",
    "Schedule",
    "ScheduleError",
    "ScheduleRow",
    "add_months",
    "apr_percent",
    "build_schedule",
    "due_dates",
    "irr_monthly",
]

_CONTEXT = MONEY_CONTEXT

_ONE = Decimal(1)
_MONTHS_PER_YEAR = Decimal(12)
_PERCENT_QUANTUM = Decimal("0.01")
# Bisection stops once the monthly IRR is bracketed this tightly: far below the 1e-10 needed
# for a stable APR at 0.01 percentage points, and still only ~60 iterations.
_IRR_TOLERANCE = Decimal("1e-18")


class ScheduleError(ValueError):
    """Invalid schedule input.

    A ``ValueError`` subclass so generic validation handling keeps working, while callers that
    care can tell schedule problems apart from other value errors.
    """


class FeeMethod(StrEnum):
    """How the cost of credit is charged. The values are persisted, so never rename them."""

    # Same fee every period (principal x per-period rate) with the principal split evenly, as
    # JD Baitiao quotes it. ``rate`` is the PER-PERIOD rate.
    FLAT_FEE = "flat_fee"
    # 等额本息: constant monthly payment. ``rate`` is the ANNUAL rate, charged as rate / 12.
    EQUAL_INSTALLMENT = "equal_installment"
    # 等额本金: constant principal, interest on the declining balance. ``rate`` is ANNUAL.
    EQUAL_PRINCIPAL = "equal_principal"


def add_months(start: date, months: int) -> date:
    """Shift by calendar months, keeping the day-of-month where the target month allows it.

    Always computed from ``start`` rather than by chaining single-month steps, so a Jan 31
    purchase is due Feb 28/29 and then back on Mar 31 instead of drifting to the 28th forever.
    """
    year, month_index = divmod(start.year * 12 + (start.month - 1) + months, 12)
    month = month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def due_dates(purchase_date: date, tenor: int, first_due_date: date | None = None) -> list[date]:
    """Monthly due dates, anchored on the purchase day or on a deferred first due date.

    The first due date, when given, must fall after the purchase: a due date on or before the
    day the money was lent would be an interest-free (or negative) period nobody intends.

    Raises:
        ScheduleError: tenor < 1, first_due_date not after purchase_date, or dates that run
            past ``date.max``.
    """
    _validate_tenor(tenor)
    if first_due_date is not None and first_due_date <= purchase_date:
        raise ScheduleError(f"first_due_date {first_due_date} must be after purchase_date {purchase_date}")
    try:
        if first_due_date is None:
            return [add_months(purchase_date, k) for k in range(1, tenor + 1)]
        return [add_months(first_due_date, k) for k in range(tenor)]
    except ValueError as exc:  # year out of range
        raise ScheduleError(f"due dates out of the supported calendar range: {exc}") from exc


@dataclass(frozen=True)
class ScheduleRow:
    """One installment as it will be billed."""

    sequence: int
    due_date: date
    principal: Decimal
    fee: Decimal  # the flat fee, or the interest for interest-bearing methods

    @property
    def total(self) -> Decimal:
        """What the customer pays for this installment."""
        return _money_sum((self.principal, self.fee))


@dataclass(frozen=True)
class Schedule:
    """A complete, internally consistent repayment plan.

    Not slotted on purpose: ``cached_property`` needs an instance ``__dict__``, and writes to it
    directly, so caching the APR works despite ``frozen=True`` and does not affect equality or
    hashing (which only look at the declared fields).
    """

    fee_method: FeeMethod
    principal: Decimal
    rate: Decimal
    rows: tuple[ScheduleRow, ...]

    @property
    def total_fee(self) -> Decimal:
        """Cost of credit in currency, the number disclosed next to the APR."""
        return _money_sum(row.fee for row in self.rows)

    @property
    def total_repayment(self) -> Decimal:
        """Everything the customer pays back over the life of the plan."""
        return _money_sum((self.principal, self.total_fee))

    @cached_property
    def apr_percent(self) -> Decimal:
        """Annualised cost by IRR; cached because solving it is the only non-trivial step."""
        return _apr_percent(self.principal, [row.total for row in self.rows])


def build_schedule(
    *,
    fee_method: FeeMethod | str,
    principal: Decimal,
    tenor: int,
    rate: Decimal,
    purchase_date: date,
    first_due_date: date | None = None,
) -> Schedule:
    """Build the repayment plan that gets persisted and billed.

    ``rate`` is per period for ``FLAT_FEE`` and annual for the interest-bearing methods (see
    :class:`FeeMethod`).

    Raises:
        ScheduleError: unknown fee method; principal not a positive, finite Decimal with at most
            two decimal places; tenor not an int >= 1; rate not a finite Decimal >= 0; or an
            invalid first_due_date (see :func:`due_dates`).
    """
    method = _parse_fee_method(fee_method)
    _validate_principal(principal)
    _validate_tenor(tenor)
    _validate_rate(rate)
    dates = due_dates(purchase_date, tenor, first_due_date)

    with localcontext(_CONTEXT):
        amount = quantize_money(principal)
        builder = _BUILDERS[method]
        parts = builder(amount, tenor, rate)

    rows = tuple(
        ScheduleRow(sequence=index, due_date=due, principal=part, fee=fee)
        for index, (due, (part, fee)) in enumerate(zip(dates, parts, strict=True), start=1)
    )
    return Schedule(fee_method=method, principal=amount, rate=rate, rows=rows)


def irr_monthly(principal: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """Monthly internal rate of return ``i`` with ``sum(p_k / (1+i)^k, k=1..n) == principal``.

    Solved by bisection in Decimal: with a single outflow followed by non-negative payments the
    present value is strictly decreasing in ``i``, so bisection cannot miss or pick a wrong
    root, and it is exact enough (bracket < 1e-18) to make the rounded APR reproducible.

    Only non-negative rates are supported. Payments that add up to less than the principal
    cannot come out of a schedule with ``rate >= 0``, so they are reported as an error rather
    than answered with a negative rate nobody would display.

    Raises:
        ScheduleError: principal not a positive finite Decimal, no payments, a negative or
            non-finite payment, or payments summing to less than the principal.
    """
    with localcontext(_CONTEXT):
        _validate_irr_input(principal, payments)
        flows = list(payments)
        if sum(flows, ZERO) == principal:
            return Decimal(0)

        def present_value(rate: Decimal) -> Decimal:
            discount = _ONE / (_ONE + rate)
            value = Decimal(0)
            for payment in reversed(flows):  # Horner: p1*v + p2*v^2 + ... + pn*v^n
                value = (value + payment) * discount
            return value

        low, high = Decimal(0), _ONE
        while present_value(high) > principal:
            low, high = high, high * 2
        while high - low > _IRR_TOLERANCE:
            middle = (low + high) / 2
            if present_value(middle) > principal:
                low = middle
            else:
                high = middle
        return (low + high) / 2


def apr_percent(principal: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """Nominal annual rate (12 x monthly IRR) in percent, rounded half up to 0.01.

    Nominal rather than effective because that is how the APR on Chinese consumer-credit
    disclosures (and the 24%/36% regulatory thresholds) is stated.

    Raises:
        ScheduleError: see :func:`irr_monthly`.
    """
    return _apr_percent(principal, payments)


# --- internals ----------------------------------------------------------------------------

# Signature shared by the per-method builders: (principal, tenor, rate) -> [(principal part,
# fee or interest)] per period, in order.
_Builder = Callable[[Decimal, int, Decimal], list[tuple[Decimal, Decimal]]]


def _apr_percent(principal: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """Shared by the function and the property, whose names would otherwise shadow each other."""
    with localcontext(_CONTEXT):
        monthly = irr_monthly(principal, payments)
        # A rate, not money: same 0.01 quantum, but deliberately not quantize_money.
        return (monthly * _MONTHS_PER_YEAR * 100).quantize(_PERCENT_QUANTUM, rounding=ROUND_HALF_UP)


def _money_sum(values: Iterable[Decimal]) -> Decimal:
    """Sum money in our own context so the caller's precision cannot truncate a total."""
    with localcontext(_CONTEXT):
        return sum(values, ZERO)


def _even_principal_part(principal: Decimal, tenor: int) -> Decimal:
    """Per-period principal for the "split evenly, last absorbs the remainder" methods.

    Half-up rounding can round the share up; for small principals over long tenors the first
    ``tenor - 1`` shares would then exceed the principal and leave a negative last share (e.g.
    1.00 over 36 -> 0.03 x 35 = 1.05). In exactly that case the share is lowered by one cent,
    which puts it below ``principal / tenor`` and so keeps the remainder positive.
    """
    part = quantize_money(principal / tenor)
    if part * (tenor - 1) > principal:
        part -= MONEY_QUANTUM
    return part


def _flat_fee_parts(principal: Decimal, tenor: int, rate: Decimal) -> list[tuple[Decimal, Decimal]]:
    fee = quantize_money(principal * rate)
    part = _even_principal_part(principal, tenor)
    last = principal - part * (tenor - 1)
    return [(part, fee)] * (tenor - 1) + [(last, fee)]


def _equal_principal_parts(principal: Decimal, tenor: int, rate: Decimal) -> list[tuple[Decimal, Decimal]]:
    part = _even_principal_part(principal, tenor)
    rows: list[tuple[Decimal, Decimal]] = []
    balance = principal
    for sequence in range(1, tenor + 1):
        # balance * rate / 12, multiplied first: rate / 12 is a recurring decimal, and its 28-digit cut
        # turned an exact half cent (300,000.00 at 0.0397%: 9.925) into 9.92499... and rounded it down.
        interest = quantize_money(balance * rate / _MONTHS_PER_YEAR)
        this_part = balance if sequence == tenor else part
        rows.append((this_part, interest))
        balance -= this_part
    return rows


def _equal_installment_parts(principal: Decimal, tenor: int, rate: Decimal) -> list[tuple[Decimal, Decimal]]:
    """等额本息 with the textbook payment, falling back one cent when rounding overshoots.

    Rounding the payment up can, for small principals over long tenors, repay the balance
    before the last period (which would make the last principal negative). One cent less is
    always enough: the payment is then at least half a cent below the exact annuity, more than
    any single interest rounding can give back, so the balance stays above the exact
    amortisation curve and therefore positive; and because the balance can only drop if the
    rounded payment exceeded the first period's rounded interest, the lowered payment still
    covers every period's interest, so no principal part goes negative either.
    """
    monthly = rate / _MONTHS_PER_YEAR
    if monthly == 0:
        payment = quantize_money(principal / tenor)
    else:
        growth = (_ONE + monthly) ** tenor
        payment = quantize_money(principal * monthly * growth / (growth - _ONE))

    for candidate in (payment, payment - MONEY_QUANTUM):
        rows = _amortize(principal, tenor, monthly, candidate)
        if rows is not None:
            return rows
    raise AssertionError("unreachable: one-cent fallback always amortizes")  # pragma: no cover


def _amortize(
    principal: Decimal, tenor: int, monthly: Decimal, payment: Decimal
) -> list[tuple[Decimal, Decimal]] | None:
    """Rows for a fixed payment, or None if the payment would make some principal part < 0."""
    rows: list[tuple[Decimal, Decimal]] = []
    balance = principal
    for sequence in range(1, tenor + 1):
        interest = quantize_money(balance * monthly)
        part = balance if sequence == tenor else payment - interest
        if part < 0 or part > balance:
            return None
        rows.append((part, interest))
        balance -= part
    return rows


_BUILDERS: dict[FeeMethod, _Builder] = {
    FeeMethod.FLAT_FEE: _flat_fee_parts,
    FeeMethod.EQUAL_INSTALLMENT: _equal_installment_parts,
    FeeMethod.EQUAL_PRINCIPAL: _equal_principal_parts,
}


def _parse_fee_method(fee_method: FeeMethod | str) -> FeeMethod:
    try:
        return FeeMethod(fee_method)
    except ValueError as exc:
        raise ScheduleError(f"unknown fee method: {fee_method!r}") from exc


def _validate_principal(principal: Decimal) -> None:
    # Floats are refused outright rather than converted: by the time a float arrives here the
    # binary rounding error is already baked in.
    if not isinstance(principal, Decimal) or not principal.is_finite():
        raise ScheduleError(f"principal must be a finite Decimal, got {principal!r}")
    if principal <= 0:
        raise ScheduleError(f"principal must be positive, got {principal}")
    try:
        representable = quantize_money(principal) == principal
    except InvalidOperation:  # more digits than the working precision
        representable = False
    if not representable:
        raise ScheduleError(f"principal must be a whole number of cents, got {principal}")


def _validate_tenor(tenor: int) -> None:
    if not isinstance(tenor, int) or isinstance(tenor, bool) or tenor < 1:
        raise ScheduleError(f"tenor must be an integer >= 1, got {tenor!r}")


def _validate_rate(rate: Decimal) -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise ScheduleError(f"rate must be a finite Decimal, got {rate!r}")
    if rate < 0:
        raise ScheduleError(f"rate must be >= 0, got {rate}")


def _validate_irr_input(principal: Decimal, payments: Sequence[Decimal]) -> None:
    if not isinstance(principal, Decimal) or not principal.is_finite() or principal <= 0:
        raise ScheduleError(f"principal must be a positive finite Decimal, got {principal!r}")
    if not payments:
        raise ScheduleError("at least one payment is required")
    for payment in payments:
        if not isinstance(payment, Decimal) or not payment.is_finite() or payment < 0:
            raise ScheduleError(f"payments must be finite Decimals >= 0, got {payment!r}")
    if sum(payments, ZERO) < principal:
        raise ScheduleError("payments sum to less than the principal (negative rate)")

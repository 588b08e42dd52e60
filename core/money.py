"""Money in one place: the rounding rule (``quantize_money``, ``ZERO``) and the one spelling of an amount
a request may use, for every surface (API, web forms, admin). No Django import: the schedule and allocation
math stand on this module alone.

Yuan as ASCII digits, at most 12 before the point and 2 after it: ``^\\d{1,12}(\\.\\d{1,2})?$``.
``Decimal(str)`` (and Django's ``DecimalField``) would also take ``"1_000"``, ``"1e3"``, ``"+1.00"``,
``" 1.00 "``, Arabic-Indic or full-width digits, and ``"1e30"`` (which then breaks ``quantize``): none of
them is refused by a range check, so the spelling itself is the rule. Surrounding whitespace is refused
too, not stripped: a browser's number box never sends it, and an API client that does has a bug.

``parse_money`` (``core.money_input``, what services call) and the API's ``MoneyField`` use
:data:`MONEY_PATTERN`; forms use ``AsciiDecimalField`` (``core.money_input``), which builds the same rule
from its ``max_digits``/``decimal_places`` (money: 14/2), and every model ``DecimalField`` hands it to
model forms.
"""

from __future__ import annotations

import re
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

MONEY_INTEGER_DIGITS = 12
MONEY_DECIMAL_PLACES = 2
MONEY_REGEX = r"^\d{1,12}(\.\d{1,2})?$"  # as published in the OpenAPI schema


def decimal_pattern(integer_digits: int, decimal_places: int) -> re.Pattern[str]:
    """ASCII digits only (``re.ASCII``: no "٣", no "１００"); use ``fullmatch`` (no trailing newline)."""
    fraction = rf"(?:\.\d{{1,{decimal_places}}})?" if decimal_places else ""
    return re.compile(rf"\d{{1,{integer_digits}}}{fraction}", re.ASCII)


MONEY_PATTERN = decimal_pattern(MONEY_INTEGER_DIGITS, MONEY_DECIMAL_PLACES)


def is_money_text(value: object) -> bool:
    return isinstance(value, str) and MONEY_PATTERN.fullmatch(value) is not None


MONEY_LIMIT = Decimal(10) ** MONEY_INTEGER_DIGITS


def fits_cents(amount: Decimal) -> bool:
    """Finite, with at most two decimal places (``Decimal("1.000")`` has three). Never compares NaN or
    Infinity, whose exponent is a letter."""
    exponent = amount.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -MONEY_DECIMAL_PLACES


ZERO = Decimal("0.00")
MONEY_QUANTUM = Decimal("0.01")

# Intermediate math runs at 34 significant digits (IEEE decimal128) regardless of whatever context the
# calling thread has configured, so results never depend on the caller. Invalid operations trap instead of
# silently producing NaN.
MONEY_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def quantize_money(value: Decimal) -> Decimal:
    """Round to cents, half up: the single rounding rule for every amount we produce."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)


def format_yuan(value: object) -> str:
    """``¥1,234.56`` (``-¥5.00`` below zero): the one spelling of an amount on a page or an admin screen.
    Not a Decimal (None, "") gives "": callers show their own dash for "no amount"."""
    if value is None or value == "":
        return ""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        rounded = quantize_money(abs(amount))
    except (InvalidOperation, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{rounded:,.2f}"

"""Card numbers for tests: Luhn-valid, with the BINs of the banks the card service knows."""

from __future__ import annotations


def luhn_complete(prefix: str, length: int = 16) -> str:
    """A Luhn-valid card number starting with ``prefix``."""
    body = prefix.ljust(length - 1, "0")
    for check in "0123456789":
        candidate = body + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


ICBC_DEBIT = luhn_complete("622202000000123")
CMB_DEBIT = luhn_complete("622588000000456")
ICBC_CREDIT = luhn_complete("625330000000789")

"""The simulated bank's rules, shared by both simulated banks: the in-process one (``simulators.bank``,
books in our database) and the bank service (``simulators.bank_service``, a separate process with its own
SQLite file). Plain Python, no Django: the service imports it without our settings or models.

Statuses are the plain strings of ``repayments.gateway.ChargeStatus``, so neither side needs the other's
types to agree on what a charge did.
"""

from __future__ import annotations

from decimal import Decimal

SUCCEEDED = "succeeded"
INSUFFICIENT_FUNDS = "insufficient_funds"
DECLINED = "declined"
FAILED = "failed"

# Magic card numbers (ICBC debit BIN 622202, Luhn-valid); simulators/bank.py's docstring says what each does.
MAGIC_BEHAVIOURS: dict[str, str] = {
    "6222020000000007": "decline",
    "6222020000000015": "insufficient",
    "6222020000000023": "soft_fail",
    "6222020000000031": "timeout",
}
UNSUPPORTED_CARDS: frozenset[str] = frozenset({"6222020000000049"})

# A replay rebuilds its result from the stored row, so the message depends on the status alone: the first
# answer and every later one are equal.
MESSAGES: dict[str, str] = {
    SUCCEEDED: "",
    INSUFFICIENT_FUNDS: "Insufficient balance on the card.",
    DECLINED: "The card was declined by the issuing bank.",
    FAILED: "The bank's system is busy; try again later.",
}


def decide(
    *,
    found: bool,
    closed: bool,
    behaviour: str,
    balance: Decimal | int,
    amount: Decimal | int,
    soft_failure: bool,
) -> str:
    """What the bank does with one charge of ``amount`` on an account (``found=False``: an unknown token).
    ``balance`` and ``amount`` are in one unit: yuan as ``Decimal`` (in-process bank) or fen (the service)."""
    # Hard reasons first: a dead card is dead however busy the bank is.
    if not found or closed or behaviour == "decline":
        return DECLINED
    if behaviour == "insufficient":
        return INSUFFICIENT_FUNDS
    if behaviour == "soft_fail" or soft_failure:
        return FAILED
    if balance < amount:
        return INSUFFICIENT_FUNDS
    return SUCCEEDED

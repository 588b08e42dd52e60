"""The simulated bank's rules, shared by both simulated banks: the in-process one (``simulators.bank``,
books in our database) and the bank service (``simulators.bank_service``, a separate process with its own
SQLite file). Plain Python, no Django: the service imports it without our settings or models.

Statuses are the plain strings of ``repayments.gateway.ChargeStatus``, so neither side needs the other's
types to agree on what a charge did.
"""

from __future__ import annotations

import csv
import io
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


# --- the daily settlement file ----------------------------------------------------------------------

# The bank's business day is its local day: a file covers the charges and refunds recorded from 00:00 to
# 24:00 in this time zone.
BANK_TIME_ZONE = "Asia/Shanghai"
SETTLEMENT_COLUMNS = ("reference", "idempotency_key", "amount", "fee", "status", "time")
REFUND = "refund"


def settlement_fee_fen(amount_fen: int, status: str) -> int:
    """The bank's fee on one settled line, in fen: 0.1% of a charge, rounded half up to a fen, at least
    one fen. A refund costs nothing (the fee of the charge it gives back is kept)."""
    if status == REFUND:
        return 0
    return max(1, (amount_fen + 500) // 1000)


def fen_amount_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def settlement_csv(lines: list[tuple[str, str, int, str, str]]) -> str:
    """The settlement file: a header and one line per ``(reference, key, amount_fen, status, time)``, in
    the given order; the fee is computed here, so both simulated banks charge the same."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SETTLEMENT_COLUMNS)
    for reference, key, amount_fen, status, time in lines:
        writer.writerow(
            (
                reference,
                key,
                fen_amount_text(amount_fen),
                fen_amount_text(settlement_fee_fen(amount_fen, status)),
                status,
                time,
            )
        )
    return out.getvalue()

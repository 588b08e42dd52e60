"""The bank-card gateway contract: what a real acquirer integration is written against.

Everything else in the product talks to a bank only through ``PaymentGateway`` (``get_gateway()``), so a
real acquirer replaces the simulated one (``simulators.bank.SimulatedGateway``) with one setting:
``PAYMENT_GATEWAY``, a dotted path to the class (or the alias ``simulated``; config/providers.py), built
with no arguments. The contract follows what acquirers do:

- ``tokenize_card`` sees the card number once and answers with a token; the number is never kept. The
  same number tokenized twice gets a new token but the same ``fingerprint`` (``card_fingerprint``).
- ``charge`` is idempotent by its key: a key already seen returns the first result and never charges
  twice; the same key with another token or amount is an error, because it is a caller bug. Amounts
  are positive ``Decimal`` yuan with at most two decimals.
- Outcomes: ``succeeded``, ``insufficient_funds``, ``declined`` (hard: closed, expired, stolen; do not
  retry) and ``failed`` (soft: retry later). ``GatewayTimeout`` means the outcome is *unknown*: the
  charge may have happened, and the caller asks ``get_charge`` with the same key later. ``None`` from
  ``get_charge`` means the gateway never saw the key, so nothing was charged.
- ``refund`` gives back part or all of a succeeded charge, idempotent by its own key.
- Optional (``BatchCharging``): ``charge_batch`` sends many charges in one request (批量代扣), each with
  its own key and the same rules as ``charge``, and answers per item in order: a ``ChargeResult``, a
  ``GatewayTimeout`` (that item's outcome unknown) or a ``GatewayError`` (that item refused). The whole
  batch unanswered raises ``GatewayTimeout``: every item is unknown, and each is reconciled by its key
  exactly as a single charge's timeout is. The debit engine uses it when the gateway has it.
- Optional: ``close()`` releases the client's connections (tests, worker shutdown), and
  ``succeeded_charges`` (``ChargeBook``) lists the bank's succeeded charges, which ``check_ledger``
  then compares with our repayments charge by charge; ``settlement_file`` (``SettlementSource``) hands
  over the bank's daily settlement file, which the T+1 reconciliation matches with our repayments.

A gateway's own settings are named ``GATEWAY_*``: a change of one (in tests) builds the gateway anew.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from django.conf import settings

from core.providers import built_provider, forget_provider, load_provider


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DECLINED = "declined"  # hard: the card is closed, expired or stolen; retrying cannot help
    FAILED = "failed"  # soft: the bank could not answer properly; retry later


@dataclass(frozen=True)
class CardToken:
    token: str
    fingerprint: str
    last4: str
    bank_code: str
    bank_name: str
    card_type: str  # "debit" | "credit"


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str
    amount: Decimal
    idempotency_key: str
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == ChargeStatus.SUCCEEDED

    @property
    def hard_decline(self) -> bool:
        return self.status == ChargeStatus.DECLINED

    @property
    def retryable(self) -> bool:
        return self.status == ChargeStatus.FAILED


@dataclass(frozen=True)
class RefundResult:
    reference: str  # the refunded charge
    refunded: Decimal  # what this refund gave back (not the running total: a replay must answer the same)
    refund_reference: str


class GatewayError(Exception):
    """The gateway refused or could not do something. Messages never carry a card number, so they are
    safe to log; ``code`` is stable for callers that branch on it."""

    code: str = "gateway_error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class GatewayTimeout(GatewayError):
    """The outcome is unknown: the charge may have happened. Reconcile with ``get_charge`` (same key)."""

    code = "timeout"


class CardRejected(GatewayError):
    """Tokenization refused. ``code``: ``invalid_number``, ``not_supported``, ``holder_mismatch``;
    the message may be shown to the customer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class RefundError(GatewayError):
    """A refund refused. ``code``: ``unknown_charge``, ``charge_not_succeeded``, ``exceeds_charge``,
    ``idempotency_key_reused``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class ChargeRequest:
    """One item of a batch charge: what ``charge`` takes, as a value."""

    token: str
    amount: Decimal
    idempotency_key: str


class PaymentGateway(Protocol):
    def tokenize_card(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool = False
    ) -> CardToken: ...

    def charge(self, *, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult: ...

    def get_charge(self, *, idempotency_key: str) -> ChargeResult | None: ...

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult: ...


@runtime_checkable
class BatchCharging(Protocol):
    """Optional part of a gateway that charges many cards in one request (批量代扣; module docstring)."""

    def charge_batch(self, items: Sequence[ChargeRequest]) -> list[ChargeResult | GatewayError]: ...


def card_fingerprint(number: str) -> str:
    """Identifies a card number without keeping it: keyed, so a leaked table cannot be brute-forced
    offline (card numbers have little entropy). Our card service uses it to find a card bound twice."""
    return hmac.new(settings.SECRET_KEY.encode(), b"card:" + number.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BankCharge:
    """One succeeded charge as the bank's books hold it."""

    idempotency_key: str
    reference: str
    amount: Decimal
    refunded: Decimal  # the total given back so far


@runtime_checkable
class ChargeBook(Protocol):
    """Optional part of a gateway whose books we can read whole (the simulated bank's are in our database).
    ``check_ledger`` compares them with our repayments; a gateway without it is not compared."""

    def succeeded_charges(self, *, key_prefix: str) -> Iterator[BankCharge]: ...


@dataclass(frozen=True)
class SettlementLine:
    """One line of the bank's daily settlement file: a succeeded charge, or a refund (``status``
    ``refund``), with the bank's fee on it."""

    reference: str
    idempotency_key: str
    amount: Decimal
    fee: Decimal
    status: str  # "succeeded" | "refund"
    time: datetime


SETTLEMENT_COLUMNS = ["reference", "idempotency_key", "amount", "fee", "status", "time"]


@runtime_checkable
class SettlementSource(Protocol):
    """Optional part of a gateway that delivers the bank's daily settlement file (T+1 reconciliation):
    the file exactly as the bank sent it (CSV, ``SETTLEMENT_COLUMNS``), for the day in the bank's time.
    ``parse_settlement_file`` reads it; ``repayments.services.settlement_file`` stores and matches it."""

    def settlement_file(self, day: date) -> str: ...


class SettlementFileError(GatewayError):
    code = "bad_settlement_file"


def parse_settlement_file(text: str) -> list[SettlementLine]:
    """The lines of a settlement file. A file whose header or any line is not as agreed is refused whole:
    reconciling half a file would report its missing half as breaks."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != SETTLEMENT_COLUMNS:
        raise SettlementFileError(f"unexpected settlement file header: {rows[:1]!r}")
    lines = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            reference, key, amount, fee, status, time = row
            lines.append(
                SettlementLine(
                    reference=reference,
                    idempotency_key=key,
                    amount=Decimal(amount),
                    fee=Decimal(fee),
                    status=status,
                    time=datetime.fromisoformat(time),
                )
            )
        except (ValueError, ArithmeticError) as exc:
            raise SettlementFileError(f"settlement file line {number} is malformed: {exc}") from None
    return lines


# --- choosing the gateway --------------------------------------------------------------------------

_METHODS = ("tokenize_card", "charge", "get_charge", "refund")


def get_gateway() -> PaymentGateway:
    """The configured gateway, built once per configuration (``core.providers``): a seeded simulator draws
    one sequence across calls, and a real client keeps its connection pool."""
    return load_provider("PAYMENT_GATEWAY", default="simulated", methods=_METHODS, reads=("GATEWAY_",))


def reset_gateway_cache() -> None:
    """Forget the built gateway, so the next ``get_gateway()`` builds a new one (a fresh seed)."""
    forget_provider("PAYMENT_GATEWAY")


def close_gateway_connections() -> None:
    """Let the built gateway close its connections, if it keeps any (tests, before the test database is
    dropped; worker shutdown); they reopen on its next call."""
    close = getattr(built_provider("PAYMENT_GATEWAY"), "close", None)
    if callable(close):
        close()

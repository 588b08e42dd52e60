"""The bank service's books: card accounts, charges and refunds in its own SQLite file.

Never our tables, never our database: the service stands in for another company. Amounts are kept as
integer fen, so no float or SQLite decimal rounding can touch them. Every write is one ``BEGIN IMMEDIATE``
transaction (SQLite's writer lock, taken at the start), so two requests with the same key, or two
charges on one card, are serialised by the database itself, also across processes; WAL lets readers go
on meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from repayments.banks import bank_for, luhn_valid
from simulators import bank_rules

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    token TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    last4 TEXT NOT NULL,
    bank_code TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    card_type TEXT NOT NULL,
    behaviour TEXT NOT NULL,
    balance_fen INTEGER NOT NULL CHECK (balance_fen >= 0),
    closed INTEGER NOT NULL DEFAULT 0,
    single_use INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_fingerprint ON accounts (fingerprint);
CREATE TABLE IF NOT EXISTS charges (
    idempotency_key TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL,
    refunded_fen INTEGER NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    request_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    idempotency_key TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    charge_reference TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
"""

_TOKEN_FORMAT = re.compile(r"tok_[0-9a-f]{24}")


class Refused(Exception):
    """A request the bank answers with an error: ``code`` is stable, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Charged:
    result: dict[str, Any]
    first_time: bool  # False: a replay of the key, nothing charged again
    behaviour: str  # the card's magic behaviour ("normal" for most)


class ChargeItem(NamedTuple):
    """One charge of a batch, as ``Books.charge`` takes it."""

    key: str
    token: str
    amount_fen: int
    soft_failure: bool


_EVENT_FIELDS = ("idempotency_key", "reference", "amount", "status")


def fen_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _charge_result(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "idempotency_key": row["idempotency_key"],
        "reference": row["reference"],
        "amount": fen_text(row["amount_fen"]),
        "status": row["status"],
        "message": bank_rules.MESSAGES[row["status"]],
        "refunded": fen_text(row["refunded_fen"]),
        "created_at": row["created_at"],
    }


class Books:
    def __init__(self, path: str | Path, *, fingerprint_key: bytes, outbox: bool = False) -> None:
        self.path = Path(path)
        self.outbox = outbox  # webhooks configured: every charge and refund result also goes to the outbox
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fingerprint_key = fingerprint_key
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # One connection per request: cheap for SQLite, and no connection is ever shared by two threads.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- cards ----------------------------------------------------------------------------------------

    def tokenize(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool, balance_fen: int
    ) -> dict[str, Any]:
        number = "".join(number.split())
        if not luhn_valid(number):
            raise Refused("invalid_number", "The card number is not valid.")
        if number in bank_rules.UNSUPPORTED_CARDS:
            raise Refused("not_supported", "This card type (prepaid) is not supported.")
        if not holder_name.strip() or not reserved_phone.strip():
            raise Refused(
                "holder_mismatch", "The bank could not verify the card holder's name and reserved phone."
            )
        bank = bank_for(number)
        account = {
            "token": f"tok_{secrets.token_hex(12)}",
            "fingerprint": hmac.new(
                self._fingerprint_key, b"card:" + number.encode(), hashlib.sha256
            ).hexdigest(),
            "last4": number[-4:],
            "bank_code": bank.code,
            "bank_name": bank.name,
            "card_type": bank.card_type,
        }
        with self._write() as conn:
            conn.execute(
                "INSERT INTO accounts (token, fingerprint, last4, bank_code, bank_name, card_type, behaviour,"
                " balance_fen, single_use, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *account.values(),
                    bank_rules.MAGIC_BEHAVIOURS.get(number, "normal"),
                    balance_fen,
                    int(single_use),
                    _now(),
                ),
            )
        return account

    def set_balance(self, token_or_fingerprint: str, balance_fen: int) -> int:
        with self._write() as conn:
            return conn.execute(
                "UPDATE accounts SET balance_fen = ? WHERE token = ? OR fingerprint = ?",
                (balance_fen, token_or_fingerprint, token_or_fingerprint),
            ).rowcount

    def balance(self, token: str) -> int | None:
        with self._connection() as conn:
            row = conn.execute("SELECT balance_fen FROM accounts WHERE token = ?", (token,)).fetchone()
        return None if row is None else int(row[0])

    def close_card(self, token: str) -> bool:
        with self._write() as conn:
            return conn.execute("UPDATE accounts SET closed = 1 WHERE token = ?", (token,)).rowcount > 0

    # -- charges --------------------------------------------------------------------------------------

    def charge(self, *, key: str, token: str, amount_fen: int, soft_failure: bool) -> Charged:
        """Charge once per key: a key seen before answers with its first result when the request is the
        same (token and amount) and is refused (409) when it is not."""
        with self._write() as conn:
            return self._charge_on(
                conn, key=key, token=token, amount_fen=amount_fen, soft_failure=soft_failure
            )

    def charge_batch(self, items: list[ChargeItem]) -> list[Charged | Refused]:
        """The charges of one batch request (批量代扣), each as ``charge`` does it, in one transaction: one
        commit for the batch instead of one per charge. An item refused (its key reused) changes nothing
        and leaves the others alone; its ``Refused`` is its answer."""
        answers: list[Charged | Refused] = []
        with self._write() as conn:
            for item in items:
                try:
                    answers.append(self._charge_on(conn, **item._asdict()))
                except Refused as exc:  # raised before the item wrote anything
                    answers.append(exc)
        return answers

    def _charge_on(
        self, conn: sqlite3.Connection, *, key: str, token: str, amount_fen: int, soft_failure: bool
    ) -> Charged:
        request_hash = hashlib.sha256(f"{token}|{amount_fen}".encode()).hexdigest()
        seen = conn.execute("SELECT * FROM charges WHERE idempotency_key = ?", (key,)).fetchone()
        if (
            seen is None
            and conn.execute("SELECT 1 FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        ):
            raise Refused("idempotency_key_reused", "The key was used for a refund.", status=409)
        if seen is not None:
            if seen["request_hash"] != request_hash:
                raise Refused(
                    "idempotency_key_reused", "The key was used for a different request.", status=409
                )
            return Charged(_charge_result(seen), first_time=False, behaviour="normal")
        account = conn.execute("SELECT * FROM accounts WHERE token = ?", (token,)).fetchone()
        status = bank_rules.decide(
            found=account is not None,
            closed=bool(account and account["closed"]),
            behaviour=account["behaviour"] if account else "normal",
            balance=account["balance_fen"] if account else 0,
            amount=amount_fen,
            soft_failure=soft_failure,
        )
        conn.execute(
            "INSERT INTO charges (idempotency_key, reference, token, amount_fen, status, request_hash,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                f"ch_{uuid.uuid4().hex}",
                # The bank's own tokens are kept; anything else (at worst a card number) only as a hash.
                token if _TOKEN_FORMAT.fullmatch(token) else f"unknown_{request_hash[:40]}",
                amount_fen,
                status,
                request_hash,
                _now(),
            ),
        )
        if account is not None and status == bank_rules.SUCCEEDED:
            conn.execute(
                "UPDATE accounts SET balance_fen = balance_fen - ?, closed = closed OR single_use"
                " WHERE token = ?",
                (amount_fen, token),
            )
        row = conn.execute("SELECT * FROM charges WHERE idempotency_key = ?", (key,)).fetchone()
        if self.outbox:
            result = _charge_result(row)
            self._notify(conn, f"charge.{status}", {k: result[k] for k in _EVENT_FIELDS})
        return Charged(
            _charge_result(row), first_time=True, behaviour=account["behaviour"] if account else "normal"
        )

    def get_charge(self, key: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM charges WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else _charge_result(row)

    def charges(self, *, key_prefix: str, status: str | None, after: str, limit: int) -> list[dict[str, Any]]:
        """Charges whose key starts with ``key_prefix``, in key order after ``after`` (a page)."""
        query = "SELECT * FROM charges WHERE idempotency_key > ? AND substr(idempotency_key, 1, ?) = ?"
        params: list[Any] = [after, len(key_prefix), key_prefix]
        if status:
            query += " AND status = ?"
            params.append(status)
        query += " ORDER BY idempotency_key LIMIT ?"
        params.append(limit)
        with self._connection() as conn:
            return [_charge_result(row) for row in conn.execute(query, params)]

    # -- refunds --------------------------------------------------------------------------------------

    def refund(self, *, key: str, reference: str, amount_fen: int) -> dict[str, Any]:
        with self._write() as conn:
            seen = conn.execute("SELECT * FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
            if seen is not None:
                if seen["charge_reference"] != reference or seen["amount_fen"] != amount_fen:
                    raise Refused(
                        "idempotency_key_reused", "The key was used for a different request.", status=409
                    )
                return self._refund_result(seen)
            if conn.execute("SELECT 1 FROM charges WHERE idempotency_key = ?", (key,)).fetchone():
                raise Refused("idempotency_key_reused", "The key was used for a charge.", status=409)
            charge = conn.execute("SELECT * FROM charges WHERE reference = ?", (reference,)).fetchone()
            if charge is None:
                raise Refused("unknown_charge", "No charge has that reference.", status=404)
            if charge["status"] != bank_rules.SUCCEEDED:
                raise Refused("charge_not_succeeded", "Only a succeeded charge can be refunded.")
            if charge["refunded_fen"] + amount_fen > charge["amount_fen"]:
                raise Refused("exceeds_charge", "The refund is more than what is left of the charge.")
            conn.execute(
                "INSERT INTO refunds (idempotency_key, reference, charge_reference, amount_fen, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, f"rf_{uuid.uuid4().hex}", reference, amount_fen, _now()),
            )
            conn.execute(
                "UPDATE charges SET refunded_fen = refunded_fen + ? WHERE reference = ?",
                (amount_fen, reference),
            )
            conn.execute(
                "UPDATE accounts SET balance_fen = balance_fen + ? WHERE token = ?",
                (amount_fen, charge["token"]),
            )
            row = conn.execute("SELECT * FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
            if self.outbox:
                self._notify(
                    conn,
                    "refund.succeeded",
                    {
                        "idempotency_key": key,
                        "reference": reference,
                        "amount": fen_text(amount_fen),
                        "status": bank_rules.SUCCEEDED,
                        "refund_reference": row["reference"],
                    },
                )
        return self._refund_result(row)

    @staticmethod
    def _refund_result(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "reference": row["charge_reference"],
            "refunded": fen_text(row["amount_fen"]),
            "refund_reference": row["reference"],
        }

    # -- the daily settlement file --------------------------------------------------------------------

    def settlement_file(self, day: date) -> str:
        """The settlement file of ``day`` (the bank's local day, ``bank_rules.BANK_TIME_ZONE``): every
        succeeded charge and every refund recorded that day, in time order, as CSV."""
        zone = ZoneInfo(bank_rules.BANK_TIME_ZONE)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        end = start + timedelta(days=1)
        # Times are stored as UTC ISO text; the local day spans two UTC dates, filtered exactly below.
        first, last = start.astimezone(UTC).date().isoformat(), end.astimezone(UTC).date().isoformat()
        with self._connection() as conn:
            charges = conn.execute(
                "SELECT reference, idempotency_key, amount_fen, status, created_at FROM charges"
                " WHERE status = ? AND substr(created_at, 1, 10) BETWEEN ? AND ?",
                (bank_rules.SUCCEEDED, first, last),
            ).fetchall()
            refunds = conn.execute(
                "SELECT reference, idempotency_key, amount_fen, ? AS status, created_at FROM refunds"
                " WHERE substr(created_at, 1, 10) BETWEEN ? AND ?",
                (bank_rules.REFUND, first, last),
            ).fetchall()
        lines = []
        for row in [*charges, *refunds]:
            at = datetime.fromisoformat(row["created_at"])
            if start <= at < end:
                lines.append((at, row))
        lines.sort(key=lambda item: (item[0], item[1]["reference"]))
        return bank_rules.settlement_csv(
            [
                (
                    row["reference"],
                    row["idempotency_key"],
                    row["amount_fen"],
                    row["status"],
                    at.astimezone(zone).isoformat(),
                )
                for at, row in lines
            ]
        )

    # -- the webhook outbox ---------------------------------------------------------------------------
    # An event is written in the same transaction as the result it tells of, so a result is never
    # without its notification (nor the reverse); the sender (webhooks.py) delivers it at least once.

    @staticmethod
    def _notify(conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> None:
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = json.dumps({"id": event_id, "type": kind, **data}, separators=(",", ":"))
        conn.execute("INSERT INTO outbox (event_id, payload) VALUES (?, ?)", (event_id, payload))

    def outbox_due(self, *, limit: int = 100) -> list[tuple[int, str, int, bool]]:
        """Undelivered events whose next attempt is due, oldest first: ``(id, payload, attempts, held)``."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, payload, attempts, held FROM outbox WHERE delivered_at IS NULL"
                " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        return [(row[0], row[1], row[2], bool(row[3])) for row in rows]

    def outbox_delivered(self, event: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE outbox SET delivered_at = ? WHERE id = ?", (_now(), event))

    def outbox_later(self, event: int, *, at: float, attempted: bool) -> None:
        """Try ``event`` again at ``at``: after a failed attempt, or held back once (the reorder fault)."""
        column = "attempts = attempts + 1" if attempted else "held = 1"
        with self._write() as conn:
            conn.execute(f"UPDATE outbox SET next_attempt_at = ?, {column} WHERE id = ?", (at, event))  # noqa: S608

    def outbox_pending(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0])

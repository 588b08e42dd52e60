"""The bank service's HTTP/JSON API, a plain WSGI application (no Django, no ORM of ours).

Every request is signed by the client: ``X-Timestamp`` (unix seconds) and ``X-Signature``, the hex
HMAC-SHA256 with the shared secret over ``f"{timestamp}\\n{METHOD}\\n{path_and_query}\\n".encode() + body``.
A missing, wrong or stale (outside the window) signature is 401, before anything else is looked at.

=================================  ==================================================================
``POST /v1/cards/tokenize``         ``{number, holder_name, reserved_phone, single_use}`` -> the token
``POST /v1/charges``                ``Idempotency-Key`` header, ``{token, amount}`` -> the charge; the same
                                    key and body answer the first result, another body is 409
``GET /v1/charges/{key}``           the charge with that key; 404 when the bank never saw it
``GET /v1/charges?key_prefix=``     a page of charges (``status``, ``after``, ``limit``): the bank's books
``POST /v1/charges/batch``          ``{items: [{idempotency_key, token, amount}]}`` -> ``{results: [...]}``,
                                    one per item, in order: a charge, or ``{idempotency_key, error}``
``POST /v1/refunds``                ``Idempotency-Key`` header, ``{reference, amount}`` -> the refund
``POST /v1/admin/balance``          ``{token_or_fingerprint, amount}``: fund a card (tests, demos)
``GET /v1/admin/balance/{token}``   a card's balance
``POST /v1/admin/close``            ``{token}``: close a card (every later charge is declined)
``GET /v1/settlements/{date}``     the settlement file of that day (Asia/Shanghai) as CSV: every
                                    succeeded charge and refund, with the bank's fee
``POST /v1/admin/faults``           ``{latency_ms, failure_rate, timeout_rate, timeout_seconds,
                                    lost_rate, seed}``: change the injected faults; answers them all
``POST /v1/admin/webhook-faults``   ``{duplicate_rate, reorder_rate, reorder_seconds, drop_rate}``: the
                                    webhook sender's faults (webhooks.py); 404 when webhooks are off
``GET /v1/admin/webhooks``          ``{pending}``: events not yet delivered
=================================  ==================================================================

Amounts are JSON strings of yuan with at most two decimals (``"106.00"``). Faults, drawn per charge:
``latency_ms`` before anything; ``failure_rate`` soft failures (status ``failed``); ``timeout_rate``
charges recorded and then answered only after ``timeout_seconds`` (longer than the client waits);
``lost_rate`` charges recorded and then the connection closed with no answer ("charged but the answer
was lost"). The magic timeout card (6222020000000031) loses its first answer every time. Only a first
charge of a key is ever delayed or lost: a repeat of the key is how a caller recovers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from simulators.bank_service.books import Books, ChargeItem, Refused, fen_text
from simulators.bank_service.webhooks import WebhookFaults, WebhookSender

MAX_FEN = 99_999_999_999_999  # 999,999,999,999.99: the in-process bank's largest amount too
MAX_KEY_LENGTH = 100
MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH_ITEMS = 1000

StartResponse = Any  # wsgiref's type is not public


class AnswerLost(Exception):
    """Raised after a charge is recorded to close the connection without an answer (the server does)."""


@dataclass(frozen=True)
class CsvBody:
    """An answer sent as CSV rather than JSON (the settlement file)."""

    text: str


@dataclass
class Faults:
    latency_ms: float = 0.0
    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    lost_rate: float = 0.0
    seed: int | None = None


class BankApp:
    """The WSGI application. One instance serves every thread of the server."""

    def __init__(
        self,
        books: Books,
        *,
        secret: str,
        window_seconds: int = 300,
        default_balance_fen: int = 1_000_000,
        faults: Faults | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the bank service needs a shared secret (BANK_API_SECRET)")
        self.books = books
        self._secret = secret.encode()
        self.window_seconds = window_seconds
        self.default_balance_fen = default_balance_fen
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)  # noqa: S311 - fault draws, not security
        self._lock = threading.Lock()
        self.webhooks: WebhookSender | None = None  # set by __main__ when a webhook URL is configured

    # -- WSGI ---------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            status, payload = self._handle(environ)
        except Refused as exc:
            status, payload = exc.status, {"error": exc.code, "message": str(exc)}
        if isinstance(payload, CsvBody):
            body, content_type = payload.text.encode(), "text/csv; charset=utf-8"
        else:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            content_type = "application/json"
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _handle(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY_BYTES:
            raise Refused("too_large", "The request body is too large.", status=413)
        body = environ["wsgi.input"].read(length) if length else b""
        raw_path = environ.get("RAW_URI") or environ["PATH_INFO"]
        self._verify(environ, method, raw_path, body)
        # PEP 3333: PATH_INFO is bytes decoded as latin-1; keys are UTF-8.
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        query = {name: values[-1] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        data = _json(body) if method == "POST" else {}
        key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
        if method == "POST" and path == "/v1/cards/tokenize":
            return 200, self.books.tokenize(
                number=_text(data, "number"),
                holder_name=_text(data, "holder_name"),
                reserved_phone=_text(data, "reserved_phone"),
                single_use=bool(data.get("single_use", False)),
                balance_fen=self.default_balance_fen,
            )
        if method == "POST" and path == "/v1/charges":
            return 200, self._single(_key(key), data)
        if method == "POST" and path == "/v1/charges/batch":
            return 200, self._batch(data)
        if method == "GET" and path == "/v1/charges":
            limit = min(int(query.get("limit", "1000") or 1000), 1000)
            charges = self.books.charges(
                key_prefix=query.get("key_prefix", ""),
                status=query.get("status"),
                after=query.get("after", ""),
                limit=limit,
            )
            return 200, {
                "charges": charges,
                "next": charges[-1]["idempotency_key"] if len(charges) == limit else None,
            }
        if method == "GET" and path.startswith("/v1/charges/"):
            found = self.books.get_charge(path.removeprefix("/v1/charges/"))
            if found is None:
                raise Refused("unknown_charge", "The bank never saw a charge with this key.", status=404)
            return 200, found
        if method == "POST" and path == "/v1/refunds":
            return 200, self.books.refund(
                key=_key(key), reference=_text(data, "reference"), amount_fen=_fen(data.get("amount"))
            )
        if path.startswith("/v1/admin/webhook"):
            return self._webhook_admin(method, path.removeprefix("/v1/admin/"), data)
        if path.startswith("/v1/admin/"):
            return self._admin(method, path.removeprefix("/v1/admin/"), data)
        if method == "GET" and path.startswith("/v1/settlements/"):
            return self._settlement(path.removeprefix("/v1/settlements/"))
        raise Refused("not_found", "No such endpoint.", status=404)

    # -- the daily settlement file (issue 17, T+1 reconciliation) ----------------------------------------

    def _settlement(self, day_text: str) -> tuple[int, Any]:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise Refused("bad_request", "A settlement date is YYYY-MM-DD.", status=400) from None
        return 200, CsvBody(self.books.settlement_file(day))

    # -- signatures -----------------------------------------------------------------------------------

    def _verify(self, environ: dict[str, Any], method: str, raw_path: str, body: bytes) -> None:
        timestamp = environ.get("HTTP_X_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SIGNATURE", "")
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            raise Refused("bad_signature", "X-Timestamp is missing or not a number.", status=401) from None
        expected = hmac.new(
            self._secret, f"{timestamp}\n{method}\n{raw_path}\n".encode() + body, hashlib.sha256
        ).hexdigest()
        # Compared in constant time, and before the age, so a wrong secret never learns anything else.
        if not hmac.compare_digest(expected, signature):
            raise Refused("bad_signature", "The request signature does not match.", status=401)
        if age > self.window_seconds:
            raise Refused("stale_request", "X-Timestamp is outside the accepted window.", status=401)

    # -- charges --------------------------------------------------------------------------------------

    def _draws(self) -> tuple[float, float, float]:
        with self._lock:
            return self._random.random(), self._random.random(), self._random.random()

    def _charge(self, key: str, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """One charge with its faults drawn. Returns the result and whether its answer is to be late
        (a first charge of the key drawn for ``timeout_rate``); raises ``AnswerLost`` to lose it."""
        soft, timeout, lost = self._draws()
        charged = self.books.charge(
            key=key,
            token=_text(data, "token"),
            amount_fen=_fen(data.get("amount")),
            soft_failure=soft < self.faults.failure_rate,
        )
        if charged.first_time and (charged.behaviour == "timeout" or lost < self.faults.lost_rate):
            raise AnswerLost(key)
        return charged.result, charged.first_time and timeout < self.faults.timeout_rate

    def _single(self, key: str, data: dict[str, Any]) -> dict[str, Any]:
        self._wait()
        result, late = self._charge(key, data)
        if late:
            time.sleep(self.faults.timeout_seconds)
        return result

    def _wait(self) -> None:
        if self.faults.latency_ms > 0:
            time.sleep(self.faults.latency_ms / 1000)

    def _batch(self, data: dict[str, Any]) -> dict[str, Any]:
        """Every item charged on its own (one item's refusal leaves the others alone), in one transaction
        of the books. The latency is the request's; a timeout drawn for any item delays the whole answer
        once; an item whose answer is lost (drawn, or the magic timeout card) is recorded and answered as
        ``{"error": "timeout"}`` while the others answer."""
        items = data.get("items")
        if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH_ITEMS:
            raise Refused("bad_request", f"items is a list of 1 to {MAX_BATCH_ITEMS} charges.", status=400)
        self._wait()
        answers: list[dict[str, Any] | None] = []
        valid: list[tuple[int, ChargeItem, float, float]] = []
        for item in items:
            item_key = item.get("idempotency_key") if isinstance(item, dict) else None
            try:
                if not isinstance(item, dict):
                    raise Refused("bad_request", "An item is an object.", status=400)
                key = _key(item_key)
                soft, timeout, lost = self._draws()  # drawn as a single charge draws them
                charge = ChargeItem(
                    key=key,
                    token=_text(item, "token"),
                    amount_fen=_fen(item.get("amount")),
                    soft_failure=soft < self.faults.failure_rate,
                )
            except Refused as exc:
                answers.append({"idempotency_key": item_key, "error": exc.code, "message": str(exc)})
                continue
            valid.append((len(answers), charge, timeout, lost))
            answers.append(None)
        charged = self.books.charge_batch([charge for _, charge, _, _ in valid])
        late = False
        for (at, charge, timeout, lost), done in zip(valid, charged, strict=True):
            if isinstance(done, Refused):
                answers[at] = {"idempotency_key": charge.key, "error": done.code, "message": str(done)}
            elif done.first_time and (done.behaviour == "timeout" or lost < self.faults.lost_rate):
                # Charged, answer lost: the others still answer; this one is unknown to the caller.
                answers[at] = {"idempotency_key": charge.key, "error": "timeout", "message": "No answer."}
            else:
                answers[at] = done.result
                late = late or (done.first_time and timeout < self.faults.timeout_rate)
        if late:
            time.sleep(self.faults.timeout_seconds)
        return {"results": answers}

    # -- the back office ------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        if method == "POST" and path == "balance":
            changed = self.books.set_balance(
                _text(data, "token_or_fingerprint"), _fen(data.get("amount"), zero=True)
            )
            return 200, {"changed": changed}
        if method == "GET" and path.startswith("balance/"):
            balance = self.books.balance(path.removeprefix("balance/"))
            if balance is None:
                raise Refused("unknown_card", "No card has that token.", status=404)
            return 200, {"balance": fen_text(balance)}
        if method == "POST" and path == "close":
            return 200, {"closed": self.books.close_card(_text(data, "token"))}
        if method == "POST" and path == "faults":
            names = {f.name for f in fields(Faults)}
            unknown = set(data) - names
            if unknown:
                raise Refused("bad_request", f"Unknown faults: {', '.join(sorted(unknown))}.", status=400)
            try:
                given: dict[str, Any] = {
                    name: None if name == "seed" and value is None else float(value)
                    for name, value in data.items()
                }
            except (TypeError, ValueError):
                raise Refused("bad_request", "Faults are numbers (a seed may be null).", status=400) from None
            merged = {**asdict(self.faults), **given}
            merged["seed"] = None if merged["seed"] is None else int(merged["seed"])
            self.faults = Faults(**merged)
            if "seed" in given:
                with self._lock:
                    self._random = random.Random(self.faults.seed)  # noqa: S311
            return 200, asdict(self.faults)
        raise Refused("not_found", "No such endpoint.", status=404)

    # -- webhooks (result notifications): the back office of the sender ------------------------------

    def _webhook_admin(self, method: str, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        """``POST /v1/admin/webhook-faults`` (``duplicate_rate``, ``reorder_rate``, ``reorder_seconds``,
        ``drop_rate``): change the sender's faults, answers them all; ``GET /v1/admin/webhooks``: how many
        events are still undelivered."""
        if self.webhooks is None:
            raise Refused("webhooks_off", "No webhook URL is configured.", status=404)
        if method == "GET" and path == "webhooks":
            return 200, {"pending": self.books.outbox_pending()}
        if method == "POST" and path == "webhook-faults":
            names = {f.name for f in fields(WebhookFaults)}
            unknown = ", ".join(sorted(set(data) - names))
            if unknown:
                raise Refused("bad_request", f"Unknown faults: {unknown}.", status=400)
            try:
                given = {name: float(value) for name, value in data.items()}
            except (TypeError, ValueError):
                raise Refused("bad_request", "Faults are numbers.", status=400) from None
            self.webhooks.faults = WebhookFaults(**{**asdict(self.webhooks.faults), **given})
            return 200, asdict(self.webhooks.faults)
        raise Refused("not_found", "No such endpoint.", status=404)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Refused("bad_request", "The body is not JSON.", status=400) from None
    if not isinstance(data, dict):
        raise Refused("bad_request", "The body is a JSON object.", status=400)
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise Refused("bad_request", f"{name} is a string.", status=400)
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_KEY_LENGTH:
        raise Refused(
            "bad_request",
            f"An idempotency key is a non-empty string of at most {MAX_KEY_LENGTH} characters.",
            status=400,
        )
    return value


def _fen(value: object, *, zero: bool = False) -> int:
    """An amount as the bank takes it: a string of yuan with at most two decimals, more than 0 (at least 0
    for a balance)."""
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount % Decimal("0.01") != 0:
        raise Refused("bad_amount", "An amount is a string of yuan with at most two decimals.", status=400)
    fen = int(amount * 100)
    if fen < 0 or (fen == 0 and not zero) or fen > MAX_FEN:
        raise Refused("bad_amount", "The amount is out of range.", status=400)
    return fen

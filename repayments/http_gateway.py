"""``HttpGateway``: the bank over HTTP/JSON, written as an integration with a real acquirer is.

Chosen with ``PAYMENT_GATEWAY=http`` (config/providers.py). It speaks to the simulated bank service
(``python -m simulators.bank_service``) out of the box; an acquirer with another API gets its own class
implementing ``repayments.gateway.PaymentGateway`` in the same shape.

The wire contract:

- Every request is signed: ``X-Timestamp`` (unix seconds) and ``X-Signature``, the hex HMAC-SHA256 with
  ``GATEWAY_HTTP_SECRET`` over ``f"{timestamp}\\n{METHOD}\\n{path_and_query}\\n".encode() + body``, the
  path exactly as sent. The bank refuses a wrong or stale signature with 401.
- ``POST /v1/charges`` and ``POST /v1/refunds`` carry ``Idempotency-Key``; a key reused with another
  body is 409 (``idempotency_key_reused``). ``GET /v1/charges/{key}`` is 404 for a key never seen.
  ``POST /v1/charges/batch`` (批量代扣) carries each item's key in the item and answers per item.
- Amounts are strings of yuan with two decimals; JSON errors are ``{"error": code, "message": text}``.

One ``httpx.Client`` per process (a connection pool with keep-alive, shared by the debit engine's
threads; a forked child builds its own), with ``GATEWAY_HTTP_CONNECT_TIMEOUT`` and
``GATEWAY_HTTP_READ_TIMEOUT``. What is retried:

- A request that never reached the bank (connection refused, connect timeout, no free pooled
  connection): up to ``GATEWAY_HTTP_RETRIES`` more times, for every call, since nothing was sent.
- A status read (``get_charge``) and the books listing also on a read timeout, a dropped connection and
  5xx: reads change nothing.
- A charge whose request was sent but not answered (read timeout, connection closed, 5xx) is **never**
  retried here: it is ``GatewayTimeout``, an unknown outcome, and the caller's reconciliation asks
  ``get_charge`` with the same key later. A refund likewise (its caller retries by key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from repayments.gateway import (
    BankCharge,
    CardRejected,
    CardToken,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    RefundError,
    RefundResult,
)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")
MAX_KEY_LENGTH = 100
MAX_BATCH_ITEMS = 1000  # the bank's limit per batch request

# Nothing was sent: safe to send again whatever the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Sent, answer unknown.
_UNANSWERED = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def sign(secret: bytes, timestamp: str, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}\n{method}\n{path}\n".encode() + body, hashlib.sha256).hexdigest()


def _setting(name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    return default if value is None or value == "" else value


def _amount_text(amount: object) -> str:
    """Money crosses to the bank only as exact fen: a float or a third decimal is a caller bug."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError("an amount is a finite Decimal")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise ValueError(f"an amount is more than 0 and at most {MAX_AMOUNT}")
    if amount % CENT != 0:
        raise ValueError("an amount has at most two decimal places")
    return str(amount.quantize(CENT))


def _checked_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key is a non-empty string of at most {MAX_KEY_LENGTH} characters")
    return key


def _result(data: dict[str, Any]) -> ChargeResult:
    try:
        status = ChargeStatus(data["status"])
        return ChargeResult(
            status=status,
            reference=str(data["reference"]),
            amount=Decimal(str(data["amount"])),
            idempotency_key=str(data["idempotency_key"]),
            message=str(data.get("message", "")),
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        # An answer we cannot read may still describe a charge that happened: unknown, not failed.
        raise GatewayTimeout(f"unreadable charge from the bank: {exc!r}") from None


class HttpGateway:
    """A ``PaymentGateway`` and ``ChargeBook`` over the bank's HTTP API."""

    def __init__(
        self,
        *,
        url: str | None = None,
        secret: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.url = str(url or _setting("GATEWAY_HTTP_URL", "")).rstrip("/")
        if not self.url:
            raise ImproperlyConfigured("PAYMENT_GATEWAY=http needs GATEWAY_HTTP_URL")
        secret = secret or _setting("GATEWAY_HTTP_SECRET", "")
        if not secret:
            raise ImproperlyConfigured("PAYMENT_GATEWAY=http needs GATEWAY_HTTP_SECRET")
        self._secret = str(secret).encode()
        self.timeout = httpx.Timeout(
            connect=float(connect_timeout or _setting("GATEWAY_HTTP_CONNECT_TIMEOUT", 3.0)),
            read=float(read_timeout or _setting("GATEWAY_HTTP_READ_TIMEOUT", 10.0)),
            write=float(read_timeout or _setting("GATEWAY_HTTP_READ_TIMEOUT", 10.0)),
            pool=float(connect_timeout or _setting("GATEWAY_HTTP_CONNECT_TIMEOUT", 3.0)),
        )
        self.retries = int(retries if retries is not None else _setting("GATEWAY_HTTP_RETRIES", 2))
        self.max_connections = int(max_connections or _setting("GATEWAY_HTTP_MAX_CONNECTIONS", 64))
        self._client: httpx.Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

    # -- the connection pool --------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # A forked child never shares its parent's sockets.
                self._client = httpx.Client(
                    base_url=self.url,
                    timeout=self.timeout,
                    limits=httpx.Limits(
                        max_connections=self.max_connections, max_keepalive_connections=self.max_connections
                    ),
                    follow_redirects=False,
                )
                self._pid = os.getpid()
            return self._client

    def close(self) -> None:
        """The gateway contract's optional ``close``: drop the pool; the next call opens a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    def _send(self, method: str, path: str, *, payload: Any = None, key: str = "") -> httpx.Response:
        client = self._http()
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        request = client.build_request(method, path, content=body or None, headers=headers)
        # Signed over the path and query exactly as they go on the wire (after the base URL's prefix).
        timestamp = str(int(time.time()))
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-Signature"] = sign(
            self._secret, timestamp, method, request.url.raw_path.decode("ascii"), body
        )
        return client.send(request)

    def _call(
        self, method: str, path: str, *, payload: Any = None, key: str = "", read: bool = False
    ) -> httpx.Response:
        """One call with the retries that are safe for it (module docstring)."""
        attempt = 0
        while True:
            try:
                response = self._send(method, path, payload=payload, key=key)
            except _NOT_SENT as exc:
                if attempt >= self.retries:
                    raise GatewayError(f"the bank is unreachable: {exc!r}", code="unavailable") from None
            except _UNANSWERED as exc:
                if not read or attempt >= self.retries:
                    raise GatewayTimeout(f"the bank did not answer: {exc!r}") from None
            else:
                if response.status_code < 500:
                    return response
                if not read or attempt >= self.retries:
                    raise GatewayTimeout(f"the bank answered {response.status_code}")
            attempt += 1
            time.sleep(min(0.05 * 2**attempt, 1.0))

    @staticmethod
    def _error(response: httpx.Response) -> tuple[str, str]:
        try:
            data = response.json()
            return str(data.get("error", "")), str(data.get("message", ""))
        except (ValueError, AttributeError):
            return "", response.text[:200]

    def _refused(self, response: httpx.Response) -> GatewayError:
        code, message = self._error(response)
        return GatewayError(
            f"the bank refused the request ({response.status_code}): {message}", code=code or "refused"
        )

    # -- the gateway interface ------------------------------------------------------------------------

    def tokenize_card(
        self, *, number: str, holder_name: str, reserved_phone: str, single_use: bool = False
    ) -> CardToken:
        response = self._call(
            "POST",
            "/v1/cards/tokenize",
            payload={
                "number": number,
                "holder_name": holder_name,
                "reserved_phone": reserved_phone,
                "single_use": single_use,
            },
        )
        if response.status_code == 422:
            code, message = self._error(response)
            raise CardRejected(code, message)
        if response.status_code != 200:
            raise self._refused(response)
        data = response.json()
        return CardToken(
            token=data["token"],
            fingerprint=data["fingerprint"],
            last4=data["last4"],
            bank_code=data["bank_code"],
            bank_name=data["bank_name"],
            card_type=data["card_type"],
        )

    def charge(self, *, token: str, amount: Decimal, idempotency_key: str) -> ChargeResult:
        payload = {"token": str(token), "amount": _amount_text(amount)}
        key = _checked_key(idempotency_key)
        response = self._call("POST", "/v1/charges", payload=payload, key=key)
        if response.status_code == 200:
            return _result(response.json())
        if response.status_code == 409:
            raise GatewayError(
                "idempotency key reused with different parameters", code="idempotency_key_reused"
            )
        raise self._refused(response)

    def charge_batch(self, items: Sequence[ChargeRequest]) -> list[ChargeResult | GatewayError]:
        """``BatchCharging``: many charges in one request (批量代扣), ``POST /v1/charges/batch``, up to
        ``MAX_BATCH_ITEMS`` per request (more are sent as several requests, one after the other). A result
        or an error per item, in order: an item the bank answered without a charge of that key, or did not
        answer, is a ``GatewayTimeout`` in its place (unknown). A request unanswered (never retried: it
        may have charged) is ``GatewayTimeout`` for the whole batch when it is the first; for a later one,
        the items already answered keep their results and the rest are unknown."""
        requests = [
            {
                "idempotency_key": _checked_key(item.idempotency_key),
                "token": str(item.token),
                "amount": _amount_text(item.amount),
            }
            for item in items
        ]
        results: list[ChargeResult | GatewayError] = []
        for start in range(0, len(requests), MAX_BATCH_ITEMS):
            part = requests[start : start + MAX_BATCH_ITEMS]
            try:
                results.extend(self._charge_part(part))
            except GatewayError as exc:
                if not results:
                    raise
                results.extend(exc for _ in part)
        return results

    def _charge_part(self, part: list[dict[str, str]]) -> list[ChargeResult | GatewayError]:
        response = self._call("POST", "/v1/charges/batch", payload={"items": part})
        if response.status_code != 200:
            raise self._refused(response)
        try:
            answered = response.json().get("results")
        except (ValueError, AttributeError):
            answered = None
        if not isinstance(answered, list) or len(answered) != len(part):
            raise GatewayTimeout("the bank's batch answer does not match the request")
        results: list[ChargeResult | GatewayError] = []
        for sent, item in zip(part, answered, strict=True):
            key = sent["idempotency_key"]
            if not isinstance(item, dict) or item.get("idempotency_key") != key:
                results.append(GatewayTimeout(f"no answer from the bank for {key}"))
                continue
            error = item.get("error")
            if error == "timeout":
                results.append(GatewayTimeout("The bank did not answer for this charge."))
            elif error:
                results.append(GatewayError(str(item.get("message", "")), code=str(error)))
            else:
                try:
                    results.append(_result(item))
                except GatewayTimeout as exc:
                    results.append(exc)
        return results

    def get_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        response = self._call(
            "GET", f"/v1/charges/{quote(_checked_key(idempotency_key), safe='')}", read=True
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response)
        return _result(response.json())

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        payload = {"reference": reference, "amount": _amount_text(amount)}
        key = _checked_key(idempotency_key)
        response = self._call("POST", "/v1/refunds", payload=payload, key=key)
        if response.status_code == 200:
            data = response.json()
            return RefundResult(
                reference=data["reference"],
                refunded=Decimal(data["refunded"]),
                refund_reference=data["refund_reference"],
            )
        if response.status_code in (404, 409, 422):
            code, message = self._error(response)
            raise RefundError(code, message)
        raise self._refused(response)

    # -- the bank's books (``ChargeBook``) ------------------------------------------------------------

    def succeeded_charges(self, *, key_prefix: str) -> Iterator[BankCharge]:
        """The bank's succeeded charges whose key starts with ``key_prefix``, page by page."""
        after = ""
        while True:
            query = urlencode(
                {"key_prefix": key_prefix, "status": "succeeded", "after": after, "limit": 1000}
            )
            response = self._call("GET", f"/v1/charges?{query}", read=True)
            if response.status_code != 200:
                raise self._refused(response)
            page = response.json()
            for item in page["charges"]:
                yield BankCharge(
                    idempotency_key=item["idempotency_key"],
                    reference=item["reference"],
                    amount=Decimal(item["amount"]),
                    refunded=Decimal(item["refunded"]),
                )
            if not page.get("next"):
                return
            after = page["next"]

    # -- the daily settlement file (``SettlementSource``) -----------------------------------------------

    def settlement_file(self, day: date) -> str:
        """The bank's settlement file of ``day``, as it sent it (CSV; ``parse_settlement_file`` reads it)."""
        response = self._call("GET", f"/v1/settlements/{day.isoformat()}", read=True)
        if response.status_code != 200:
            raise self._refused(response)
        return response.text

    # -- the simulated bank's back office (tests, demos): not part of any real acquirer -----------------

    def simulator_admin(self, method: str, path: str, payload: Any = None) -> Any:
        """``/v1/admin/...`` on the simulated bank service: balances, closed cards, faults."""
        response = self._call(method, f"/v1/admin/{path}", payload=payload, read=method == "GET")
        if response.status_code != 200:
            raise self._refused(response)
        return response.json()

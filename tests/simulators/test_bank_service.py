"""The simulated bank as a separate process (simulators/bank_service), driven over HTTP: its books, its
idempotency, its signatures, its rules (the in-process bank's, simulators/bank_rules.py) and its faults.
No Django database here: the service keeps its own SQLite file."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from repayments.gateway import (
    CardRejected,
    ChargeRequest,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    RefundError,
)
from repayments.http_gateway import HttpGateway, sign
from tests.bank_service import ROOT, SECRET, BankProcess
from tests.cards import CMB_DEBIT, ICBC_DEBIT

pytestmark = pytest.mark.bank_service

D = Decimal


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    process = BankProcess(tmp_path_factory.mktemp("bank") / "bank.sqlite3").start()
    yield process
    process.stop()


@pytest.fixture
def gateway(bank: BankProcess) -> Iterator[HttpGateway]:
    client = bank.gateway()
    client.simulator_admin(
        "POST", "faults", {"latency_ms": 0, "failure_rate": 0, "timeout_rate": 0, "lost_rate": 0}
    )
    yield client
    client.close()


def _token(gateway: HttpGateway, number: str = ICBC_DEBIT) -> str:
    return gateway.tokenize_card(number=number, holder_name="张三", reserved_phone="13811112222").token


def _balance(gateway: HttpGateway, token: str) -> Decimal:
    return Decimal(gateway.simulator_admin("GET", f"balance/{token}")["balance"])


def _key(name: str) -> str:
    return f"test:{name}:{time.monotonic_ns()}"


def test_tokenize_charge_status_and_refund(gateway: HttpGateway) -> None:
    card = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="13811112222")
    assert (card.last4, card.bank_code, card.card_type) == (ICBC_DEBIT[-4:], "ICBC", "debit")
    assert card.token.startswith("tok_")
    assert ICBC_DEBIT not in card.fingerprint
    again = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="13811112222")
    assert again.token != card.token
    assert again.fingerprint == card.fingerprint
    assert _balance(gateway, card.token) == D("10000.00")

    key = _key("pay")
    charged = gateway.charge(token=card.token, amount=D("106.00"), idempotency_key=key)
    assert (charged.status, charged.amount, charged.idempotency_key) == (
        ChargeStatus.SUCCEEDED,
        D("106.00"),
        key,
    )
    assert gateway.get_charge(idempotency_key=key) == charged
    assert _balance(gateway, card.token) == D("9894.00")

    refund = gateway.refund(reference=charged.reference, amount=D("6.00"), idempotency_key=key + ":rf")
    assert (refund.reference, refund.refunded) == (charged.reference, D("6.00"))
    assert (
        gateway.refund(reference=charged.reference, amount=D("6.00"), idempotency_key=key + ":rf") == refund
    )
    assert _balance(gateway, card.token) == D("9900.00")
    with pytest.raises(RefundError) as exceeded:
        gateway.refund(reference=charged.reference, amount=D("100.01"), idempotency_key=key + ":rf2")
    assert exceeded.value.code == "exceeds_charge"
    with pytest.raises(RefundError) as unknown:
        gateway.refund(reference="ch_nope", amount=D("1.00"), idempotency_key=key + ":rf3")
    assert unknown.value.code == "unknown_charge"


def test_a_key_never_seen_is_none(gateway: HttpGateway) -> None:
    assert gateway.get_charge(idempotency_key=_key("never")) is None


def test_the_same_key_and_body_replay_and_another_body_is_refused(gateway: HttpGateway) -> None:
    token = _token(gateway)
    key = _key("replay")
    first = gateway.charge(token=token, amount=D("50.00"), idempotency_key=key)
    assert gateway.charge(token=token, amount=D("50.00"), idempotency_key=key) == first
    assert _balance(gateway, token) == D("9950.00")  # charged once
    with pytest.raises(GatewayError) as reused:
        gateway.charge(token=token, amount=D("50.01"), idempotency_key=key)
    assert reused.value.code == "idempotency_key_reused"
    with pytest.raises(RefundError) as refund_reused:
        gateway.refund(reference=first.reference, amount=D("1.00"), idempotency_key=key)
    assert refund_reused.value.code == "idempotency_key_reused"
    gateway.refund(reference=first.reference, amount=D("1.00"), idempotency_key=key + ":rf")
    with pytest.raises(RefundError) as other_refund:
        gateway.refund(reference=first.reference, amount=D("2.00"), idempotency_key=key + ":rf")
    assert other_refund.value.code == "idempotency_key_reused"


def test_one_key_sent_at_once_from_many_threads_charges_once(gateway: HttpGateway) -> None:
    token = _token(gateway)
    key = _key("race")
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: gateway.charge(token=token, amount=D("10.00"), idempotency_key=key), range(8))
        )
    assert len({r.reference for r in results}) == 1
    assert _balance(gateway, token) == D("9990.00")


def test_the_in_process_banks_rules(gateway: HttpGateway) -> None:
    outcomes = {}
    for number in ("6222020000000007", "6222020000000015", "6222020000000023"):
        token = _token(gateway, number)
        outcomes[number] = gateway.charge(token=token, amount=D("1.00"), idempotency_key=_key(number)).status
    assert outcomes == {
        "6222020000000007": ChargeStatus.DECLINED,
        "6222020000000015": ChargeStatus.INSUFFICIENT_FUNDS,
        "6222020000000023": ChargeStatus.FAILED,
    }
    token = _token(gateway, CMB_DEBIT)
    assert gateway.simulator_admin("POST", "balance", {"token_or_fingerprint": token, "amount": "5.00"}) == {
        "changed": 1
    }
    assert gateway.charge(token=token, amount=D("5.01"), idempotency_key=_key("poor")).status == (
        ChargeStatus.INSUFFICIENT_FUNDS
    )
    assert gateway.charge(token=token, amount=D("5.00"), idempotency_key=_key("exact")).succeeded
    gateway.simulator_admin("POST", "close", {"token": token})
    assert gateway.charge(token=token, amount=D("0.01"), idempotency_key=_key("closed")).hard_decline
    assert gateway.charge(token="tok_unknown", amount=D("1.00"), idempotency_key=_key("nobody")).hard_decline
    with pytest.raises(CardRejected) as prepaid:
        _token(gateway, "6222020000000049")
    assert prepaid.value.code == "not_supported"
    with pytest.raises(CardRejected) as invalid:
        _token(gateway, "6222020000000000")
    assert invalid.value.code == "invalid_number"


def test_a_batch_answers_per_item_in_order(gateway: HttpGateway) -> None:
    token = _token(gateway)
    declined = _token(gateway, "6222020000000007")
    lost = _token(gateway, "6222020000000031")
    seen = _key("seen")
    gateway.charge(token=token, amount=D("1.00"), idempotency_key=seen)
    items = [
        ChargeRequest(token, D("2.00"), _key("b1")),
        ChargeRequest(declined, D("2.00"), _key("b2")),
        ChargeRequest(token, D("3.00"), seen),  # the key was used with another amount
        ChargeRequest(lost, D("2.00"), _key("b4")),
        ChargeRequest(token, D("1.00"), seen),  # a replay: the first result, not charged again
    ]
    results = gateway.charge_batch(items)
    assert [getattr(r, "status", None) for r in results] == [
        ChargeStatus.SUCCEEDED,
        ChargeStatus.DECLINED,
        None,
        None,
        ChargeStatus.SUCCEEDED,
    ]
    assert isinstance(results[2], GatewayError)
    assert results[2].code == "idempotency_key_reused"
    assert isinstance(results[3], GatewayTimeout)
    # The item whose answer was lost was charged: its status says so.
    status = gateway.get_charge(idempotency_key=items[3].idempotency_key)
    assert status is not None
    assert status.succeeded
    assert _balance(gateway, token) == D("9997.00")


def _raw(
    bank: BankProcess, path: str, *, secret: str = SECRET, timestamp: int | None = None
) -> httpx.Response:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Timestamp": stamp, "X-Signature": sign(secret.encode(), stamp, "GET", path, b"")}
    return httpx.get(bank.url + path, headers=headers, timeout=5)


def test_a_bad_or_stale_signature_is_refused(bank: BankProcess) -> None:
    path = "/v1/charges/whatever"
    assert _raw(bank, path).status_code == 404  # signed right: the key is unknown
    wrong = _raw(bank, path, secret="another-secret")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_signature")
    stale = _raw(bank, path, timestamp=int(time.time()) - 301)
    assert (stale.status_code, stale.json()["error"]) == (401, "stale_request")
    unsigned = httpx.get(bank.url + path, timeout=5)
    assert unsigned.status_code == 401
    # A signature for one path does not open another.
    stamp = str(int(time.time()))
    moved = httpx.get(
        bank.url + "/v1/charges/other",
        headers={"X-Timestamp": stamp, "X-Signature": sign(SECRET.encode(), stamp, "GET", path, b"")},
        timeout=5,
    )
    assert moved.status_code == 401
    with pytest.raises(GatewayError) as refused:
        bank.gateway(secret="another-secret").get_charge(idempotency_key="k")
    assert refused.value.code == "bad_signature"


def test_the_books_survive_a_crash(tmp_path: Path) -> None:
    bank = BankProcess(tmp_path / "bank.sqlite3").start()
    try:
        gateway = bank.gateway()
        token = _token(gateway)
        charged = gateway.charge(token=token, amount=D("20.00"), idempotency_key="crash-1")
        gateway.close()
        bank.restart()  # killed (SIGKILL), started again on the same file and port
        gateway = bank.gateway()
        assert gateway.get_charge(idempotency_key="crash-1") == charged
        assert gateway.charge(token=token, amount=D("20.00"), idempotency_key="crash-1") == charged
        assert _balance(gateway, token) == D("9980.00")
        gateway.close()
    finally:
        bank.stop()


def test_the_development_secret_serves_only_on_a_loopback_address(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BANK_API_SECRET"}
    command = [sys.executable, "-m", "simulators.bank_service", "--port", "0"]
    command += ["--host", "0.0.0.0", "--database", str(tmp_path / "bank.sqlite3")]  # noqa: S104
    result = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "BANK_API_SECRET" in result.stderr


def _signed(method: str, path: str, body: bytes = b"") -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-Timestamp": stamp,
        "X-Signature": sign(SECRET.encode(), stamp, method, path, body),
        "Content-Type": "application/json",
    }


def test_one_connection_serves_request_after_request(bank: BankProcess, gateway: HttpGateway) -> None:
    """HTTP/1.1 keep-alive: answers with a Content-Length on the same socket, a refusal included; a charge
    whose answer is lost closes its own connection and no other."""
    token = _token(gateway)
    lost = _token(gateway, "6222020000000031")
    host, port = bank.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    other = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        path = f"/v1/admin/balance/{token}"
        conn.request("GET", path, headers=_signed("GET", path))
        first = conn.getresponse()
        assert (first.version, first.status) == (11, 200)
        assert first.getheader("Content-Length") is not None
        assert json.loads(first.read()) == {"balance": "10000.00"}
        sock = conn.sock
        assert sock is not None  # not closed after the answer
        body = json.dumps({"token": token, "amount": "1.5x"}).encode()
        conn.request(
            "POST",
            "/v1/charges",
            body=body,
            headers={**_signed("POST", "/v1/charges", body), "Idempotency-Key": _key("bad")},
        )
        refused = conn.getresponse()
        assert (refused.status, json.loads(refused.read())["error"]) == (400, "bad_amount")
        body = json.dumps({"token": token, "amount": "1.50"}).encode()
        conn.request(
            "POST",
            "/v1/charges",
            body=body,
            headers={**_signed("POST", "/v1/charges", body), "Idempotency-Key": _key("ok")},
        )
        charged = conn.getresponse()
        assert (charged.status, json.loads(charged.read())["status"]) == (200, "succeeded")
        assert conn.sock is sock  # three answers, one connection

        other.request("GET", path, headers=_signed("GET", path))
        other.getresponse().read()
        body = json.dumps({"token": lost, "amount": "1.00"}).encode()
        other.request(
            "POST",
            "/v1/charges",
            body=body,
            headers={**_signed("POST", "/v1/charges", body), "Idempotency-Key": _key("lost")},
        )
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            other.getresponse()
        conn.request("GET", path, headers=_signed("GET", path))
        assert json.loads(conn.getresponse().read()) == {"balance": "9998.50"}
        assert conn.sock is sock
    finally:
        conn.close()
        other.close()


def test_a_kept_alive_connection_answers_without_waiting_for_delayed_acks(gateway: HttpGateway) -> None:
    """Nagle's algorithm on the bank's side would hold the body of each answer until our delayed ACK of its
    headers (about 40 ms on Linux): every call on a kept-alive connection would take 40 ms or more."""
    gateway.get_charge(idempotency_key=_key("warm"))
    times = []
    for n in range(15):
        started = time.perf_counter()
        gateway.get_charge(idempotency_key=_key(f"k{n}"))
        times.append(time.perf_counter() - started)
    times.sort()
    assert times[len(times) // 2] < 0.02, times

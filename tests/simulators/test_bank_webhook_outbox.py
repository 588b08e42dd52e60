"""The bank's webhook outbox (simulators/bank_service/books.py) and sender (webhooks.py), without Django:
an event is written with the result it tells of and only then, a replayed key writes none, and the
sender signs what our view verifies and backs off until a 2xx."""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from repayments.webhooks import webhook_signature as our_check
from simulators.bank_service.books import Books
from simulators.bank_service.webhooks import WebhookSender
from tests.cards import ICBC_DEBIT


def _books(tmp_path: Path, *, outbox: bool = True) -> tuple[Books, str]:
    books = Books(tmp_path / "bank.sqlite3", fingerprint_key=b"k", outbox=outbox)
    token = books.tokenize(
        number=ICBC_DEBIT,
        holder_name="张三",
        reserved_phone="13811112222",
        single_use=False,
        balance_fen=10_000,
    )["token"]
    return books, token


def test_a_charge_and_a_refund_each_write_one_event(tmp_path: Path) -> None:
    books, token = _books(tmp_path)
    charged = books.charge(key="repayment:1", token=token, amount_fen=4000, soft_failure=False)
    books.charge(key="repayment:1", token=token, amount_fen=4000, soft_failure=False)  # a replay: no event
    books.charge(key="repayment:2", token=token, amount_fen=999_999, soft_failure=False)
    books.refund(key="refund:1", reference=charged.result["reference"], amount_fen=1000)
    events = [json.loads(payload) for _, payload, _, _ in books.outbox_due()]
    assert [(e["type"], e["idempotency_key"], e["amount"], e["status"]) for e in events] == [
        ("charge.succeeded", "repayment:1", "40.00", "succeeded"),
        ("charge.insufficient_funds", "repayment:2", "9999.99", "insufficient_funds"),
        ("refund.succeeded", "refund:1", "10.00", "succeeded"),
    ]
    assert len({e["id"] for e in events}) == 3
    assert events[0]["reference"] == charged.result["reference"]


def test_no_outbox_without_a_webhook_url(tmp_path: Path) -> None:
    books, token = _books(tmp_path, outbox=False)
    books.charge(key="repayment:1", token=token, amount_fen=100, soft_failure=False)
    assert books.outbox_pending() == 0


def test_the_sender_signs_as_we_verify_and_backs_off_until_answered(tmp_path: Path) -> None:
    books, token = _books(tmp_path)
    books.charge(key="repayment:1", token=token, amount_fen=100, soft_failure=False)
    seen: list[tuple[float, bool]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = our_check(b"s3cret", self.headers["X-Timestamp"], body) == self.headers["X-Signature"]
            seen.append((time.monotonic(), valid))
            self.send_response(500 if len(seen) < 3 else 204)  # two failures, then delivered
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sender = WebhookSender(
        books,
        url=f"http://127.0.0.1:{server.server_port}/webhooks/bank/",
        secret="s3cret",
        backoff_seconds=0.1,
        poll_seconds=0.02,
    )
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while books.outbox_pending() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sender.stop()
        sender.join(5)
        server.shutdown()
        server.server_close()
    assert books.outbox_pending() == 0
    assert len(seen) == 3
    assert all(valid for _, valid in seen)
    # Exponential: 0.1 s after the first failure, 0.2 s after the second.
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19

"""What ``make run`` relies on to start the bank service beside web, worker and beat: ``seed_demo`` binds
and funds the demo cards over HTTP before the bank process runs (it serves the bank in-process for the
seed, on the same port and books), and a busy bank port is a clear message, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.management import call_command

from repayments.models import BankCard
from tests.bank_service import ROOT, SECRET, BankProcess

pytestmark = pytest.mark.bank_service


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_seed_demo_over_http_seeds_the_books_the_bank_process_then_serves(
    db, settings, monkeypatch, tmp_path, capsys
) -> None:
    port = _free_port()
    database = tmp_path / "bank.sqlite3"
    monkeypatch.setenv("BANK_API_SECRET", SECRET)
    monkeypatch.setenv("BANK_DATABASE_PATH", str(database))
    settings.PAYMENT_GATEWAY = "http"
    settings.GATEWAY_HTTP_URL = f"http://127.0.0.1:{port}"
    settings.GATEWAY_HTTP_SECRET = SECRET
    call_command("seed_demo")  # nothing listens on the port: the seed serves the bank itself
    assert "Demo data ready." in capsys.readouterr().out
    process = BankProcess(database)
    process.port = port
    process.start()  # the port is free again, and the books are where the process looks
    try:
        gateway = process.gateway()
        balances = {
            card.customer.real_name: gateway.simulator_admin("GET", f"balance/{card.gateway_token}")[
                "balance"
            ]
            for card in BankCard.objects.select_related("customer")
        }
        assert {name: Decimal(amount) for name, amount in balances.items()} == {
            "张三": Decimal("20000.00"),
            "李四": Decimal("5000.00"),
            "王五": Decimal("300.00"),
        }
        call_command("seed_demo")  # again, with the bank running: it is used, nothing is bound twice
        assert BankCard.objects.count() == 3
        assert "unknown to the bank" not in capsys.readouterr().err
        gateway.close()
    finally:
        process.stop()


def test_seed_demo_says_when_the_cards_were_bound_at_another_bank(
    db, settings, monkeypatch, tmp_path, capsys
):
    call_command("seed_demo")  # the in-process bank (PAYMENT_GATEWAY=simulated)
    port = _free_port()
    monkeypatch.setenv("BANK_API_SECRET", SECRET)
    monkeypatch.setenv("BANK_DATABASE_PATH", str(tmp_path / "bank.sqlite3"))
    settings.PAYMENT_GATEWAY = "http"
    settings.GATEWAY_HTTP_URL = f"http://127.0.0.1:{port}"
    settings.GATEWAY_HTTP_SECRET = SECRET
    call_command("seed_demo")
    assert "unknown to the bank" in capsys.readouterr().err


def test_a_busy_bank_port_is_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (["--check-port"], ["--quiet"]):  # make run's check, and the service itself
            result = subprocess.run(  # noqa: S603 - our own module
                [sys.executable, "-m", "simulators.bank_service", "--port", str(port), *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert result.returncode == 1
            assert f"port 127.0.0.1:{port} is in use" in result.stderr
            assert "Traceback" not in result.stderr
    free = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "simulators.bank_service", "--port", str(_free_port()), "--check-port"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert free.returncode == 0, free.stderr


def test_the_procfile_runs_the_bank_beside_web_worker_and_beat() -> None:
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(processes) == {"bank", "web", "worker", "beat"}
    assert "-m simulators.bank_service" in processes["bank"]
    makefile = (ROOT / "Makefile").read_text()
    assert "export PAYMENT_GATEWAY ?= http" in makefile
    assert "export BANK_WEBHOOK_URL ?= http://127.0.0.1:$(WEB_PORT)/webhooks/bank/" in makefile

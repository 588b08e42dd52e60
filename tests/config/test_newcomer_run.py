"""What a newcomer meets first (issue 18, "Newcomer run"): ``make run`` installs only the runtime
requirements and says where to go (web, admin, SMS codes), ``.env.example`` names its ports, and
``seed_demo --reset`` starts the demo over on the SQLite default but is refused where it cannot be honest
(DEBUG off, or PostgreSQL, whose journal is append-only)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from kombu import Consumer, Queue

from accounts.models import User
from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "make"


def _make_dry_run(target: str, tmp_path: Path, **env: str) -> str:
    """``make -n``: the commands a target would run, with a venv that does not exist yet (a fresh machine)."""
    result = subprocess.run(  # noqa: S603 (make with our own arguments)
        [MAKE, "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_run_installs_only_the_runtime_requirements(tmp_path) -> None:
    commands = _make_dry_run("run", tmp_path)
    assert "install --quiet -r requirements.txt" in commands
    assert "requirements-dev.txt" not in commands


def test_make_test_installs_the_dev_requirements_too(tmp_path) -> None:
    commands = _make_dry_run("test", tmp_path)
    assert "install --quiet -r requirements.txt" in commands
    assert "install --quiet -r requirements-dev.txt" in commands


def test_the_run_banner_gives_the_addresses_and_where_sms_codes_appear(tmp_path) -> None:
    commands = _make_dry_run("run", tmp_path, WEB_PORT="8040", BANK_PORT="8140")
    assert "http://127.0.0.1:8040/ (customers)" in commands
    assert "http://127.0.0.1:8040/admin/ (staff)" in commands
    assert "var/sms/<phone number>.txt" in commands
    assert "http://127.0.0.1:8140/" in commands
    # Ctrl-C goes to honcho alone, in the terminal's foreground (see the Ctrl-C test below).
    assert re.search(r"-m simulators.foreground \S+/honcho --procfile Procfile start", commands)


def test_env_example_names_the_ports_make_run_uses() -> None:
    example = (ROOT / ".env.example").read_text()
    assert "# WEB_PORT=8000" in example
    assert "# BANK_PORT=8100" in example


def test_reset_is_refused_when_debug_is_off(db, settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refused unless DEBUG is on"):
        call_command("seed_demo", reset=True)


def test_reset_is_refused_on_postgresql_and_deletes_nothing(db, settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the refusal is about PostgreSQL's append-only journal")
    settings.DEBUG = True
    User.objects.create_user("+8613700000009", "kept-pass-2026", real_name="留下")
    with pytest.raises(CommandError, match="append-only"):
        call_command("seed_demo", reset=True)
    assert User.objects.filter(phone="+8613700000009").exists()


def _manage(tmp_path: Path, *args: str, debug: str = "true") -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ENV"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_FS_DIR=str(tmp_path / "celery"),
        PAYMENT_GATEWAY="simulated",
        SMS_SENDER="memory",
        DJANGO_DEBUG=debug,
    )
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_reset_on_sqlite_replays_the_demo_from_scratch(tmp_path) -> None:
    assert _manage(tmp_path, "migrate", "--noinput").returncode == 0
    assert _manage(tmp_path, "seed_demo").returncode == 0
    database = sqlite3.connect(tmp_path / "db.sqlite3")
    with database:
        database.execute("UPDATE accounts_user SET real_name = 'changed' WHERE phone = '+8613800000001'")
        database.execute(
            "UPDATE installments_installmentplan SET description = 'changed'"
            " WHERE merchant_order_ref = 'JD-DEMO-0001'"
        )
    result = _manage(tmp_path, "seed_demo", "--reset")
    assert result.returncode == 0, result.stderr
    assert "Development database emptied (--reset)." in result.stdout
    assert "Demo data ready." in result.stdout
    names = dict(database.execute("SELECT phone, real_name FROM accounts_user").fetchall())
    assert names["+8613800000001"] == "张三"
    assert database.execute(
        "SELECT description FROM installments_installmentplan WHERE merchant_order_ref = 'JD-DEMO-0001'"
    ).fetchall() == [("iPhone 手机",)]
    database.close()


def test_reset_refusal_is_a_clear_message_and_a_non_zero_exit(tmp_path) -> None:
    result = _manage(tmp_path, "seed_demo", "--reset", debug="false")
    assert result.returncode != 0
    assert "refused unless DEBUG is on" in result.stderr


# --- Ctrl-C on make run ------------------------------------------------------------------------------------


def test_an_idle_worker_on_the_local_broker_looks_for_a_stop_often(settings) -> None:
    """Celery's loop asks the broker for up to 2 s at a time and sees a stop signal only between asks;
    on the local-disk broker each ask now ends after 0.2 s (kombu's own waits the whole 2 s)."""
    if settings.REDIS_URL:
        pytest.skip("the local-disk broker is the one without REDIS_URL")
    with celery_app.connection_for_read() as connection:
        with Consumer(connection, queues=[Queue("test-idle")], accept=["json"]):
            started = time.monotonic()
            with pytest.raises(socket.timeout):
                connection.drain_events(timeout=2.0)
        assert time.monotonic() - started < 1.0


READY = ("celery@", " ready.", "beat: Starting", "Quit the server with CONTROL-C.", "bank service listening")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Terminal:
    """A pseudo-terminal that is the controlling terminal of the command it starts, as a shell window is:
    typing Ctrl-C (\\x03) there sends SIGINT to its foreground process group, whatever that is."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(  # noqa: S603 (make with our own arguments)
            command,
            cwd=ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the last process holding the terminal is gone
                return
            if not data:
                return
            self.chunks.append(data.decode(errors="replace"))

    @property
    def output(self) -> str:
        return re.sub(r"\x1b\[[0-9;]*m", "", "".join(self.chunks))

    def wait_for(self, texts: tuple[str, ...], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(text in self.output for text in texts) or self.process.poll() is not None:
                break
            time.sleep(0.5)
        return all(text in self.output for text in texts)

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.reader.join(timeout=5)
        os.close(self.master)


@pytest.mark.celery_worker
@pytest.mark.bank_service
def test_ctrl_c_on_make_run_stops_everything_cleanly(tmp_path) -> None:
    """Ctrl-C typed where ``make run`` runs (review, Newcomer): every process stops by itself within
    honcho's 5 s (no SIGKILL), nothing logs ERROR or a traceback, and make exits 0 without "Interrupt".

    The real ``make run`` (migrate, demo data, then bank, web, worker and beat under honcho) on a fresh
    SQLite file and the local-disk broker, in a pseudo-terminal, so the interrupt reaches whatever the
    terminal's foreground is, as a key press does. ``-o`` keeps make from reinstalling the venv. About 40 s.
    """
    unset = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ENV", "PAYMENT_GATEWAY",
             "GATEWAY_HTTP_URL", "BANK_WEBHOOK_URL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_FS_DIR=str(tmp_path / "celery"),
        BANK_DATABASE_PATH=str(tmp_path / "bank.sqlite3"),
        SMS_SENDER="memory",
        WEB_PORT=str(_free_port()),
        BANK_PORT=str(_free_port()),
    )
    terminal = _Terminal([MAKE, "-o", ".venv/.runtime-stamp", "run"], env)
    try:
        assert terminal.wait_for(READY, timeout=240), terminal.output[-3000:]
        time.sleep(1)  # beat's first look at its schedule, the worker idle
        terminal.ctrl_c()
        status = terminal.process.wait(timeout=30)
    finally:
        terminal.close()
    output = terminal.output
    stopping = output[output.index("SIGINT received") :]
    assert status == 0, output[-3000:]
    for process in ("bank", "web", "worker", "beat"):
        assert f"{process}.1 stopped (rc=0)" in stopping, stopping
    for bad in ("ERROR", "Traceback", "SIGKILL", "Interrupt", "Error "):
        assert bad not in output, (bad, output[-3000:])

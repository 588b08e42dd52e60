"""``python -m simulators.bank_service``: run the simulated bank on its own port and its own SQLite file.

Settings come from the command line or the environment: ``BANK_API_SECRET`` (the shared secret; a
development default that only works on a loopback address), ``BANK_DATABASE_PATH``
(``var/bank.sqlite3``), ``BANK_PORT`` (8100), ``BANK_DEFAULT_BALANCE`` (10000.00), and the faults
``BANK_LATENCY_MS``, ``BANK_FAILURE_RATE``, ``BANK_TIMEOUT_RATE``, ``BANK_TIMEOUT_SECONDS``,
``BANK_LOST_RATE``, ``BANK_SEED`` (app.py says what each does; ``POST /v1/admin/faults`` changes them
while it runs). Webhooks: ``--webhook-url`` / ``BANK_WEBHOOK_URL`` (our ``/webhooks/bank/``; unset: no
notifications), ``BANK_WEBHOOK_SECRET`` (default: the API secret), ``BANK_WEBHOOK_BACKOFF_SECONDS`` (1)
and ``BANK_WEBHOOK_MAX_BACKOFF_SECONDS`` (300); webhooks.py says how they are sent and retried.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from decimal import Decimal
from types import FrameType

from simulators.bank_service import DEV_SECRET, LOOPBACK
from simulators.bank_service.app import BankApp, Faults
from simulators.bank_service.books import Books
from simulators.bank_service.server import make_bank_server
from simulators.bank_service.webhooks import WebhookSender


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (``make run`` asks before it starts anything)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _check_port(host: str, port: int) -> None:
    if port and port_in_use(host, port):
        sys.exit(
            f"The bank service's port {host}:{port} is in use: is a bank service (make bank, an earlier "
            "make run) still running? Stop it, or choose another port with BANK_PORT=8101."
        )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.bank_service", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("BANK_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("BANK_PORT") or 8100), help="0: any free"
    )
    parser.add_argument("--database", default=os.environ.get("BANK_DATABASE_PATH") or "var/bank.sqlite3")
    parser.add_argument(
        "--webhook-url", default=os.environ.get("BANK_WEBHOOK_URL", ""), help="where results are notified"
    )
    parser.add_argument("--quiet", action="store_true", help="no access log")
    parser.add_argument(
        "--check-port", action="store_true", help="only say whether the port is free (exit 1 if not)"
    )
    args = parser.parse_args(argv)
    if args.check_port:
        _check_port(args.host, args.port)
        return
    secret = os.environ.get("BANK_API_SECRET") or DEV_SECRET
    if secret == DEV_SECRET and args.host not in LOOPBACK:
        parser.error("set BANK_API_SECRET to serve on anything but a loopback address")
    faults = Faults(
        latency_ms=_env_float("BANK_LATENCY_MS", 0),
        failure_rate=_env_float("BANK_FAILURE_RATE", 0),
        timeout_rate=_env_float("BANK_TIMEOUT_RATE", 0),
        timeout_seconds=_env_float("BANK_TIMEOUT_SECONDS", 30),
        lost_rate=_env_float("BANK_LOST_RATE", 0),
        seed=int(os.environ["BANK_SEED"]) if os.environ.get("BANK_SEED") else None,
    )
    balance = Decimal(os.environ.get("BANK_DEFAULT_BALANCE") or "10000.00")
    app = BankApp(
        Books(args.database, fingerprint_key=secret.encode(), outbox=bool(args.webhook_url)),
        secret=secret,
        window_seconds=int(os.environ.get("BANK_SIGNATURE_WINDOW_SECONDS") or 300),
        default_balance_fen=int(balance * 100),
        faults=faults,
    )
    if args.webhook_url:
        app.webhooks = WebhookSender(
            app.books,
            url=args.webhook_url,
            secret=os.environ.get("BANK_WEBHOOK_SECRET") or secret,
            backoff_seconds=_env_float("BANK_WEBHOOK_BACKOFF_SECONDS", 1),
            max_backoff_seconds=_env_float("BANK_WEBHOOK_MAX_BACKOFF_SECONDS", 300),
            seed=faults.seed,
        )
        app.webhooks.start()
    try:
        server = make_bank_server(app, args.host, args.port, quiet=args.quiet)
    except OSError as exc:
        _check_port(args.host, args.port)  # the clear message when it is the port
        raise SystemExit(f"The bank service cannot listen on {args.host}:{args.port}: {exc}") from None
    # The first line tells a supervisor (or a test fixture) where the bank listens; port 0 picks a free one.
    print(f"bank service listening on http://{args.host}:{server.server_port}", flush=True)
    # honcho (make run) stops its processes with SIGTERM: stop as on Ctrl-C, with exit status 0.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()

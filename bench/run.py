"""Every benchmark side by side against the machine's own yardsticks, in one run; writes docs/performance.md.

    .venv/bin/python bench/run.py [--n 10000] [--http-seconds 10] [--pgbench-seconds 10]
                                  [--growth 10000 100000 1000000] [--gateway http|simulated]

Needs PostgreSQL, Redis, pgbench and wrk (Debian's ``wrk``). On its own databases (bench_installments,
bench_pgbench) it measures, each as a rate, a ratio to its yardstick, p50/p99 latency and peak memory:
1. pgbench TPC-B (the yardstick of the database work);
2. the auto-debit run with 1 and 2 worker processes at 0 and 100 ms gateway latency, against the bank
   service as its own process (``--gateway http``, the default: batch debits) or the in-process one;
3. the overdue sweep (a normal day's book and the all-late day);
4. GET /api/v1/bills/ against a bare Django view doing one query (the ceiling), same wrk load, gunicorn;
5. bills for a customer with 2 and with 700 installment rows (growth);
6. POST /api/v1/repayments/ under load while a debit run is going;
7. with --growth, the debit run at each size and its time per debit against the first size.
Defaults finish in about ten minutes on 2 cores (1 M installments alone take about 40 minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import autodebit as ad  # noqa: E402

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench/run.py: start -->", "<!-- bench/run.py: end -->"


def wrk(url: str, seconds: int, headers: dict[str, str], script: str | None = None) -> dict:
    """Run wrk (2 threads, 8 connections) and read requests/s, p50, p99 and non-2xx responses."""
    args = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p50": pct("50"), "p99": pct("99"), "non2xx": int(bad.group(1)) if bad else 0}


def start_gunicorn(bank_url: str = "") -> subprocess.Popen:
    env = ad.django_env(0, bank_url)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        API_THROTTLE_USER="100000000/min",
        API_THROTTLE_PAYMENTS="100000000/min",
        API_THROTTLE_ANON="100000000/min",
    )
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-w", "2", "-b", f"127.0.0.1:{PORT}",
         "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    for _ in range(100):
        try:
            subprocess.run(["curl", "-sf", f"{BASE}/healthz"], check=True, capture_output=True)  # noqa: S603,S607
            break
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    return process


def gunicorn_peak_mb(process: subprocess.Popen) -> float:
    children = [p for p in Path("/proc").glob("[0-9]*") if _ppid(p) == process.pid]
    return max((ad.peak_rss_mb(int(p.name)) for p in children), default=0.0)


def _ppid(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def tokens_for(count: int) -> list[tuple[str, str, str]]:
    """(access token, plan id, card id) for the first ``count`` bench customers."""
    from accounts.models import User
    from accounts.tokens import VersionedRefreshToken as RefreshToken
    from repayments.models import BankCard

    rows = []
    for user in User.objects.filter(phone__startswith="+86139").order_by("id")[:count]:
        plan = user.plans.order_by("id").first()
        card = BankCard.objects.filter(customer=user).first()
        rows.append((str(RefreshToken.for_user(user).access_token), str(plan.public_id), str(card.public_id)))
    return rows


def post_script(rows: list[tuple[str, str, str]]) -> str:
    """A wrk script: each request pays 0.01 on a random bench customer's plan with a fresh idempotency key."""
    entries = ",\n".join(f'{{"{t}", "{p}", "{c}"}}' for t, p, c in rows)
    lua = f"""
local rows = {{
{entries}
}}
local n = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)  -- each wrk thread has its own Lua state: keys must differ between them
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
request = function()
  n = n + 1
  local row = rows[math.random(#rows)]
  local body = '{{"plan_id": "' .. row[2] .. '", "mode": "custom", "amount": "0.01", '
    .. '"card_id": "' .. row[3] .. '"}}'
  local headers = {{}}
  headers["Authorization"] = "Bearer " .. row[1]
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("bench-%d-%d-%d-%d", id, os.time(), math.random(1000000000), n)
  return wrk.format("POST", "/api/v1/repayments/", headers, body)
end
"""
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write(lua)
    handle.close()
    return handle.name


def long_history_customer(installments: int) -> str:
    """A bench customer whose one active plan has ``installments`` rows, all but the last paid."""
    from django.db import connection

    from accounts.models import User
    from accounts.tokens import VersionedRefreshToken as RefreshToken

    user = User.objects.filter(phone__startswith="+86139").order_by("-id").first()
    plan = user.plans.first()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO installments_installment (plan_id, sequence, due_date, principal_due, fee_due,
                penalty_due, principal_paid, fee_paid, penalty_paid, principal_waived, fee_waived,
                penalty_waived, status, paid_at, fee_billed)
            SELECT %s, 3 + s, current_date - s, 1.00, 0, 0, 1.00, 0, 0, 0, 0, 0, 'paid', now(), true
            FROM generate_series(1, %s) s
            """,
            [plan.pk, installments - 3],
        )
    return str(RefreshToken.for_user(user).access_token)


def line(what: str, rate: str, ratio: str, p50: str = "", p99: str = "", memory: str = "") -> str:
    return f"| {what} | {rate} | {ratio} | {p50} | {p99} | {memory} |"


def http_line(what: str, r: dict, ratio: str, memory: str = "") -> str:
    return line(what, f"{r['rate']:,.0f} req/s", ratio, f"{r['p50']:.1f} ms", f"{r['p99']:.1f} ms", memory)


def debit_line(what: str, f: dict, tps: float) -> str:
    return line(
        what,
        f"{f.get('rate', 0):,.0f} debits/s",
        f"{f.get('rate', 0) / tps:.2f} x TPS",
        f"{f.get('p50', 0):.2f} s/chunk",
        f"{f.get('p99', 0):.2f} s/chunk",
        f"{f.get('peak_mb', 0):.0f} MB",
    )


def write_doc(text: str) -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    block = f"{START}\n{text}\n{END}"
    if START in current:
        current = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, current, flags=re.S)
    else:
        current = current.replace("\n", f"\n\n{block}\n", 1)
    DOC.write_text(current, encoding="utf-8")


def main() -> None:
    os.environ.setdefault("AUTODEBIT_GATEWAY_CONCURRENCY", "128")  # gateway calls in flight per worker
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="due installments in the debit runs")
    parser.add_argument("--http-seconds", type=int, default=10)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument(
        "--growth",
        type=int,
        nargs="*",
        default=[],
        help="also run the debit run (2 processes per core, 0 ms) at these sizes, e.g. --growth 10000 100000",
    )
    parser.add_argument(
        "--gateway",
        choices=ad.GATEWAYS,
        default="http",
        help="http: the bank service as its own process (batch debits); simulated: the in-process bank",
    )
    parser.add_argument(
        "--sweep-only",
        action="store_true",
        help="only the sweep's normal day on fresh books of --n plans of 3 installments; prints, no doc",
    )
    args = parser.parse_args()
    with ad.autovacuum_on():
        if args.sweep_only:
            sweep_only(args)
        else:
            run(args)


def sweep_only(args: argparse.Namespace) -> None:
    """The sweep's normal day (``ad.sweep_normal_day``) on books loaded for it alone (``ad.load``: --n
    plans of 3 installments, the first due today), three times, against pgbench measured right before."""
    tps = ad.pgbench_tps(args.pgbench_seconds, clients=2)
    print(f"pgbench TPC-B (scale 10, 2 clients, {args.pgbench_seconds} s): {tps:,.0f} TPS", flush=True)
    for _ in range(3):
        ad.reset_database()
        if "django" not in sys.modules:
            ad.setup_django(0)
        ad.load(args.n)
        ad.vacuum()  # a book that lives in production is vacuumed: hint bits set, not by the timed sweep
        book = ad.sweep_normal_day(0.05)
        print(
            f"overdue sweep, normal day (5% go late): {book:,.0f} book inst/s ({book / tps:.0f} x TPS)",
            flush=True,
        )


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    lines: list[str] = []

    tps = ad.pgbench_tps(args.pgbench_seconds, clients=2)
    lines.append(
        f"Yardstick: pgbench TPC-B, scale 10, 2 clients, {args.pgbench_seconds} s: **{tps:,.0f} TPS**.\n"
    )

    lines.append("| measurement | rate | x yardstick | p50 | p99 | peak memory |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    cores = os.cpu_count() or 1
    production = 2 * cores  # worker processes on the debits queue, as docs/operations.md sets them
    bank = "bank service, batches" if args.gateway == "http" else "in-process bank"
    for workers in (cores, production):
        for latency in (0, 100):
            f, _load = ad.debit_run_measured(args.n, latency, workers, args.gateway)
            lines.append(
                debit_line(
                    f"debit run, N={args.n:,}, {workers} processes, {latency} ms gateway ({bank})", f, tps
                )
            )
    book, late = ad.sweep_rates(0.05)
    first_cost = None
    for n in args.growth:
        f, _load = ad.debit_run_measured(n, 0, production, args.gateway)
        cost = 1 / f["rate"] if f["rate"] else 0.0
        first_cost = first_cost or cost
        lines.append(
            debit_line(f"growth: debit run, N={n:,} ({cost / first_cost:.2f}x time per debit)", f, tps)
        )
    lines.append(
        f"| overdue sweep, normal day (5% go late) | {book:,.0f} book inst/s | {book / tps:.0f} x TPS | | | |"
    )
    lines.append(
        f"| overdue sweep, every plan goes late | {late:,.0f} late inst/s | {late / tps:.1f} x TPS | | | |"
    )

    # HTTP: the bills endpoint against the ceiling, then growth, then payments during a debit run.
    ad.reset_database()
    ad.load(args.n)
    rows = tokens_for(50)
    with ad.gateway_for_run(args.gateway, 0) as bank_url:
        errors = http_rows(args, lines, rows, tps, production, bank_url)
    minutes = (time.perf_counter() - started) / 60
    lines.append(f"\nNon-2xx responses under load: {errors}. The whole run took {minutes:.1f} minutes.")
    text = "\n".join(lines)
    print(text)
    header = (
        f"## Side by side (`.venv/bin/python bench/run.py --n {args.n} --http-seconds {args.http_seconds}`), "
        f"{time.strftime('%Y-%m-%d')}\n\n"
    )
    write_doc(header + text)
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)


def http_rows(
    args: argparse.Namespace,
    lines: list[str],
    rows: list[tuple[str, str, str]],
    tps: float,
    production: int,
    bank_url: str,
) -> int:
    """The HTTP measurements (gunicorn; the payments and the debit run beside them charge ``bank_url``,
    or the in-process bank when it is empty); adds their lines, returns the non-2xx responses."""
    server = start_gunicorn(bank_url)
    try:
        auth = {"Authorization": f"Bearer {rows[0][0]}"}
        bare = wrk(f"{BASE}/bench/one-query/", args.http_seconds, {})
        bills = wrk(f"{BASE}/api/v1/bills/", args.http_seconds, auth)
        lines.append(http_line("GET /bench/one-query/ (bare view, the ceiling)", bare, "1.00"))
        lines.append(
            http_line(
                "GET /api/v1/bills/ (3 installment rows)",
                bills,
                f"{bills['rate'] / bare['rate']:.2f} x bare",
                f"{gunicorn_peak_mb(server):.0f} MB",
            )
        )
        long_token = long_history_customer(700)
        long_bills = wrk(
            f"{BASE}/api/v1/bills/", args.http_seconds, {"Authorization": f"Bearer {long_token}"}
        )
        lines.append(
            http_line(
                "GET /api/v1/bills/ (700 installment rows)",
                long_bills,
                f"{long_bills['rate'] / bills['rate']:.2f} x 3 rows",
            )
        )
        alone = wrk(BASE, args.http_seconds, {}, post_script(rows))
        procs = ad.start_workers(production, 0, bank_url=bank_url)
        debit: dict = {}
        runner = threading.Thread(target=lambda: debit.update(ad.debit_run(procs)))
        runner.start()
        during = wrk(BASE, args.http_seconds, {}, post_script(rows))
        runner.join()
        for p in procs:
            p.terminate()
        lines.append(
            http_line("POST /api/v1/repayments/ alone (payments)", alone, f"{alone['rate'] / tps:.2f} x TPS")
        )
        lines.append(
            http_line(
                "POST /api/v1/repayments/ during a debit run",
                during,
                f"{during['rate'] / alone['rate']:.2f} x alone",
            )
        )
        lines.append(debit_line(f"that debit run ({production} worker processes, 0 ms)", debit, tps))
        return sum(r["non2xx"] for r in (bare, bills, long_bills, alone, during))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

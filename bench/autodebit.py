"""Benchmark of the auto-debit run against the machine's own yardstick (pgbench TPC-B), in one script.

    .venv/bin/python bench/autodebit.py --n 10000 [100000] [--workers 4] [--latency-ms 0 100]
                                        [--gateway http|simulated]

``--workers`` is the number of worker processes on the debits queue (each a solo-pool Celery worker, as one
child of a prefork worker would be); the default, 4 on this 2-core machine, is the production setting of
two processes per core (docs/operations.md). pgbench always runs with one client per core.

Needs PostgreSQL and Redis (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/, and REDIS_URL,
default redis://127.0.0.1:6379/15). It creates its own databases (bench_installments, bench_pgbench),
so it never touches the service's data. For each N and latency it:
1. loads N customers, each with a bound card, a plan with auto-debit on and an installment due today,
   with set-based SQL (generate_series), the cards' accounts at the bank, and the plans' journal entries
   (created; the first fee earned, as the morning sweep earns it), so the run posts its payments to a
   journal that must prove out: after each run up to 100,000 debits the script checks that every plan's
   receivables equal its installments and that debits equal credits ("journal ok");
2. with ``--gateway http`` (the default) starts the bank service as its own process
   (``python -m simulators.bank_service``, its own SQLite file in a temporary directory) and sets its
   latency through the bank's ``POST /v1/admin/faults``; the workers reach it with ``PAYMENT_GATEWAY=http``
   and charge in batches (批量代扣, ``AUTODEBIT_GATEWAY_BATCH_SIZE``). ``--gateway simulated`` uses the
   in-process simulated bank (its books in our database, ``GATEWAY_SIM_LATENCY_MS``) instead;
3. starts real Celery workers on Redis and runs the debit slot as production does (chunks fanned out);
4. prints debits/s, the ratio to pgbench TPS measured right before and right after it (their mean),
   p50/p99 per-chunk latency and the workers' peak memory, and
   "+SMS/s": debits per second counted until the last customer's SMS was sent by the sms worker that runs
   beside them (SMS_SENDER=console, a provider whose cost is on its side).
It also times the overdue sweep over the same installments (see ``sweep_rates``). Figures go to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/").rstrip("/") + "/"
DB_URL = PG + "bench_installments"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PY = sys.executable
BANK_SECRET = "bench-bank-secret-0123456789abcdef0123"  # noqa: S105 - the bench's own bank, on loopback
GATEWAYS = ("http", "simulated")


def sh(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, check=check, capture_output=True, text=True)  # noqa: S603


def pg_host_args() -> list[str]:
    from urllib.parse import urlsplit

    parts = urlsplit(PG)
    return [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]


def pgbench_tps(seconds: int, clients: int, *, initialise: bool = True) -> float:
    """TPC-B on this PostgreSQL: the yardstick every figure is divided by. ``initialise=False`` measures
    again on the tables of an earlier call (scale 10), as the bench does right before each debit run."""
    if initialise:
        sh("dropdb", *pg_host_args(), "--if-exists", "bench_pgbench")
        sh("createdb", *pg_host_args(), "bench_pgbench")
        sh("pgbench", *pg_host_args(), "-i", "-q", "-s", "10", "bench_pgbench")
    out = sh(
        "pgbench",
        *pg_host_args(),
        "-c",
        str(clients),
        "-j",
        str(clients),
        "-T",
        str(seconds),
        "bench_pgbench",
    ).stdout
    for line in out.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(out)


def psql(sql: str) -> str:
    return sh("psql", *pg_host_args(), "-d", "postgres", "-Atc", sql).stdout.strip()


@contextmanager
def autovacuum_on() -> Iterator[None]:
    """This machine's PostgreSQL runs with autovacuum off (its conf.d/90-ci.conf, for repeatable tests).
    No production server does: without it a million-row day leaves its statistics stale and its dead
    rows in place, and the planner and every index pay for it. The bench turns autovacuum on while it
    runs (ALTER SYSTEM, reloaded) and gives the server its own setting back afterwards."""
    if psql("SHOW autovacuum") == "on":
        yield
        return
    psql("ALTER SYSTEM SET autovacuum = on")
    psql("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        psql("ALTER SYSTEM RESET autovacuum")
        psql("SELECT pg_reload_conf()")


def django_env(latency_ms: int, bank_url: str = "") -> dict:
    """The service's environment; ``bank_url``: the workers charge the bank service over HTTP (its latency
    is set at the bank), else the in-process simulator with ``latency_ms``."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DB_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DJANGO_DEBUG="false",
        GATEWAY_SIM_LATENCY_MS=str(latency_ms),
        SMS_SENDER="console",  # a provider whose cost is on its side; INFO lines dropped
        LOG_LEVEL="WARNING",
        CACHE_KEY_PREFIX="bench",
    )
    if bank_url:
        env.update(PAYMENT_GATEWAY="http", GATEWAY_HTTP_URL=bank_url, GATEWAY_HTTP_SECRET=BANK_SECRET)
    return env


def setup_django(latency_ms: int) -> None:
    os.environ.update(django_env(latency_ms))
    import django

    django.setup()


LOAD_SQL = """
INSERT INTO accounts_user (password, last_login, is_superuser, public_id, phone, real_name, language,
                           is_staff, is_active, date_joined, token_version)
SELECT '!', NULL, false, md5(random()::text || g)::uuid, '+86139' || lpad(g::text, 8, '0'), '用户', 'zh-hans',
       false, true, now(), 0
FROM generate_series(1, %(n)s) g;

INSERT INTO repayments_simulatedcardaccount (token, fingerprint, last4, bank_code, card_type, behaviour,
                                             balance, single_use, closed, created_at)
SELECT 'tok_' || lpad(to_hex(u.id), 24, '0'), md5('fp' || u.id), lpad((u.id %% 10000)::text, 4, '0'),
       'ICBC', 'debit', 'normal', 100000.00, false, false, now()
FROM accounts_user u WHERE u.phone LIKE '+86139%%';

INSERT INTO repayments_bankcard (public_id, customer_id, gateway_token, fingerprint, bank_code, bank_name,
                                 card_type, last4, reserved_phone_masked, is_default, status, bound_at)
SELECT md5('card' || u.id)::uuid, u.id, 'tok_' || lpad(to_hex(u.id), 24, '0'), md5('fp' || u.id), 'ICBC',
       '工商银行', 'debit', lpad((u.id %% 10000)::text, 4, '0'), '139****0000', true, 'active', now()
FROM accounts_user u WHERE u.phone LIKE '+86139%%';

INSERT INTO installments_installmentplan (public_id, customer_id, product_id, kind, merchant_order_ref,
    description, principal, tenor, fee_method, fee_rate, penalty_daily_rate, grace_days,
    prepayment_fee_policy, prepayment_fee_rate, total_fee, apr_percent, purchase_date, first_due_date,
    status, created_at, updated_at, days_past_due, delinquency_bucket, charge_off_after_days, penalty_base,
    penalty_cap_amount, max_all_in_apr_percent, arrears_tolerance, extension_max, extensions_used,
    penalty_total, ceiling_headroom)
SELECT md5('plan' || u.id)::uuid, u.id, %(product)s, 'original', 'B' || u.id, 'bench', 300.00, 3, 'flat_fee',
       0.005, 0.0005, 3, 'waive_future_fees', 0, 4.50, 8.98, %(purchase)s, %(today)s, 'active', now(), now(),
       0, 'M0', 180, 'principal', 75.00, 24.00, 1.00, 1, 0, 0, %(headroom)s
FROM accounts_user u WHERE u.phone LIKE '+86139%%';

INSERT INTO installments_installment (plan_id, sequence, due_date, principal_due, fee_due, penalty_due,
    principal_paid, fee_paid, penalty_paid, principal_waived, fee_waived, penalty_waived, status, paid_at,
    fee_billed)
SELECT p.id, s, (%(today)s::date + ((s - 1) || ' month')::interval)::date, 100.00, 1.50, 0, 0, 0, 0, 0, 0, 0,
       'pending', NULL, false
FROM installments_installmentplan p CROSS JOIN generate_series(1, 3) s WHERE p.merchant_order_ref LIKE 'B%%';

INSERT INTO repayments_autodebitmandate (plan_id, card_id, enabled, updated_at)
SELECT p.id, c.id, true, now() FROM installments_installmentplan p
JOIN repayments_bankcard c ON c.customer_id = p.customer_id WHERE p.merchant_order_ref LIKE 'B%%';

INSERT INTO installments_journalentry (key, kind, business_date, plan_id, reference, memo, created_at)
SELECT 'plan:' || p.id, 'plan_created', p.purchase_date, p.id, p.public_id::text, '', now()
FROM installments_installmentplan p WHERE p.merchant_order_ref LIKE 'B%%';

INSERT INTO installments_journalline (entry_id, account, debit, credit, plan_id, customer_id, business_date)
SELECT e.id, a.account, a.debit, a.credit, p.id, p.customer_id, p.purchase_date
FROM installments_installmentplan p JOIN installments_journalentry e ON e.key = 'plan:' || p.id
CROSS JOIN LATERAL (VALUES ('1100', p.principal, 0::numeric), ('2000', 0, p.principal),
                           ('1110', p.total_fee, 0), ('2100', 0, p.total_fee)) a(account, debit, credit)
WHERE p.merchant_order_ref LIKE 'B%%';

INSERT INTO installments_journalentry (key, kind, business_date, plan_id, reference, memo, created_at)
SELECT 'fee:' || i.id, 'fee_billed', i.due_date, i.plan_id, '#1', '', now()
FROM installments_installment i WHERE i.sequence = 1 AND i.due_date = %(today)s;

INSERT INTO installments_journalline (entry_id, account, debit, credit, plan_id, customer_id, business_date)
SELECT e.id, a.account, a.debit, a.credit, i.plan_id, p.customer_id, i.due_date
FROM installments_installment i JOIN installments_installmentplan p ON p.id = i.plan_id
JOIN installments_journalentry e ON e.key = 'fee:' || i.id
CROSS JOIN LATERAL (VALUES ('2100', i.fee_due, 0::numeric), ('4000', 0, i.fee_due)) a(account, debit, credit)
WHERE i.sequence = 1 AND i.due_date = %(today)s;

UPDATE installments_installment SET fee_billed = true WHERE sequence = 1 AND due_date = %(today)s;
"""


def reset_database() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    sh("redis-cli", "-u", REDIS_URL, "flushdb")
    sh("dropdb", *pg_host_args(), "--if-exists", "--force", "bench_installments")
    sh("createdb", *pg_host_args(), "bench_installments")
    sh(PY, "manage.py", "migrate", "-v0", env=django_env(0))


def add_months(day: date, months: int) -> date:
    """PostgreSQL's ``date + 'n month'::interval``: the same day of the month, or the month's last day."""
    import calendar

    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def load(n: int) -> float:
    from datetime import timedelta
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from installments.cost import ceiling_headroom
    from installments.models import InstallmentProduct

    product, _ = InstallmentProduct.objects.get_or_create(
        code="bench", defaults={"name": "bench", "fee_method": "flat_fee", "fee_rate": "0.005", "tenors": [3]}
    )
    today = timezone.localdate()
    purchase = today - timedelta(days=31)
    # Every plan has the same schedule: 3 x 101.50 monthly from today (as LOAD_SQL's interval steps them).
    dues = [today, add_months(today, 1), add_months(today, 2)]
    headroom = ceiling_headroom(
        principal=Decimal("300.00"),
        purchase_date=purchase,
        flows=[(d, Decimal("101.50")) for d in dues],
        apr_percent=Decimal("24.00"),
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in LOAD_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(
                    statement,
                    {
                        "n": n,
                        "product": product.pk,
                        "today": today,
                        "purchase": purchase,
                        "headroom": headroom,
                    },
                )
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def vacuum() -> None:
    """VACUUM ANALYZE the bench database (outside a transaction): the freshly loaded rows get their hint
    bits and visibility map set, as a long-lived book has them, so a timed statement does not write them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def bank_token(user_id: int) -> str:
    """The card token LOAD_SQL gives a customer: in the banks' own format (``tok_`` + 24 hex)."""
    return f"tok_{user_id:024x}"


def load_bank_accounts(path: Path) -> float:
    """The bench customers' card accounts in the bank service's books (its SQLite file, written before
    it starts, as a bank's card base exists before a debit run); each with 100,000.00."""
    from django.db import connection

    from simulators.bank_service.books import Books

    started = time.perf_counter()
    Books(path, fingerprint_key=BANK_SECRET.encode())  # the schema
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_user WHERE phone LIKE '+86139%%' ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO accounts (token, fingerprint, last4, bank_code, bank_name, card_type, behaviour,"
            " balance_fen, closed, single_use, created_at)"
            " VALUES (?, ?, ?, 'ICBC', '工商银行', 'debit', 'normal', 10000000, 0, 0, ?)",
            ((bank_token(i), f"fp{i}", f"{i % 10000:04d}", now) for i in ids),
        )
    return time.perf_counter() - started


@contextmanager
def bank_service(latency_ms: int) -> Iterator[str]:
    """The bank service as its own process on a free port, with its own books (a temporary SQLite file
    holding the loaded customers' accounts) and ``latency_ms`` set through its admin API. Yields its URL."""
    from repayments.http_gateway import HttpGateway

    with tempfile.TemporaryDirectory(prefix="bench-bank-") as folder:
        books = Path(folder) / "bank.sqlite3"
        load_bank_accounts(books)
        env = {**os.environ, "BANK_API_SECRET": BANK_SECRET}
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [PY, "-m", "simulators.bank_service", "--quiet", "--port", "0", "--database", str(books)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            found = re.search(r"listening on (http://\S+)", process.stdout.readline())
            if found is None:
                raise RuntimeError("the bank service did not start")
            url = found.group(1)
            admin = HttpGateway(url=url, secret=BANK_SECRET)
            admin.simulator_admin("POST", "faults", {"latency_ms": latency_ms})
            admin.close()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()


@contextmanager
def gateway_for_run(gateway: str, latency_ms: int) -> Iterator[str]:
    """The bank the run's workers charge: yields the bank service's URL, or "" for the in-process one."""
    if gateway == "http":
        with bank_service(latency_ms) as url:
            yield url
    else:
        yield ""


CELERY_WORKER = (PY, "-m", "celery", "-A", "config", "worker", "--pool", "solo")


def _worker(env: dict, name: str, queue: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [*CELERY_WORKER, "-n", f"{name}@%h", "--loglevel", "WARNING", "-Q", queue],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_workers(
    count: int, latency_ms: int, sms_workers: int = 1, bank_url: str = ""
) -> list[subprocess.Popen]:
    """``count`` debit workers, and ``sms_workers`` on the sms queue sending the debits' messages as they
    are written (as production runs them), so the figures include telling the customer. ``bank_url``: they
    charge the bank service there (``django_env``)."""
    env = django_env(latency_ms, bank_url)
    workers = [_worker(env, f"bench{i}", "bench") for i in range(count)]
    workers += [_worker(env, f"sms{i}", "sms") for i in range(sms_workers)]
    time.sleep(4)
    return workers


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def wait_for_sms(expected: int, stall_seconds: float = 30.0) -> float:
    """When the last of the run's SMS was done with (perf_counter): sent, or suppressed by the daily limit
    (the payment bench's customers pay often); polls once a second and gives up after ``stall_seconds``
    without progress (no SMS worker running, say)."""
    from notifications.models import Notification

    codes = ["autodebit_succeeded", "autodebit_failed"]
    last, last_change = -1, time.perf_counter()
    while True:
        sent = Notification.objects.filter(template_code__in=codes).exclude(status="pending").count()
        now = time.perf_counter()
        if sent >= expected:
            return now
        if sent != last:
            last, last_change = sent, now
        elif now - last_change > stall_seconds:
            print(f"  only {sent:,} of {expected:,} SMS done; gave up waiting", file=sys.stderr)
            return now
        time.sleep(1)


def debit_run(workers: list[subprocess.Popen]) -> dict:
    from django.utils import timezone

    from repayments.services import debit_run_plan
    from repayments.tasks import debit_chunk

    started = time.perf_counter()
    run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=1)
    results = [
        debit_chunk.apply_async((c.run_id, c.first_plan_id, c.last_plan_id), queue="bench") for c in chunks
    ]
    latencies = [r.get(timeout=3600)["seconds"] for r in results]
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    latencies.sort()
    told = wait_for_sms(run.succeeded + run.failed) - started
    return {
        "attempts": run.attempts,
        "succeeded": run.succeeded,
        "seconds": elapsed,
        "rate": run.attempts / elapsed if elapsed else 0.0,
        "sms_seconds": told,
        "sms_rate": run.attempts / told if told else 0.0,
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0,
        "peak_mb": max(peak_rss_mb(w.pid) for w in workers),
        "load": os.getloadavg()[0],  # the machine's 1-minute load as the run ended (other work on it)
    }


def sweep_normal_day(late_share: float) -> float:
    """A normal day's overdue sweep: ``late_share`` of the plans have an installment that fell due 5 days
    ago (past the 3 grace days), so the sweep marks it, charges its penalty under the plan's cap and cost
    ceiling, moves the plan to M1 and writes a credit event; every other installment is read and left
    alone. Rate = installments in the book per second."""
    from datetime import timedelta

    from django.db.models import F
    from django.utils import timezone

    from installments.models import Installment
    from installments.services import overdue_sweep

    today = timezone.localdate()
    book = Installment.objects.filter(plan__status__in=["active", "overdue"]).count()
    every = max(1, round(1 / late_share))
    late = Installment.objects.filter(status="pending", sequence=2).annotate(m=F("plan_id") % every)
    five_days_ago = today - timedelta(days=5)
    Installment.objects.filter(pk__in=late.filter(m=0).values("pk")).update(due_date=five_days_ago)
    started = time.perf_counter()
    overdue_sweep(as_of=today)
    return book / (time.perf_counter() - started)


def sweep_rates(late_share: float) -> tuple[float, float]:
    """The overdue sweep timed twice over the same book.

    1. A normal day (``sweep_normal_day``). Rate = installments in the book per second.
    2. The worst day: every remaining plan goes late at once. Rate = late installments written per second.
    """
    from datetime import timedelta

    from django.utils import timezone

    from installments.models import Installment
    from installments.services import overdue_sweep

    book_rate = sweep_normal_day(late_share)
    today = timezone.localdate()
    Installment.objects.filter(status="pending", sequence=2).update(due_date=today - timedelta(days=5))
    started = time.perf_counter()
    marked = overdue_sweep(as_of=today).marked_overdue
    return book_rate, marked / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--pgbench-clients", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument("--late-share", type=float, default=0.05, help="plans going late on the sweep's day")
    parser.add_argument(
        "--gateway",
        choices=GATEWAYS,
        default="http",
        help="http: the bank service as its own process (batch debits); simulated: the in-process bank",
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip timing the overdue sweep")
    args = parser.parse_args()
    with autovacuum_on():
        run(args)


def run(args: argparse.Namespace) -> None:
    """Each debit run between two pgbench measurements of its own, its ratio to their mean: the machine is
    shared, and its load moves within minutes."""
    first = pgbench_tps(args.pgbench_seconds, clients=args.pgbench_clients)
    print(
        f"pgbench TPC-B (scale 10, {args.pgbench_clients} clients, {args.pgbench_seconds} s):"
        f" {first:,.0f} TPS; {args.workers} worker processes; gateway {args.gateway};"
        f" load {os.getloadavg()[0]:.2f}"
    )
    rows = []
    for n in args.n:
        for latency in args.latency_ms:
            before = pgbench_tps(args.pgbench_seconds, clients=args.pgbench_clients, initialise=False)
            figures, load_seconds = debit_run_measured(n, latency, args.workers, args.gateway)
            after = pgbench_tps(args.pgbench_seconds, clients=args.pgbench_clients, initialise=False)
            tps = (before + after) / 2
            sweeps = (0.0, 0.0) if args.no_sweep else sweep_rates(args.late_share)
            rows.append((n, latency, tps, figures, *sweeps))
            print(
                f"  N={n:,} {latency} ms: {figures['rate']:,.0f} debits/s; pgbench just before {before:,.0f}"
                f" and just after {after:,.0f} TPS: {figures['rate'] / tps:.2f}x their mean;"
                f" loaded in {load_seconds:.0f} s; {figures['journal']}"
            )
    print()
    print(
        f"{'N':>9} {'lat ms':>6} {'debits':>8} {'ok':>8} {'s':>7} {'debits/s':>9} {'TPS':>6} {'x TPS':>6} "
        f"{'us/debit':>8} {'p50 chunk s':>11} {'p99 chunk s':>11} {'peak MB':>8} {'+SMS/s':>7} "
        f"{'sweep book/s':>12} {'all-late/s':>10} {'load':>5}"
    )
    for n, latency, tps, f, book, all_late in rows:
        print(
            f"{n:>9,} {latency:>6} {f['attempts']:>8,} {f['succeeded']:>8,} {f['seconds']:>7.1f} "
            f"{f['rate']:>9,.0f} {tps:>6,.0f} {f['rate'] / tps:>6.2f} "
            f"{1e6 / f['rate'] if f['rate'] else 0:>8,.0f} "
            f"{f['p50']:>11.2f} {f['p99']:>11.2f} {f['peak_mb']:>8.0f} {f['sms_rate']:>7,.0f} "
            f"{book:>12,.0f} {all_late:>10,.0f} {f['load']:>5.2f}"
        )


def debit_run_measured(n: int, latency: int, workers: int, gateway: str) -> tuple[dict, float]:
    """One debit run of ``n`` plans at ``latency`` ms against ``gateway``, on a fresh database (and a
    fresh bank): its figures (``debit_run``) and how long the load took."""
    reset_database()
    if "django" not in sys.modules:
        setup_django(latency)
    load_seconds = load(n)
    with gateway_for_run(gateway, latency) as bank_url:
        procs = start_workers(workers, latency, bank_url=bank_url)
        try:
            figures = debit_run(procs)
        finally:
            for w in procs:
                w.terminate()
            for w in procs:
                w.wait(timeout=30)
    figures["journal"] = journal_state() if n <= 100_000 else "not checked"
    return figures, load_seconds


def journal_state() -> str:
    """Whether the run left the journal proving out: sub-ledger = general ledger, debits = credits."""
    from datetime import date

    from installments.journal import sub_ledger_gaps
    from installments.selectors import trial_balance

    gaps = sub_ledger_gaps()
    tb = trial_balance(as_of=date.max)
    if gaps or not tb.balanced:
        return f"BROKEN: {len(gaps)} plan accounts differ, debits {tb.debit} credits {tb.credit}"
    return f"journal ok (debits = credits = {tb.debit:,.2f})"


if __name__ == "__main__":
    main()

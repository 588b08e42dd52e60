"""The daily overdue sweep (逾期): set-based SQL, idempotent per business date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from accounts.models import User
from accounts.staff_groups import AGENT
from core.money import quantize_money
from installments import journal
from installments.ledger import BUCKET_LIMITS, OPEN_STATUSES, PAYABLE_PLAN_STATUSES, headroom_recompute
from installments.models import (
    ZERO,
    Account,
    CaseCloseReason,
    CaseStatus,
    CollectionCase,
    CreditEvent,
    CreditEventKind,
    DelinquencyBucket,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    JournalEntry,
    JournalLine,
    NegotiationApplication,
    PenaltyBase,
    PlanFreeze,
    PlanStatus,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from notifications.services import NotificationRequest, notifications_create_bulk, recipients

# The business date as a query parameter, in the backend's form (``adapt_datefield_value``): PostgreSQL's
# driver takes the date itself, SQLite's the ISO text.
SqlDate = date | str


@dataclass(frozen=True)
class SweepResult:
    """What one run of the overdue sweep changed; a re-run for the same date reports all zeros."""

    marked_overdue: int = 0
    # Overdue installments whose open amount fell to the arrears tolerance: due again, not late.
    back_to_pending: int = 0
    penalties_accrued: int = 0
    penalty_amount: Decimal = ZERO
    plans_updated: int = 0
    credit_events: int = 0
    fees_billed: int = 0
    cases_opened: int = 0
    cases_closed: int = 0
    # Plans whose penalty reached its cap or the cost ceiling today (accrual stops for good, one SMS each).
    plans_capped: int = 0
    # Plans whose room under the ceiling was computed first (plans from before the ceiling, once).
    headrooms_computed: int = 0


def _days_between(vendor: str, later: str, earlier: str) -> str:
    """Whole days ``later - earlier`` as an integer SQL expression: date minus date differs per backend."""
    if vendor == "postgresql":
        return f"(({later})::date - ({earlier})::date)"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _sql_tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    return {
        "inst": qn(Installment._meta.db_table),
        "plan": qn(InstallmentPlan._meta.db_table),
        "event": qn(CreditEvent._meta.db_table),
        "entry": qn(JournalEntry._meta.db_table),
        "line": qn(JournalLine._meta.db_table),
        "case": qn(CollectionCase._meta.db_table),
        "nego": qn(NegotiationApplication._meta.db_table),
        "user": qn(User._meta.db_table),
        "user_groups": qn(User.groups.through._meta.db_table),
        "group": qn(Group._meta.db_table),
    }


def _two_lines(debit: Account, credit: Account) -> str:
    """The two lines of a set-based journal posting as a derived table ``a(account, dr)``, joined to the
    rows that post (portable SQL: SQLite names no VALUES columns)."""
    return f"(SELECT '{debit.value}' AS account, 1 AS dr UNION ALL SELECT '{credit.value}', 0) a"


def _bill_fees(cursor: CursorWrapper, as_of: SqlDate) -> int:
    """Earn the fees of installments that fall due by ``as_of`` (unearned -> fee income): one entry per
    installment, keyed ``fee:<installment>`` like a fee earned early by a payment, so a fee is earned once.
    Three set-based statements on either backend; the partial index on unbilled installments keeps the
    scan to the ones not yet billed."""
    t = _sql_tables()
    rows = f"""FROM {t["inst"]} i JOIN {t["plan"]} p ON p.id = i.plan_id"""
    where = """
        WHERE i.fee_billed = %(false)s AND i.due_date <= %(as_of)s AND i.status IN (%(pending)s, %(overdue)s)
          AND p.status IN (%(active)s, %(plan_overdue)s)
    """
    params = {
        "as_of": as_of,
        "false": False,
        "pending": InstallmentStatus.PENDING.value,
        "overdue": InstallmentStatus.OVERDUE.value,
        "active": PlanStatus.ACTIVE.value,
        "plan_overdue": PlanStatus.OVERDUE.value,
        "kind": EntryKind.FEE_BILLED.value,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    fee = "(i.fee_due - i.fee_paid - i.fee_waived)"
    if connection.vendor == "postgresql":
        return _bill_fees_pg(cursor, where, fee, params)
    cursor.execute(
        f"""
        INSERT INTO {t["entry"]} (key, kind, business_date, plan_id, reference, memo, created_at)
        SELECT 'fee:' || i.id, %(kind)s, %(as_of)s, i.plan_id, '#' || i.sequence, '', %(now)s
        {rows} {where} AND {fee} > 0
        """,
        params,
    )
    billed = cursor.rowcount
    if billed:
        cursor.execute(
            f"""
            INSERT INTO {t["line"]} (entry_id, account, debit, credit, plan_id, customer_id, business_date)
            SELECT e.id, a.account, CASE WHEN a.dr = 1 THEN {fee} ELSE 0 END,
                   CASE WHEN a.dr = 1 THEN 0 ELSE {fee} END, i.plan_id, p.customer_id, %(as_of)s
            {rows} JOIN {t["entry"]} e ON e.key = 'fee:' || i.id
            CROSS JOIN {_two_lines(Account.UNEARNED_FEES, Account.FEE_INCOME)}
            {where} AND {fee} > 0
            """,
            params,
        )
    cursor.execute(
        f"UPDATE {t['inst']} SET fee_billed = %(true)s WHERE id IN (SELECT i.id {rows} {where})",  # noqa: S608
        {**params, "true": True},
    )
    return billed


def _bill_fees_pg(cursor: CursorWrapper, where: str, fee: str, params: dict[str, Any]) -> int:
    """``_bill_fees`` as one statement on PostgreSQL: the installments are marked billed as they are read
    (the UPDATE returns what to post; a fee still 0 is marked, not posted), and each
    entry's id is drawn from its sequence before the entry and its lines are inserted (as the penalty
    statement does), so the lines need not look their entries up by key."""
    t = _sql_tables()
    cursor.execute(
        f"""
        WITH due AS (
            UPDATE {t["inst"]} i SET fee_billed = %(true)s FROM {t["plan"]} p
            {where} AND p.id = i.plan_id
            RETURNING i.id, i.plan_id, i.sequence, p.customer_id, {fee} AS fee
        ), fe AS (
            SELECT due.*, nextval(pg_get_serial_sequence(%(entry_table)s, 'id')) AS entry_id
            FROM due WHERE fee > 0
        ), je AS (
            INSERT INTO {t["entry"]} (id, key, kind, business_date, plan_id, reference, memo, created_at)
            SELECT entry_id, 'fee:' || id, %(kind)s, %(as_of)s, plan_id, '#' || sequence, '', %(now)s FROM fe
        ), jl AS (
            INSERT INTO {t["line"]} (entry_id, account, debit, credit, plan_id, customer_id, business_date)
            SELECT fe.entry_id, a.account, CASE WHEN a.dr = 1 THEN fe.fee ELSE 0 END,
                   CASE WHEN a.dr = 1 THEN 0 ELSE fe.fee END, fe.plan_id, fe.customer_id, %(as_of)s
            FROM fe CROSS JOIN {_two_lines(Account.UNEARNED_FEES, Account.FEE_INCOME)}
        )
        SELECT COUNT(*) FROM fe
        """,  # noqa: S608 (constant SQL, values are parameters)
        {**params, "true": True, "entry_table": JournalEntry._meta.db_table},
    )
    return int(cursor.fetchone()[0])


def _sweep_lock(cursor: CursorWrapper) -> None:
    """Serialize concurrent sweeps on PostgreSQL (SQLite already has a single writer)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('installments.overdue_sweep'))")


@dataclass(frozen=True)
class _Swept:
    """What the installment step did: marked overdue, back to pending (within the arrears tolerance),
    installments charged, the amount, and plans that reached their cap or ceiling today."""

    marked: int = 0
    back_to_pending: int = 0
    accrued: int = 0
    amount: Decimal = ZERO
    capped: int = 0
    # Plans that would have been charged but have no headroom yet (PostgreSQL reports them, not charged).
    missing: tuple[int, ...] = ()

    def __add__(self, other: _Swept) -> _Swept:
        return _Swept(
            marked=self.marked + other.marked,
            back_to_pending=self.back_to_pending + other.back_to_pending,
            accrued=self.accrued + other.accrued,
            amount=self.amount + other.amount,
            capped=self.capped + other.capped,
            missing=other.missing,
        )


def _open(component: str, alias: str = "i") -> str:
    return f"({alias}.{component}_due - {alias}.{component}_paid - {alias}.{component}_waived)"


def _cents(expr: str) -> str:
    """A stored amount in whole cents (SQLite keeps decimals as REAL: rounded, never truncated)."""
    return f"CAST(ROUND({expr} * 100) AS INTEGER)"


def _open_cents(component: str, alias: str = "i") -> str:
    return (
        f"({_cents(f'{alias}.{component}_due')} - {_cents(f'{alias}.{component}_paid')}"
        f" - {_cents(f'{alias}.{component}_waived')})"
    )


def _frozen_days(vendor: str, plan_id: str, after: str, through: str) -> str:
    """How many days ``D`` with ``after < D <= through`` the plan is frozen on (``PlanFreeze``: frozen iff
    ``started_on <= D < COALESCE(ended_on, planned_end)``), as an integer SQL expression. A correlated
    probe of the (plan, started_on) index: nothing to read for a plan never frozen."""
    freeze = connection.ops.quote_name(PlanFreeze._meta.db_table)
    ends = "COALESCE(f.ended_on, f.planned_end)"
    if vendor == "postgresql":
        overlap = f"LEAST(({through})::date + 1, {ends}) - GREATEST(({after})::date + 1, f.started_on)"
        return (
            f"COALESCE((SELECT SUM(GREATEST({overlap}, 0)) FROM {freeze} f"  # noqa: S608
            f" WHERE f.plan_id = {plan_id} AND f.started_on <= ({through})::date), 0)"
        )
    low = f"MAX(date({after}, '+1 day'), f.started_on)"
    high = f"MIN(date({through}, '+1 day'), {ends})"
    return (
        f"COALESCE((SELECT SUM(MAX(CAST(julianday({high}) - julianday({low}) AS INTEGER), 0))"  # noqa: S608
        f" FROM {freeze} f WHERE f.plan_id = {plan_id} AND f.started_on <= {through}), 0)"
    )


def _installment_params(as_of: SqlDate) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "pending": InstallmentStatus.PENDING.value,
        "overdue": InstallmentStatus.OVERDUE.value,
        "active": PlanStatus.ACTIVE.value,
        "plan_overdue": PlanStatus.OVERDUE.value,
        "principal": PenaltyBase.PRINCIPAL.value,
        "token": journal.run_token(),
        "kind": EntryKind.PENALTY_ACCRUED.value,
    }


_CALC_TABLE = "installments_sweep_calc"


def _sweep_installments_sqlite(cursor: CursorWrapper, as_of: SqlDate) -> _Swept:
    """Steps 1 and 2 on SQLite (a single writer: nothing to lock), the same rule and cents as
    ``_sweep_installments_pg``: the day's statuses and charges are computed once into a temporary table
    (the plan's room reads the plan row, which the same step then rewrites), then written in three
    set-based statements and the journal in two. Amounts are integer cents (SQLite stores decimals as
    REAL); the ceiling's arithmetic is ``installments.cost`` through ``installments.sqlite_functions``."""
    t = _sql_tables()
    vendor = connection.vendor
    since = "COALESCE(i.penalty_accrued_through, i.due_date)"
    principal, fee, penalty = _open_cents("principal"), _open_cents("fee"), _open_cents("penalty")
    base = f"(CASE WHEN p.penalty_base = %(principal)s THEN {principal} ELSE {principal} + {fee} END)"
    params = _installment_params(as_of)
    cursor.execute(f"DROP TABLE IF EXISTS temp.{_CALC_TABLE}")
    cursor.execute(
        f"""CREATE TEMP TABLE {_CALC_TABLE} (id INTEGER, plan_id INTEGER, customer_id INTEGER,
            old_status TEXT, new_status TEXT, asked INTEGER, room INTEGER, plan_asked INTEGER,
            cents INTEGER)"""
    )
    cursor.execute(
        f"""
        WITH cand AS (
            SELECT i.id, i.plan_id, i.sequence, i.status AS old_status, i.due_date, {since} AS since,
                   {principal} + {fee} + {penalty} AS open_c, {base} AS base_c, p.customer_id,
                   {_cents("p.arrears_tolerance")} AS tolerance_c, p.grace_days,
                   CAST(ROUND(p.penalty_daily_rate * 1000000) AS INTEGER) AS rate_micro, p.penalty_capped_on,
                   {_cents("p.penalty_cap_amount")} - {_cents("p.penalty_total")} AS cap_left,
                   p.ceiling_headroom, p.max_all_in_apr_percent AS apr, p.purchase_date
            FROM {t["inst"]} i JOIN {t["plan"]} p ON p.id = i.plan_id
            WHERE p.status IN (%(active)s, %(plan_overdue)s) AND i.due_date < %(as_of)s
              AND i.status IN (%(pending)s, %(overdue)s)
        ), calc AS (
            SELECT c.*,
                   CASE WHEN c.old_status = %(pending)s AND c.open_c > c.tolerance_c THEN %(overdue)s
                        WHEN c.old_status = %(overdue)s AND c.open_c <= c.tolerance_c THEN %(pending)s
                        ELSE c.old_status END AS new_status,
                   {_days_between(vendor, "%(as_of)s", "c.due_date")}
                       - {_frozen_days(vendor, "c.plan_id", "c.due_date", "%(as_of)s")} AS net_days,
                   {_days_between(vendor, "%(as_of)s", "c.since")}
                       - {_frozen_days(vendor, "c.plan_id", "c.since", "%(as_of)s")} AS days
            FROM cand c
        ), ask AS (
            SELECT calc.*,
                   CASE WHEN new_status = %(overdue)s AND penalty_capped_on IS NULL AND net_days > grace_days
                             AND since < %(as_of)s AND base_c > 0 AND ceiling_headroom IS NOT NULL
                        THEN (rate_micro * base_c * days + 500000) / 1000000 END AS asked
            FROM calc
        ), rooms AS (
            SELECT plan_id, SUM(asked) AS plan_asked,
                   MAX(MIN(MIN(cap_left), fc_ceiling_room_cents(MIN(ceiling_headroom), MIN(apr),
                                                                MIN(purchase_date), %(as_of)s)), 0) AS room
            FROM ask WHERE asked IS NOT NULL GROUP BY plan_id
        )
        INSERT INTO {_CALC_TABLE} (id, plan_id, customer_id, old_status, new_status, asked, room, plan_asked,
                                   cents)
        SELECT ask.id, ask.plan_id, ask.customer_id, ask.old_status, ask.new_status, ask.asked, rooms.room,
               rooms.plan_asked,
               CASE WHEN ask.asked IS NOT NULL
                    THEN MIN(ask.asked, MAX(rooms.room - COALESCE(SUM(ask.asked) OVER (
                        PARTITION BY ask.plan_id ORDER BY ask.sequence
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) END
        FROM ask LEFT JOIN rooms ON rooms.plan_id = ask.plan_id
        WHERE ask.asked IS NOT NULL OR ask.new_status <> ask.old_status
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    cursor.execute(
        f"""SELECT COALESCE(SUM(old_status = %(pending)s AND new_status = %(overdue)s), 0),
                   COALESCE(SUM(old_status = %(overdue)s AND new_status = %(pending)s), 0),
                   COUNT(cents), COALESCE(SUM(cents), 0)
            FROM {_CALC_TABLE}""",  # noqa: S608
        params,
    )
    marked, back, accrued, total_cents = cursor.fetchone()
    if total_cents:
        _journal_penalties_sqlite(cursor, params)
    cursor.execute(
        f"""
        UPDATE {t["inst"]}
        SET status = c.new_status,
            penalty_due = (CAST(ROUND(penalty_due * 100) AS INTEGER) + COALESCE(c.cents, 0)) / 100.0,
            penalty_accrued_through = CASE WHEN c.asked IS NULL THEN penalty_accrued_through
                                           ELSE %(as_of)s END
        FROM {_CALC_TABLE} c WHERE {t["inst"]}.id = c.id
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    per_plan = f"""
        SELECT plan_id, COALESCE(SUM(cents), 0) AS cents, MIN(room) AS room, MIN(plan_asked) AS plan_asked
        FROM {_CALC_TABLE} WHERE asked IS NOT NULL GROUP BY plan_id
    """  # noqa: S608
    cursor.execute(f"SELECT COUNT(*) FROM ({per_plan}) WHERE plan_asked >= room")  # noqa: S608
    capped = cursor.fetchone()[0]
    cursor.execute(
        f"""
        UPDATE {t["plan"]}
        SET penalty_total = ({_cents("penalty_total")} + ch.cents) / 100.0,
            ceiling_headroom = CASE WHEN ch.cents > 0
                THEN fc_headroom_after(ceiling_headroom, ch.cents, max_all_in_apr_percent, purchase_date,
                                       %(as_of)s)
                ELSE ceiling_headroom END,
            penalty_capped_on = CASE WHEN ch.plan_asked >= ch.room THEN %(as_of)s ELSE penalty_capped_on END
        FROM ({per_plan}) ch
        WHERE {t["plan"]}.id = ch.plan_id AND (ch.cents > 0 OR ch.plan_asked >= ch.room)
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    cursor.execute(f"DROP TABLE temp.{_CALC_TABLE}")
    return _Swept(
        marked=int(marked),
        back_to_pending=int(back),
        accrued=int(accrued),
        amount=quantize_money(Decimal(int(total_cents)) / 100),
        capped=int(capped),
    )


def _journal_penalties_sqlite(cursor: CursorWrapper, params: dict[str, Any]) -> None:
    """The day's penalties in the journal, one entry per plan (penalty receivable vs penalty income), in
    two set-based statements: the capped cents the installments are charged."""
    t = _sql_tables()
    params = {**params, "now": connection.ops.adapt_datetimefield_value(timezone.now())}
    per_plan = f"""
        SELECT plan_id, customer_id, SUM(cents) AS cents, 'penalty:' || plan_id || ':' || %(as_of)s || ':'
               || %(token)s AS key
        FROM {_CALC_TABLE} GROUP BY plan_id, customer_id HAVING SUM(cents) > 0
    """  # noqa: S608 (constant SQL, values are parameters)
    cursor.execute(
        f"""
        INSERT INTO {t["entry"]} (key, kind, business_date, plan_id, reference, memo, created_at)
        SELECT key, %(kind)s, %(as_of)s, plan_id, '', '', %(now)s FROM ({per_plan})
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    cursor.execute(
        f"""
        INSERT INTO {t["line"]} (entry_id, account, debit, credit, plan_id, customer_id, business_date)
        SELECT e.id, a.account, CASE WHEN a.dr = 1 THEN pp.cents / 100.0 ELSE 0 END,
               CASE WHEN a.dr = 1 THEN 0 ELSE pp.cents / 100.0 END, pp.plan_id, pp.customer_id, %(as_of)s
        FROM ({per_plan}) pp JOIN {t["entry"]} e ON e.key = pp.key
        CROSS JOIN {_two_lines(Account.PENALTY_RECEIVABLE, Account.PENALTY_INCOME)}
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )


def _plan_targets_sql(vendor: str) -> str:
    """Each swept plan's current and recomputed delinquency, as one SELECT (used by steps 3 and 4).

    The status is ``installments.ledger.plan_status`` stated in SQL (any installment overdue: overdue;
    else any pending: active; else restructured if any installment is, paid off otherwise) and the bucket
    is ``ledger.bucket_for`` (``BUCKET_LIMITS``); tests/installments/test_ledger.py holds them together.
    The EXISTS probes use the (plan, sequence) index and stop at the first row; the last two are reached
    only for a plan with nothing open, which a payment has already marked paid off.

    Days past due are the oldest overdue installment's less the plan's frozen days since its due date
    (``PlanFreeze``: the clock stops while relief is decided), and at least 1 while anything is overdue (a
    plan frozen from its due date is late, in M1, and does not age).

    Only plans that can change are targets: a plan active and current (0 days, M0) with no overdue
    installment and one still pending keeps its status, days and bucket, so it is skipped before its
    targets are computed (most of the book on a normal day). A plan with nothing pending is still swept,
    so the sweep repairs one left active with nothing open, as the ledger's rule says. The overdue
    installments are read by the partial index ``installment_overdue``."""
    t = _sql_tables()
    days = _days_between(vendor, "%(as_of)s", "od.due")
    frozen = _frozen_days(vendor, "od.plan_id", "od.due", "%(as_of)s")
    biggest, least = ("GREATEST", "LEAST") if vendor == "postgresql" else ("MAX", "MIN")
    buckets = " ".join(
        f"WHEN COALESCE(o.days, 0) <= {limit} THEN %(bucket_{limit})s" for limit, _bucket in BUCKET_LIMITS
    )
    return f"""
        SELECT p.id AS plan_id, p.customer_id, p.status AS old_status,
               p.delinquency_bucket AS old_bucket, p.days_past_due AS old_days,
               COALESCE(o.days, 0) AS new_days,
               CASE WHEN o.plan_id IS NOT NULL THEN %(plan_overdue)s
                    WHEN EXISTS (SELECT 1 FROM {t["inst"]} x
                                 WHERE x.plan_id = p.id AND x.status = %(pending)s)
                        THEN %(active)s
                    WHEN EXISTS (SELECT 1 FROM {t["inst"]} x
                                 WHERE x.plan_id = p.id AND x.status = %(inst_restructured)s)
                        THEN %(restructured)s
                    ELSE %(paid_off)s END AS new_status,
               CASE {buckets} ELSE %(m3plus)s END AS new_bucket
        FROM {t["plan"]} p
        LEFT JOIN (
            SELECT od.plan_id, {biggest}({days} - {frozen}, {least}({days}, 1)) AS days FROM (
                SELECT plan_id, MIN(due_date) AS due FROM {t["inst"]}
                WHERE status = %(overdue)s GROUP BY plan_id
            ) od
        ) o ON o.plan_id = p.id
        WHERE p.status IN (%(active)s, %(plan_overdue)s)
          AND (o.plan_id IS NOT NULL OR p.status <> %(active)s OR p.days_past_due <> 0
               OR p.delinquency_bucket <> %(m0)s
               OR NOT EXISTS (SELECT 1 FROM {t["inst"]} x WHERE x.plan_id = p.id AND x.status = %(pending)s))
    """  # noqa: S608 (constant SQL, values are parameters)


# ``installments.ledger.credit_event_kind`` in SQL: the same rule, over the targets above.
_EVENT_KIND_SQL = """
    SELECT tg.*, CASE
        WHEN new_status = %(plan_overdue)s AND (old_status <> %(plan_overdue)s OR old_bucket = %(m0)s)
            THEN %(became_late)s
        WHEN new_status = %(active)s AND (old_status = %(plan_overdue)s OR old_bucket <> %(m0)s)
            THEN %(cured)s
        WHEN new_status = %(paid_off)s AND old_bucket <> %(m0)s
            THEN %(cured)s
        WHEN old_bucket <> new_bucket THEN %(bucket_changed)s
    END AS kind
    FROM {source}
"""


def _plan_params(as_of: SqlDate) -> dict[str, SqlDate]:
    return {
        "as_of": as_of,
        "overdue": InstallmentStatus.OVERDUE.value,
        "pending": InstallmentStatus.PENDING.value,
        "inst_restructured": InstallmentStatus.RESTRUCTURED.value,
        "active": PlanStatus.ACTIVE.value,
        "plan_overdue": PlanStatus.OVERDUE.value,
        "restructured": PlanStatus.RESTRUCTURED.value,
        "paid_off": PlanStatus.PAID_OFF.value,
        **{f"bucket_{limit}": bucket.value for limit, bucket in BUCKET_LIMITS},
        "m0": DelinquencyBucket.M0.value,
        "m3plus": DelinquencyBucket.M3_PLUS.value,
        "became_late": CreditEventKind.BECAME_LATE.value,
        "cured": CreditEventKind.CURED.value,
        "bucket_changed": CreditEventKind.BUCKET_CHANGED.value,
    }


def _update_plans(cursor: CursorWrapper, as_of: SqlDate) -> tuple[int, int]:
    """Steps 3 and 4: credit events from the plans' old and new state, then the plans themselves.

    Events are read from the state before the UPDATE. Repayments also move a plan's status back to active
    when its overdue installments are paid, so "cured" is recognized by the bucket as well as the status.
    """
    vendor = connection.vendor
    t = _sql_tables()
    targets = _plan_targets_sql(vendor)
    params = _plan_params(as_of)
    cursor.execute(
        f"""
        INSERT INTO {t["event"]} (customer_id, plan_id, kind, from_bucket, to_bucket, business_date)
        SELECT customer_id, plan_id, kind, old_bucket, new_bucket, %(as_of)s
        FROM ({_EVENT_KIND_SQL.format(source=f"({targets}) AS tg")}) ev
        WHERE kind IS NOT NULL
        ON CONFLICT DO NOTHING
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    events = cursor.rowcount
    cursor.execute(
        f"""
        UPDATE {t["plan"]}
        SET days_past_due = tg.new_days, delinquency_bucket = tg.new_bucket, status = tg.new_status,
            updated_at = %(now)s
        FROM ({targets}) tg
        WHERE {t["plan"]}.id = tg.plan_id
          AND {t["plan"]}.status IN (%(active)s, %(plan_overdue)s)
          AND (tg.old_days <> tg.new_days OR tg.old_bucket <> tg.new_bucket
               OR tg.old_status <> tg.new_status)
        """,  # noqa: S608 (constant SQL, values are parameters)
        {**params, "now": connection.ops.adapt_datetimefield_value(timezone.now())},
    )
    return cursor.rowcount, events


def _sweep_installments_pg(cursor: CursorWrapper, as_of: SqlDate) -> _Swept:
    """Steps 1 and 2 as one statement on PostgreSQL: each installment row is rewritten once, not twice.

    The candidates (past due and open: to mark overdue, to put back to pending within the arrears
    tolerance, or to charge) are locked with their plans in DESIGN.md's order, ``FOR NO KEY UPDATE OF p, i``
    by (plan, sequence): a plan row before its installments, plans by id, as ``ledger.lock_plans`` (a
    payment) takes them. Each installment asks today's charge (its base, the days not yet charged less the
    frozen ones); each plan's room is the least of what is left under its cap and under its ceiling
    (``cost.ceiling_room``: the headroom grown at the ceiling rate, ``POWER`` in exact ``numeric``), shared
    oldest first with a window sum (``cost.share_room``). The plan's total, headroom
    (``cost.headroom_after``) and the day it reached its cap are written in the same statement, with the
    journal's entries of the capped amounts. ROUND is half away from zero, i.e. half up for these amounts.

    No step joins two CTEs on a key (the planner cannot size a CTE and would loop one inside the other,
    quadratic in the day's late plans): each row carries its plan's room, a window sums the plan's asks,
    and each journal entry's id is drawn from its sequence before the entry and its lines are inserted.
    """
    t = _sql_tables()
    day = "%(as_of)s::date"
    since = "COALESCE(i.penalty_accrued_through, i.due_date)"
    principal, fee, penalty = _open("principal"), _open("fee"), _open("penalty")
    base = f"(CASE WHEN p.penalty_base = %(principal)s THEN {principal} ELSE {principal} + {fee} END)"
    total = f"({principal} + {fee} + {penalty})"
    cursor.execute(
        f"""
        WITH cand AS (
            SELECT i.id, i.plan_id, i.sequence, i.status AS old_status, i.due_date, {since} AS since,
                   {total} AS open_total, {base} AS base, p.customer_id, p.arrears_tolerance, p.grace_days,
                   p.penalty_daily_rate, p.penalty_capped_on,
                   p.penalty_cap_amount - p.penalty_total AS cap_left,
                   p.ceiling_headroom, p.max_all_in_apr_percent AS apr, p.purchase_date
            FROM {t["inst"]} i JOIN {t["plan"]} p ON p.id = i.plan_id
            WHERE p.status IN (%(active)s, %(plan_overdue)s) AND i.due_date < {day}
              AND ((i.status = %(pending)s AND {total} > p.arrears_tolerance)
                   OR (i.status = %(overdue)s AND {total} <= p.arrears_tolerance)
                   OR (i.status = %(overdue)s AND p.penalty_capped_on IS NULL
                       AND ({day} - i.due_date) > p.grace_days AND {since} < {day} AND {base} > 0))
            ORDER BY i.plan_id, i.sequence
            FOR NO KEY UPDATE OF p, i
        ), calc AS (
            SELECT c.*,
                   CASE WHEN c.old_status = %(pending)s AND c.open_total > c.arrears_tolerance
                            THEN %(overdue)s
                        WHEN c.old_status = %(overdue)s AND c.open_total <= c.arrears_tolerance
                            THEN %(pending)s
                        ELSE c.old_status END AS new_status,
                   ({day} - c.due_date)
                       - {_frozen_days("postgresql", "c.plan_id", "c.due_date", day)} AS net_days,
                   ({day} - c.since) - {_frozen_days("postgresql", "c.plan_id", "c.since", day)} AS days
            FROM cand c
        ), ask AS (
            SELECT calc.*,
                   CASE WHEN chargeable AND ceiling_headroom IS NOT NULL
                        THEN ROUND(penalty_daily_rate * base * days, 2) END AS asked
            FROM (SELECT calc.*, (new_status = %(overdue)s AND penalty_capped_on IS NULL
                                  AND net_days > grace_days AND since < {day} AND base > 0) AS chargeable
                  FROM calc) calc
        ), grown AS (
            SELECT ask.*,
                   CASE WHEN asked IS NOT NULL THEN POWER(apr::numeric(40, 30) / 1200 + 1,
                        (({day} - purchase_date) * 12)::numeric(40, 30) / 365) END AS growth
            FROM ask
        ), share AS (
            SELECT grown.*,
                   CASE WHEN asked IS NOT NULL THEN LEAST(asked, GREATEST(room - COALESCE(SUM(asked) OVER (
                       PARTITION BY plan_id ORDER BY sequence
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) END AS amount,
                   SUM(asked) OVER (PARTITION BY plan_id) AS plan_asked
            FROM (SELECT grown.*,
                         GREATEST(LEAST(cap_left, CASE WHEN ceiling_headroom > 0
                                                       THEN FLOOR(ceiling_headroom * growth * 100) / 100
                                                       ELSE 0 END), 0) AS room
                  FROM grown) grown
        ), upd AS (
            UPDATE {t["inst"]} r
            SET status = share.new_status,
                penalty_due = r.penalty_due + COALESCE(share.amount, 0),
                penalty_accrued_through = CASE WHEN share.asked IS NULL THEN r.penalty_accrued_through
                                               ELSE {day} END
            FROM share
            WHERE r.id = share.id AND (share.asked IS NOT NULL OR share.new_status <> share.old_status)
            RETURNING share.plan_id, share.customer_id, share.old_status, share.new_status, share.amount
        ), charged AS (
            SELECT plan_id, MIN(room) AS room, MIN(growth) AS growth, MIN(plan_asked) AS asked,
                   COALESCE(SUM(amount), 0) AS amount
            FROM share WHERE asked IS NOT NULL GROUP BY plan_id
        ), pl AS (
            UPDATE {t["plan"]} x
            SET penalty_total = x.penalty_total + ch.amount,
                ceiling_headroom = CASE WHEN ch.amount > 0
                    THEN FLOOR((x.ceiling_headroom - ch.amount / ch.growth) * 100000000) / 100000000
                    ELSE x.ceiling_headroom END,
                penalty_capped_on = CASE WHEN ch.asked >= ch.room THEN {day} ELSE x.penalty_capped_on END
            FROM charged ch
            WHERE x.id = ch.plan_id AND (ch.amount > 0 OR ch.asked >= ch.room)
            RETURNING ch.asked >= ch.room AS capped
        ), pen AS (
            SELECT plan_id, customer_id, amount,
                   nextval(pg_get_serial_sequence(%(entry_table)s, 'id')) AS entry_id
            FROM (SELECT plan_id, customer_id, SUM(amount) AS amount FROM upd
                  WHERE amount > 0 GROUP BY plan_id, customer_id) day_total
        ), je AS (
            INSERT INTO {t["entry"]} (id, key, kind, business_date, plan_id, reference, memo, created_at)
            SELECT entry_id, 'penalty:' || plan_id || ':' || {day} || ':' || %(token)s, %(kind)s,
                   {day}, plan_id, '', '', now()
            FROM pen
        ), jl AS (
            INSERT INTO {t["line"]} (entry_id, account, debit, credit, plan_id, customer_id, business_date)
            SELECT pen.entry_id, a.account, CASE WHEN a.dr = 1 THEN pen.amount ELSE 0 END,
                   CASE WHEN a.dr = 1 THEN 0 ELSE pen.amount END, pen.plan_id, pen.customer_id, {day}
            FROM pen CROSS JOIN {_two_lines(Account.PENALTY_RECEIVABLE, Account.PENALTY_INCOME)}
        )
        SELECT (SELECT COUNT(*) FROM upd WHERE old_status = %(pending)s AND new_status = %(overdue)s),
               (SELECT COUNT(*) FROM upd WHERE old_status = %(overdue)s AND new_status = %(pending)s),
               (SELECT COUNT(amount) FROM upd), (SELECT COALESCE(SUM(amount), 0) FROM upd),
               (SELECT COUNT(*) FROM pl WHERE capped),
               (SELECT array_agg(DISTINCT plan_id) FROM ask WHERE chargeable AND ceiling_headroom IS NULL)
        """,  # noqa: S608 (constant SQL, values are parameters)
        {**_installment_params(as_of), "entry_table": JournalEntry._meta.db_table},
    )
    marked, back, accrued, amount, capped, missing = cursor.fetchone()
    return _Swept(
        marked=marked,
        back_to_pending=back,
        accrued=accrued,
        amount=quantize_money(Decimal(amount)),
        capped=capped,
        missing=tuple(missing or ()),
    )


def _update_plans_pg(cursor: CursorWrapper, as_of: SqlDate) -> tuple[int, int]:
    """Steps 3 and 4 as one statement on PostgreSQL: the plans' targets are computed once and feed both the
    credit events and the plan UPDATE (every part of the statement reads the same snapshot, so the events
    still see each plan's state from before the UPDATE)."""
    t = _sql_tables()
    params = _plan_params(as_of)
    cursor.execute(
        f"""
        WITH tg AS MATERIALIZED ({_plan_targets_sql("postgresql")}),
        ev AS (
            INSERT INTO {t["event"]} (customer_id, plan_id, kind, from_bucket, to_bucket, business_date)
            SELECT customer_id, plan_id, kind, old_bucket, new_bucket, %(as_of)s
            FROM ({_EVENT_KIND_SQL.format(source="tg")}) k
            WHERE kind IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), up AS (
            UPDATE {t["plan"]} pl
            SET days_past_due = tg.new_days, delinquency_bucket = tg.new_bucket, status = tg.new_status,
                updated_at = %(now)s
            FROM tg
            WHERE pl.id = tg.plan_id
              AND (tg.old_days <> tg.new_days OR tg.old_bucket <> tg.new_bucket
                   OR tg.old_status <> tg.new_status)
            RETURNING 1
        )
        SELECT (SELECT COUNT(*) FROM up), (SELECT COUNT(*) FROM ev)
        """,  # noqa: S608 (constant SQL, values are parameters)
        {**params, "now": timezone.now()},
    )
    plans, events = cursor.fetchone()
    return plans, events


# --- collection cases (催收案件) -----------------------------------------------------------------------


def _case_params(as_of: SqlDate) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "plan_overdue": PlanStatus.OVERDUE.value,
        "inst_overdue": InstallmentStatus.OVERDUE.value,
        "restructured": PlanStatus.RESTRUCTURED.value,
        "paid_off": PlanStatus.PAID_OFF.value,
        "cancelled": PlanStatus.CANCELLED.value,
        "charged_off": PlanStatus.CHARGED_OFF.value,
        "resolved": CaseStatus.RESOLVED.value,
        "open": CaseStatus.OPEN.value,
        "hardship": CaseStatus.HARDSHIP.value,
        "reason_cured": CaseCloseReason.CURED.value,
        "reason_restaged": CaseCloseReason.RESTAGED.value,
        "reason_paid_off": CaseCloseReason.PAID_OFF.value,
        "reason_charged_off": CaseCloseReason.CHARGED_OFF.value,
        "agent": AGENT,
        "true": True,
        **{f"nego_{i}": state.value for i, state in enumerate(OPEN_NEGOTIATION_STATES)},
    }


def _case_snippets() -> dict[str, str]:
    """SQL fragments shared by the three case statements, over a plan aliased ``p``."""
    t = _sql_tables()
    nego_states = ", ".join(f"%(nego_{i})s" for i in range(len(OPEN_NEGOTIATION_STATES)))
    return {
        # What the overdue installments still owe (the amount a case is about).
        "overdue_amount": f"""COALESCE((
            SELECT SUM((i.principal_due - i.principal_paid - i.principal_waived)
                       + (i.fee_due - i.fee_paid - i.fee_waived)
                       + (i.penalty_due - i.penalty_paid - i.penalty_waived))
            FROM {t["inst"]} i WHERE i.plan_id = p.id AND i.status = %(inst_overdue)s), 0)""",  # noqa: S608
        # An open 协商 application on the plan: the case is a hardship case while it lasts.
        "negotiating": f"""EXISTS (SELECT 1 FROM {t["nego"]} n
            WHERE n.plan_id = p.id AND n.state IN ({nego_states}))""",  # noqa: S608
    }


def _close_cases(cursor: CursorWrapper, params: dict[str, Any]) -> int:
    """Close every open case whose plan is no longer overdue, with the reason its plan's status gives: one
    UPDATE. A plan back to active is cured; a cancelled plan owes nothing, as a paid-off one."""
    t = _sql_tables()
    cursor.execute(
        f"""
        UPDATE {t["case"]}
        SET status = %(resolved)s, closed_at = %(now)s,
            close_reason = (
                SELECT CASE p.status WHEN %(restructured)s THEN %(reason_restaged)s
                                     WHEN %(paid_off)s THEN %(reason_paid_off)s
                                     WHEN %(cancelled)s THEN %(reason_paid_off)s
                                     WHEN %(charged_off)s THEN %(reason_charged_off)s
                                     ELSE %(reason_cured)s END
                FROM {t["plan"]} p WHERE p.id = {t["case"]}.plan_id)
        WHERE closed_at IS NULL
          AND plan_id IN (SELECT p.id FROM {t["plan"]} p WHERE p.status <> %(plan_overdue)s)
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    return cursor.rowcount


def _refresh_cases(cursor: CursorWrapper, params: dict[str, Any]) -> None:
    """Days past due, bucket and amount overdue of every open case from its plan, and the hardship status
    from the plan's negotiation: one UPDATE. A case leaves hardship (back to open) when its application
    closes without re-staging the plan."""
    t = _sql_tables()
    sql = _case_snippets()
    cursor.execute(
        f"""
        UPDATE {t["case"]}
        SET days_past_due = p.days_past_due, bucket = p.delinquency_bucket,
            amount_overdue = {sql["overdue_amount"]},
            status = CASE WHEN {sql["negotiating"]} THEN %(hardship)s
                          WHEN {t["case"]}.status = %(hardship)s THEN %(open)s
                          ELSE {t["case"]}.status END
        FROM {t["plan"]} p
        WHERE p.id = {t["case"]}.plan_id AND {t["case"]}.closed_at IS NULL
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )


def _open_cases(cursor: CursorWrapper, params: dict[str, Any]) -> int:
    """Open a case for every overdue plan past its grace days without an open one: one INSERT ... SELECT.

    The assignee is round-robin per bucket among the active staff of the ``agent`` group (by user id):
    the k-th case ever opened in a bucket goes to agent ``k mod n``, so the rotation carries on from one
    day's sweep to the next without a cursor to keep. No agent: the case waits unassigned for a lead."""
    t = _sql_tables()
    sql = _case_snippets()
    cursor.execute(
        f"""
        WITH ag AS (
            SELECT u.id AS user_id, ROW_NUMBER() OVER (ORDER BY u.id) - 1 AS idx
            FROM {t["user"]} u
            JOIN {t["user_groups"]} ug ON ug.user_id = u.id
            JOIN {t["group"]} g ON g.id = ug.group_id
            WHERE g.name = %(agent)s AND u.is_active = %(true)s AND u.is_staff = %(true)s
        ), seen AS (
            SELECT opened_bucket AS bucket, COUNT(*) AS opened FROM {t["case"]} GROUP BY opened_bucket
        ), fresh AS (
            SELECT p.id AS plan_id, p.customer_id, p.delinquency_bucket AS bucket, p.days_past_due,
                   {sql["overdue_amount"]} AS amount, {sql["negotiating"]} AS negotiating,
                   ROW_NUMBER() OVER (PARTITION BY p.delinquency_bucket ORDER BY p.id) - 1 AS k
            FROM {t["plan"]} p
            WHERE p.status = %(plan_overdue)s AND p.days_past_due > p.grace_days
              AND NOT EXISTS (SELECT 1 FROM {t["case"]} c WHERE c.plan_id = p.id AND c.closed_at IS NULL)
        )
        INSERT INTO {t["case"]} (plan_id, customer_id, bucket, opened_bucket, days_past_due, amount_overdue,
                                 assignee_id, next_action_date, status, opened_at, closed_at, close_reason)
        SELECT f.plan_id, f.customer_id, f.bucket, f.bucket, f.days_past_due, f.amount,
               (SELECT ag.user_id FROM ag
                WHERE ag.idx = (COALESCE(s.opened, 0) + f.k) %% (SELECT NULLIF(COUNT(*), 0) FROM ag)),
               %(as_of)s, CASE WHEN f.negotiating THEN %(hardship)s ELSE %(open)s END, %(now)s, NULL, ''
        FROM fresh f LEFT JOIN seen s ON s.bucket = f.bucket
        WHERE 1 = 1
        ON CONFLICT DO NOTHING
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    if cursor.rowcount < 0:  # Python's sqlite3 reports no row count for a statement that starts WITH
        cursor.execute("SELECT changes()")
        return int(cursor.fetchone()[0])
    return cursor.rowcount


def _sync_cases(cursor: CursorWrapper, as_of: SqlDate) -> tuple[int, int]:
    """Close, refresh, open: three set-based statements whatever the number of cases."""
    params = _case_params(as_of)
    closed = _close_cases(cursor, params)
    _refresh_cases(cursor, params)
    opened = _open_cases(cursor, params)
    return opened, closed


def collection_cases_sync(*, as_of: date) -> tuple[int, int]:
    """The sweep's case step on its own, for the daily run after the charge-offs (a plan charged off after
    the sweep has its case closed the same day). Returns (opened, closed); idempotent."""
    day: SqlDate | None = connection.ops.adapt_datefield_value(as_of)
    if day is None:
        raise ValueError("The case step needs a business date.")
    with transaction.atomic(), connection.cursor() as cursor:
        _sweep_lock(cursor)
        return _sync_cases(cursor, day)


def _headrooms_missing(as_of: date) -> int:
    """On SQLite, compute the room under the ceiling (``ledger.headroom_recompute``) of the plans that may
    accrue today and have none yet: plans made before the ceiling existed, once after the migration. A
    normal day finds none (a plan gets its headroom when it is created). PostgreSQL's statement reports
    such plans itself, at no extra query on a normal day."""
    plan_ids = list(
        Installment.objects.filter(
            due_date__lt=as_of,
            status__in=OPEN_STATUSES,
            plan__status__in=PAYABLE_PLAN_STATUSES,
            plan__penalty_capped_on__isnull=True,
            plan__ceiling_headroom__isnull=True,
        )
        .order_by("plan_id")
        .values_list("plan_id", flat=True)
        .distinct()
    )
    for plan_id in plan_ids:
        headroom_recompute(plan_id)
    return len(plan_ids)


def _notify_capped(as_of: date) -> None:
    """One SMS per plan whose penalty stopped at its cap (or the ceiling) today, in the sweep's
    transaction (the outbox); the key per plan makes it once ever, whatever the re-runs."""
    plans = list(
        InstallmentPlan.objects.filter(penalty_capped_on=as_of, status__in=PAYABLE_PLAN_STATUSES).only(
            "id", "public_id", "customer_id", "description", "merchant_order_ref", "penalty_total"
        )
    )
    if not plans:
        return
    people = recipients(p.customer_id for p in plans)
    notifications_create_bulk(
        [
            NotificationRequest(
                recipient=people[p.customer_id],
                code="penalty_capped",
                context={"plan": p.display_name, "total": p.penalty_total},
                dedupe_key=f"penalty_capped:{p.public_id}",
            )
            for p in plans
            if p.customer_id in people
        ]
    )


def overdue_sweep(*, as_of: date) -> SweepResult:
    """The daily 逾期 sweep for business date ``as_of``: idempotent per date, a fixed number of statements.

    Every step is one set-based statement over all rows, so the run's cost does not grow with round trips.
    Installments (steps 1-2) and plans (steps 3-4) are separate short transactions: the plan step reads
    whatever the installments are when it runs, so a repayment committed in between is simply reflected.
    The collection cases follow the plans in the plans' transaction (``_sync_cases``).

    Step 2 holds each plan under its penalty cap and its all-in cost ceiling (README "Fair cost"): the
    plan's total, room under the ceiling and the day it reached either are written with the charges, and
    the "penalty stopped at its cap" SMS in the same transaction.
    """
    # The stubs type the adapted value as text or None; PostgreSQL keeps the date, and only None gives None.
    day: SqlDate | None = connection.ops.adapt_datefield_value(as_of)
    if day is None:
        raise ValueError("The overdue sweep needs a business date.")
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        _sweep_lock(cursor)
        if postgres:
            # Plans with no headroom yet are reported, not charged; computed, they are charged by a second
            # run of the statement (every other installment is already charged through today).
            swept = _sweep_installments_pg(cursor, day)
            computed = len(swept.missing)
            if swept.missing:
                for plan_id in swept.missing:
                    headroom_recompute(plan_id)
                swept += _sweep_installments_pg(cursor, day)
        else:
            computed = _headrooms_missing(as_of)
            swept = _sweep_installments_sqlite(cursor, day)
        fees_billed = _bill_fees(cursor, day)
        if swept.capped:
            _notify_capped(as_of)
    with transaction.atomic(), connection.cursor() as cursor:
        _sweep_lock(cursor)
        plans, events = _update_plans_pg(cursor, day) if postgres else _update_plans(cursor, day)
        opened, closed = _sync_cases(cursor, day)
    return SweepResult(
        marked_overdue=swept.marked,
        back_to_pending=swept.back_to_pending,
        penalties_accrued=swept.accrued,
        penalty_amount=swept.amount,
        plans_updated=plans,
        credit_events=events,
        fees_billed=fees_billed,
        cases_opened=opened,
        cases_closed=closed,
        plans_capped=swept.capped,
        headrooms_computed=computed,
    )

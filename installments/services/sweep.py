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
from installments.ledger import BUCKET_LIMITS, PAYABLE_PLAN_STATUSES
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
    PlanStatus,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES

# The business date as a query parameter, in the backend's form (``adapt_datefield_value``): PostgreSQL's
# driver takes the date itself, SQLite's the ISO text.
SqlDate = date | str


@dataclass(frozen=True)
class SweepResult:
    """What one run of the overdue sweep changed; a re-run for the same date reports all zeros."""

    marked_overdue: int = 0
    penalties_accrued: int = 0
    penalty_amount: Decimal = ZERO
    plans_updated: int = 0
    credit_events: int = 0
    fees_billed: int = 0
    cases_opened: int = 0
    cases_closed: int = 0


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


def _sweep_lock(cursor: CursorWrapper) -> None:
    """Serialize concurrent sweeps on PostgreSQL (SQLite already has a single writer)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('installments.overdue_sweep'))")


def _mark_overdue(cursor: CursorWrapper, as_of: SqlDate) -> int:
    """Step 1 on SQLite (a single writer: nothing to lock); PostgreSQL runs ``_sweep_installments_pg``."""
    cursor.execute(
        """
        UPDATE {inst} SET status = %s
        WHERE status = %s AND id IN (
            SELECT i.id FROM {inst} i JOIN {plan} p ON p.id = i.plan_id
            WHERE i.status = %s AND i.due_date < %s AND p.status IN (%s, %s)
              AND (i.principal_due - i.principal_paid - i.principal_waived)
                + (i.fee_due - i.fee_paid - i.fee_waived)
                + (i.penalty_due - i.penalty_paid - i.penalty_waived) > 0
        )
        """.format(**_sql_tables()),  # noqa: S608 (constant SQL, values are parameters)
        [
            InstallmentStatus.OVERDUE.value,
            InstallmentStatus.PENDING.value,
            InstallmentStatus.PENDING.value,
            as_of,
            *PAYABLE_PLAN_STATUSES,  # paid off, restructured and cancelled plans are history
        ],
    )
    return cursor.rowcount


def _accrue_penalties(cursor: CursorWrapper, as_of: SqlDate) -> tuple[int, Decimal]:
    """Step 2 on SQLite: one UPDATE charging each overdue installment past its grace days for the days not
    yet charged (PostgreSQL does steps 1 and 2 in ``_sweep_installments_pg``). SQLite stores decimals as
    REAL, so the amount is computed in integer micro-yuan x cents and rounded half up to whole cents with
    integer division: no float rounding reaches a stored amount.
    """
    vendor = connection.vendor
    since = "COALESCE(i.penalty_accrued_through, i.due_date)"
    days = _days_between(vendor, "%(as_of)s", since)
    overdue_days = _days_between(vendor, "%(as_of)s", "i.due_date")
    base = (
        "((i.principal_due - i.principal_paid - i.principal_waived)"
        " + (i.fee_due - i.fee_paid - i.fee_waived))"
    )
    where = f"""
        i.status = %(overdue)s AND p.status IN (%(active)s, %(plan_overdue)s)
        AND {overdue_days} > p.grace_days AND {since} < %(as_of)s AND {base} > 0
    """
    params = {
        "as_of": as_of,
        "overdue": InstallmentStatus.OVERDUE.value,
        "active": PlanStatus.ACTIVE.value,
        "plan_overdue": PlanStatus.OVERDUE.value,
    }
    tables = _sql_tables()
    cents = (
        f"((CAST(ROUND(p.penalty_daily_rate * 1000000) AS INTEGER) * CAST(ROUND({base} * 100) AS INTEGER)"
        f" * {days} + 500000) / 1000000)"
    )
    calc = f"""
        SELECT i.id AS id, i.plan_id AS plan_id, p.customer_id AS customer_id, {cents} AS cents
        FROM {tables["inst"]} i JOIN {tables["plan"]} p ON p.id = i.plan_id
        WHERE {where}
    """  # noqa: S608 (constant SQL, values are parameters)
    cursor.execute(f"SELECT COUNT(*), COALESCE(SUM(cents), 0) FROM ({calc})", params)  # noqa: S608
    count, total_cents = cursor.fetchone()
    if total_cents:
        _journal_penalties_sqlite(cursor, calc, params)
    cursor.execute(
        f"""
        UPDATE {tables["inst"]}
        SET penalty_due = (CAST(ROUND(penalty_due * 100) AS INTEGER) + calc.cents) / 100.0,
            penalty_accrued_through = %(as_of)s
        FROM ({calc}) AS calc WHERE {tables["inst"]}.id = calc.id
        """,  # noqa: S608 (constant SQL, values are parameters)
        params,
    )
    return count, quantize_money(Decimal(int(total_cents)) / 100)


def _journal_penalties_sqlite(cursor: CursorWrapper, calc: str, params: dict[str, Any]) -> None:
    """The day's penalties in the journal, one entry per plan (penalty receivable vs penalty income), in
    two set-based statements before the installments are charged: the same cents as the UPDATE."""
    t = _sql_tables()
    params = {
        **params,
        "token": journal.run_token(),
        "kind": EntryKind.PENALTY_ACCRUED.value,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    per_plan = f"""
        SELECT plan_id, customer_id, SUM(cents) AS cents, 'penalty:' || plan_id || ':' || %(as_of)s || ':'
               || %(token)s AS key
        FROM ({calc}) GROUP BY plan_id, customer_id HAVING SUM(cents) > 0
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
    only for a plan with nothing open, which a payment has already marked paid off."""
    t = _sql_tables()
    days = _days_between(vendor, "%(as_of)s", "MIN(due_date)")
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
            SELECT plan_id, {days} AS days FROM {t["inst"]}
            WHERE status = %(overdue)s GROUP BY plan_id
        ) o ON o.plan_id = p.id
        WHERE p.status IN (%(active)s, %(plan_overdue)s)
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


def _sweep_installments_pg(cursor: CursorWrapper, as_of: SqlDate) -> tuple[int, int, Decimal]:
    """Steps 1 and 2 as one statement on PostgreSQL: each installment row is rewritten once, not twice.

    Marking writes a new row version and so does charging the penalty; a late installment past its grace
    days on the first sweep would otherwise be written twice, with every index entry, in one run. The
    amounts are those of ``_accrue_penalties`` on SQLite, in exact ``numeric`` (ROUND is half away from zero,
    i.e. half up for these positive amounts).
    """
    t = _sql_tables()
    since = "COALESCE(i.penalty_accrued_through, i.due_date)"
    base = (
        "((i.principal_due - i.principal_paid - i.principal_waived)"
        " + (i.fee_due - i.fee_paid - i.fee_waived))"
    )
    total = f"({base} + (i.penalty_due - i.penalty_paid - i.penalty_waived))"
    chargeable = f"(%(as_of)s::date - i.due_date) > p.grace_days AND {since} < %(as_of)s::date AND {base} > 0"
    cursor.execute(
        f"""
        WITH calc AS (
            SELECT i.id, i.plan_id, p.customer_id, i.status AS old_status,
                   CASE WHEN {chargeable}
                        THEN ROUND(p.penalty_daily_rate * {base} * (%(as_of)s::date - {since}), 2)
                   END AS amount
            FROM {t["inst"]} i JOIN {t["plan"]} p ON p.id = i.plan_id
            WHERE p.status IN (%(active)s, %(plan_overdue)s) AND i.due_date < %(as_of)s::date
              AND ((i.status = %(pending)s AND {total} > 0) OR (i.status = %(overdue)s AND {chargeable}))
            ORDER BY i.plan_id, i.sequence
            FOR UPDATE OF i
        ), upd AS (
            UPDATE {t["inst"]} r
            SET status = %(overdue)s,
                penalty_due = r.penalty_due + COALESCE(calc.amount, 0),
                penalty_accrued_through = CASE WHEN calc.amount IS NULL THEN r.penalty_accrued_through
                                               ELSE %(as_of)s::date END
            FROM calc WHERE r.id = calc.id
            RETURNING calc.plan_id, calc.customer_id, calc.old_status, calc.amount
        ), pen AS (
            SELECT plan_id, customer_id, SUM(amount) AS amount FROM upd
            WHERE amount > 0 GROUP BY plan_id, customer_id
        ), je AS (
            INSERT INTO {t["entry"]} (key, kind, business_date, plan_id, reference, memo, created_at)
            SELECT 'penalty:' || plan_id || ':' || %(as_of)s::date || ':' || %(token)s, %(kind)s,
                   %(as_of)s::date, plan_id, '', '', now()
            FROM pen
            RETURNING id, plan_id
        ), jl AS (
            INSERT INTO {t["line"]} (entry_id, account, debit, credit, plan_id, customer_id, business_date)
            SELECT je.id, a.account, CASE WHEN a.dr = 1 THEN pen.amount ELSE 0 END,
                   CASE WHEN a.dr = 1 THEN 0 ELSE pen.amount END, pen.plan_id, pen.customer_id,
                   %(as_of)s::date
            FROM je JOIN pen ON pen.plan_id = je.plan_id
            CROSS JOIN {_two_lines(Account.PENALTY_RECEIVABLE, Account.PENALTY_INCOME)}
        )
        SELECT COUNT(*) FILTER (WHERE old_status = %(pending)s), COUNT(amount), COALESCE(SUM(amount), 0)
        FROM upd
        """,  # noqa: S608 (constant SQL, values are parameters)
        {
            "as_of": as_of,
            "pending": InstallmentStatus.PENDING.value,
            "overdue": InstallmentStatus.OVERDUE.value,
            "active": PlanStatus.ACTIVE.value,
            "plan_overdue": PlanStatus.OVERDUE.value,
            "token": journal.run_token(),
            "kind": EntryKind.PENALTY_ACCRUED.value,
        },
    )
    marked, accrued, amount = cursor.fetchone()
    return marked, accrued, quantize_money(Decimal(amount))


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


def overdue_sweep(*, as_of: date) -> SweepResult:
    """The daily 逾期 sweep for business date ``as_of``: idempotent per date, a fixed number of statements.

    Every step is one set-based statement over all rows, so the run's cost does not grow with round trips.
    Installments (steps 1-2) and plans (steps 3-4) are separate short transactions: the plan step reads
    whatever the installments are when it runs, so a repayment committed in between is simply reflected.
    The collection cases follow the plans in the plans' transaction (``_sync_cases``).
    """
    # The stubs type the adapted value as text or None; PostgreSQL keeps the date, and only None gives None.
    day: SqlDate | None = connection.ops.adapt_datefield_value(as_of)
    if day is None:
        raise ValueError("The overdue sweep needs a business date.")
    postgres = connection.vendor == "postgresql"
    accrued, amount = 0, ZERO
    with transaction.atomic(), connection.cursor() as cursor:
        _sweep_lock(cursor)
        if postgres:
            marked, accrued, amount = _sweep_installments_pg(cursor, day)
        else:
            marked = _mark_overdue(cursor, day)
            accrued, amount = _accrue_penalties(cursor, day)
        fees_billed = _bill_fees(cursor, day)
    with transaction.atomic(), connection.cursor() as cursor:
        _sweep_lock(cursor)
        plans, events = _update_plans_pg(cursor, day) if postgres else _update_plans(cursor, day)
        opened, closed = _sync_cases(cursor, day)
    return SweepResult(
        marked_overdue=marked,
        penalties_accrued=accrued,
        penalty_amount=amount,
        plans_updated=plans,
        credit_events=events,
        fees_billed=fees_billed,
        cases_opened=opened,
        cases_closed=closed,
    )

"""The journal's database guards on PostgreSQL, and opening balances for plans that exist already.

Guards: lines and entries are append-only (a correction is an opposite entry, never an edit), and a
statement-level trigger refuses any INSERT that leaves an entry of the inserted lines unbalanced. It runs
once per statement over the statement's own lines (a transition table), not once per line, so a debit
chunk's thousand lines cost one aggregate. SQLite has no such triggers; ``check_ledger`` checks both.

Opening balances: books started with plans already open get one entry per plan, receivables (and unearned
fees of installments not yet due) against ``3000 opening balances``, so the journal equals the
installments from the first day. Fees of installments already due, or already partly paid, count as earned.
"""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

GUARDS = """
CREATE OR REPLACE FUNCTION journal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: post the opposite entry instead of changing %', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER journal_line_append_only BEFORE UPDATE OR DELETE ON installments_journalline
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_entry_append_only BEFORE UPDATE OR DELETE ON installments_journalentry
    FOR EACH ROW EXECUTE FUNCTION journal_append_only();

CREATE OR REPLACE FUNCTION journal_entries_balance() RETURNS trigger AS $$
DECLARE
    bad bigint;
BEGIN
    -- Entry by entry through the entry index (LATERAL): the planner cannot turn it into a scan of the
    -- whole table, whose cost would grow with the journal.
    SELECT n.entry_id INTO bad
    FROM (SELECT DISTINCT entry_id FROM new_lines) n
    CROSS JOIN LATERAL (
        SELECT SUM(l.debit) AS debit, SUM(l.credit) AS credit
        FROM installments_journalline l WHERE l.entry_id = n.entry_id
    ) s
    WHERE s.debit <> s.credit
    LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER journal_lines_balance AFTER INSERT ON installments_journalline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_balance();
"""

DROP_GUARDS = """
DROP TRIGGER IF EXISTS journal_lines_balance ON installments_journalline;
DROP TRIGGER IF EXISTS journal_line_append_only ON installments_journalline;
DROP TRIGGER IF EXISTS journal_entry_append_only ON installments_journalentry;
DROP FUNCTION IF EXISTS journal_entries_balance();
DROP FUNCTION IF EXISTS journal_append_only();
"""


def _run(schema_editor, sql):
    # A plain cursor: the SQL holds "%" placeholders of RAISE, which the schema editor would format.
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def add_guards(apps, schema_editor):
    _run(schema_editor, GUARDS)


def drop_guards(apps, schema_editor):
    _run(schema_editor, DROP_GUARDS)


def open_books(apps, schema_editor):
    Installment = apps.get_model("installments", "Installment")
    JournalEntry = apps.get_model("installments", "JournalEntry")
    JournalLine = apps.get_model("installments", "JournalLine")
    today = timezone.localdate()
    open_statuses = ("pending", "overdue")
    payable = ("active", "overdue")
    Installment.objects.filter(status__in=open_statuses, due_date__lte=today).update(fee_billed=True)
    Installment.objects.filter(status__in=open_statuses, fee_paid__gt=0).update(fee_billed=True)
    totals = {}
    rows = Installment.objects.filter(status__in=open_statuses, plan__status__in=payable).values_list(
        "plan_id",
        "plan__customer_id",
        "principal_due",
        "principal_paid",
        "principal_waived",
        "fee_due",
        "fee_paid",
        "fee_waived",
        "penalty_due",
        "penalty_paid",
        "penalty_waived",
        "fee_billed",
    )
    for plan_id, customer_id, pd, pp, pw, fd, fp, fw, nd, np_, nw, billed in rows.iterator():
        t = totals.setdefault(plan_id, [customer_id, Decimal(0), Decimal(0), Decimal(0), Decimal(0)])
        t[1] += pd - pp - pw
        t[2] += fd - fp - fw
        t[3] += nd - np_ - nw
        if not billed:
            t[4] += fd - fp - fw
    for plan_id, (customer_id, principal, fee, penalty, unearned) in totals.items():
        if not (principal or fee or penalty):
            continue
        entry = JournalEntry.objects.create(
            key=f"opening:{plan_id}:migration", kind="opening", business_date=today, plan_id=plan_id
        )
        lines = [("1100", principal, 0), ("1110", fee, 0), ("1120", penalty, 0), ("2100", 0, unearned)]
        lines.append(("3000", 0, principal + fee + penalty - unearned))
        JournalLine.objects.bulk_create(
            JournalLine(
                entry=entry,
                account=account,
                debit=debit,
                credit=credit,
                plan_id=plan_id,
                customer_id=customer_id,
                business_date=today,
            )
            for account, debit, credit in lines
            if debit or credit
        )


class Migration(migrations.Migration):
    dependencies = [("installments", "0011_journal")]

    operations = [
        migrations.RunPython(add_guards, drop_guards),
        migrations.RunPython(open_books, migrations.RunPython.noop),
    ]

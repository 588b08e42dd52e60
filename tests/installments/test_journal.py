"""The journal (installments/journal.py): every money event posts a balanced entry in its own transaction,
and the receivable accounts equal the installments' open amounts (check_ledger), event by event."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from installments.allocation import payable_total
from installments.journal import Draft, UnbalancedEntry, opening_balances, sub_ledger_gaps, write
from installments.ledger import open_installments, plan_dues
from installments.models import Account, EntryKind, Installment, JournalEntry, JournalLine
from installments.selectors import plan_statement, trial_balance
from installments.services import overdue_sweep, plan_create, plan_restage
from repayments.ledger import ledger_breaches
from repayments.models import RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.services import repayment_create, repayment_record_offline, repayment_reverse
from repayments.staff import FINANCE
from tests.factories import StaffFactory

D = Decimal


def balance(account: str, plan_id: int | None = None) -> Decimal:
    """An account's balance on its normal side, as the trial balance shows it."""
    tb = trial_balance(as_of=date.max, plan_id=plan_id)
    return next(row.balance for row in tb.rows if row.account == account)


def kinds(plan_id: int) -> list[str]:
    return list(JournalEntry.objects.filter(plan_id=plan_id).order_by("id").values_list("kind", flat=True))


def test_plan_created_books_the_schedule(current_plan) -> None:
    pid = current_plan.pk
    assert kinds(pid) == [EntryKind.PLAN_CREATED]
    assert balance(Account.PRINCIPAL_RECEIVABLE, pid) == D("1200.00")
    assert balance(Account.FEE_RECEIVABLE, pid) == D("72.00")  # 12 x 6.00
    assert balance(Account.UNEARNED_FEES, pid) == D("72.00")
    assert balance(Account.MERCHANT_PAYABLE, pid) == D("1200.00")
    assert balance(Account.FEE_INCOME, pid) == 0
    assert sub_ledger_gaps() == {}


def test_sweep_earns_fees_falling_due_and_books_penalties_once(late_plan) -> None:
    pid = late_plan.pk
    # Bought 70 days ago: installments 1 and 2 fell due, their fees are earned; penalties accrued.
    assert balance(Account.FEE_INCOME, pid) == D("12.00")
    assert balance(Account.UNEARNED_FEES, pid) == D("60.00")
    penalty = sum(i.penalty_due for i in late_plan.installments.all())
    assert penalty > 0
    assert balance(Account.PENALTY_RECEIVABLE, pid) == penalty
    assert balance(Account.PENALTY_INCOME, pid) == penalty
    lines_before = JournalLine.objects.count()
    overdue_sweep(as_of=timezone.localdate())  # the same day again: nothing new
    assert JournalLine.objects.count() == lines_before
    overdue_sweep(as_of=timezone.localdate() + timedelta(days=1))
    penalty_next = sum(i.penalty_due for i in late_plan.installments.all())
    assert penalty_next > penalty
    assert balance(Account.PENALTY_RECEIVABLE, pid) == penalty_next
    assert list(ledger_breaches()) == []


def _pay(customer, plan, amount: str, card, key: str):
    repayment = repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.CUSTOM,
        channel=RepaymentChannel.WEB,
        idempotency_key=key,
        amount=amount,
        card=card,
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    return repayment


def test_a_payment_credits_each_receivable_by_its_allocation(customer, late_plan, card) -> None:
    pid = late_plan.pk
    penalty = balance(Account.PENALTY_RECEIVABLE, pid)
    repayment = _pay(customer, late_plan, "150.00", card, "j-1")
    entry = JournalEntry.objects.get(key=f"repayment:{repayment.pk}")
    lines = {(line.account, line.debit, line.credit) for line in entry.lines.all()}
    assert (Account.BANK_CLEARING, D("150.00"), D("0.00")) in lines
    for component, account in (
        ("penalty", Account.PENALTY_RECEIVABLE),
        ("fee", Account.FEE_RECEIVABLE),
        ("principal", Account.PRINCIPAL_RECEIVABLE),
    ):
        credited = sum((line.credit for line in entry.lines.filter(account=account)), D("0"))
        assert credited == sum(
            (a.amount for a in repayment.allocations.filter(waived=False, component=component)), D("0")
        )
    assert balance(Account.PENALTY_RECEIVABLE, pid) == 0  # 150.00 covers both installments' penalty
    assert penalty > 0
    assert balance(Account.BANK_CLEARING) == D("150.00")
    assert sub_ledger_gaps() == {}


def test_a_prepaid_future_fee_is_earned_when_paid(customer, current_plan, card) -> None:
    pid = current_plan.pk
    _pay(customer, current_plan, "106.00", card, "j-2")  # the first installment, not yet due
    assert JournalEntry.objects.filter(kind=EntryKind.FEE_BILLED, plan_id=pid).count() == 1
    assert balance(Account.FEE_INCOME, pid) == D("6.00")
    assert balance(Account.UNEARNED_FEES, pid) == D("66.00")
    first = current_plan.installments.get(sequence=1)
    assert first.fee_billed
    overdue_sweep(as_of=first.due_date)  # falling due later does not earn it twice
    assert balance(Account.FEE_INCOME, pid) == D("6.00")
    assert sub_ledger_gaps() == {}


def test_reversal_is_the_opposite_entry(customer, late_plan, card, agent) -> None:
    pid = late_plan.pk
    before = {row.account: row.balance for row in trial_balance(as_of=date.max, plan_id=pid).rows}
    repayment = _pay(customer, late_plan, "120.00", card, "j-3")
    repayment_reverse(staff=agent, repayment=repayment, reason="customer disputed")
    paid = JournalEntry.objects.get(key=f"repayment:{repayment.pk}")
    reversed_ = JournalEntry.objects.get(key=f"repayment:{repayment.pk}:reversed")
    assert reversed_.kind == EntryKind.REPAYMENT_REVERSED
    assert sorted((x.account, x.debit, x.credit) for x in paid.lines.all()) == sorted(
        (x.account, x.credit, x.debit) for x in reversed_.lines.all()
    )
    after = {row.account: row.balance for row in trial_balance(as_of=date.max, plan_id=pid).rows}
    # Every account is back, except that fees the payment earned early stay earned.
    assert {a: b for a, b in after.items() if a not in (Account.FEE_INCOME, Account.UNEARNED_FEES)} == {
        a: b for a, b in before.items() if a not in (Account.FEE_INCOME, Account.UNEARNED_FEES)
    }
    assert sub_ledger_gaps() == {}


def test_offline_payment_books_cash(late_plan, agent) -> None:
    repayment = repayment_record_offline(staff=agent, plan=late_plan, amount="50.00", reference="TRF-1")
    entry = JournalEntry.objects.get(key=f"repayment:{repayment.pk}")
    assert entry.lines.get(account=Account.CASH).debit == D("50.00")
    assert sub_ledger_gaps() == {}


def test_restaging_closes_old_receivables_and_opens_the_successor(customer, current_plan) -> None:
    new_plan = plan_restage(customer=customer, plan_id=current_plan.pk, tenor=24)
    old, new = current_plan.pk, new_plan.pk
    for account in (Account.PRINCIPAL_RECEIVABLE, Account.FEE_RECEIVABLE, Account.PENALTY_RECEIVABLE):
        assert balance(account, old) == 0
    assert balance(Account.UNEARNED_FEES, old) == 0
    assert balance(Account.PRINCIPAL_RECEIVABLE, new) == new_plan.principal
    assert balance(Account.FEE_RECEIVABLE, new) == new_plan.total_fee
    entry = JournalEntry.objects.get(kind=EntryKind.RESTAGED)
    assert entry.key == f"restage:{old}:{new}"
    # Fees moved into the new principal are earned; fees waived leave unearned income, not income.
    moved_fees = new_plan.principal - D("1200.00")
    assert balance(Account.FEE_INCOME, old) == moved_fees
    assert sub_ledger_gaps() == {}
    assert list(ledger_breaches()) == []


def test_an_unbalanced_entry_is_refused_before_the_database() -> None:
    draft = Draft(key="bad:1", kind=EntryKind.OPENING, business_date=date(2026, 1, 1))
    draft.debit(Account.CASH, D("1.00"))
    draft.credit(Account.FEE_INCOME, D("0.99"))
    with pytest.raises(UnbalancedEntry):
        write([draft])


def test_the_same_event_cannot_be_posted_twice(db) -> None:
    def draft() -> Draft:
        d = Draft(key="once:1", kind=EntryKind.OPENING, business_date=date(2026, 1, 1))
        d.debit(Account.CASH, D("1.00"))
        d.credit(Account.OPENING_BALANCES, D("1.00"))
        return d

    assert write([draft()]) == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        write([draft()])


@pytest.mark.django_db
def test_postgres_refuses_unbalanced_lines_and_edits(is_postgres) -> None:
    if not is_postgres:
        pytest.skip("the journal's triggers are PostgreSQL's; check_ledger covers SQLite")
    d = Draft(key="guard:1", kind=EntryKind.OPENING, business_date=date(2026, 1, 1))
    d.debit(Account.CASH, D("5.00"))
    d.credit(Account.OPENING_BALANCES, D("5.00"))
    write([d])
    entry = JournalEntry.objects.get(key="guard:1")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        JournalLine.objects.create(
            entry=entry, account=Account.CASH, debit=D("1.00"), business_date=date(2026, 1, 1)
        )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(debit=D("6.00"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).delete()


@pytest.mark.ledger_corrupted  # changes an installment behind the journal's back on purpose
def test_check_ledger_finds_money_the_journal_does_not_have(current_plan) -> None:
    Installment.objects.filter(plan=current_plan, sequence=1).update(principal_paid=D("10.00"))
    problems = list(ledger_breaches())
    assert any(f"plan {current_plan.pk}: account {Account.PRINCIPAL_RECEIVABLE}" in p for p in problems)
    assert opening_balances([current_plan.pk], today=timezone.localdate()) == 1
    assert sub_ledger_gaps() == {}
    assert opening_balances([current_plan.pk], today=timezone.localdate()) == 0  # level: nothing more


def test_trial_balance_command(current_plan, capsys) -> None:
    call_command("trial_balance")
    out = capsys.readouterr().out
    assert "1100" in out
    assert "1,200.00" in out
    call_command("trial_balance", "--csv", "--plan", str(current_plan.public_id))
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "account,name,type,debit,credit,balance"
    assert rows[-1].startswith(",total,,1272.00,1272.00,0")
    with pytest.raises(CommandError):
        call_command("trial_balance", "--plan", "not-a-plan")


def test_plan_statement_has_running_balances(customer, current_plan, card) -> None:
    _pay(customer, current_plan, "106.00", card, "j-4")
    lines = [
        line
        for line in plan_statement(plan_id=current_plan.pk)
        if line.account == Account.PRINCIPAL_RECEIVABLE
    ]
    assert [line.balance for line in lines] == [D("1200.00"), D("1100.00")]


def test_admin_pages_for_finance(client, current_plan) -> None:
    admin_client = client
    admin_client.force_login(StaffFactory(phone="+8613700000009", groups=[FINANCE]))
    page = admin_client.get("/admin/installments/journalentry/trial-balance/")
    assert page.status_code == 200
    assert "1,200.00" in page.content.decode() or "1200.00" in page.content.decode()
    csv_page = admin_client.get("/admin/installments/journalentry/trial-balance/?format=csv")
    assert csv_page["Content-Type"].startswith("text/csv")
    statement = admin_client.get(f"/admin/installments/journalentry/plan/{current_plan.pk}/statement/")
    assert statement.status_code == 200
    assert admin_client.get("/admin/installments/journalentry/").status_code == 200


def test_agents_cannot_read_the_journal(client, agent, current_plan) -> None:
    client.force_login(agent)
    assert client.get("/admin/installments/journalentry/trial-balance/").status_code == 403


# --- a property: any sequence of payments, sweeps and reversals keeps the books level ---------------------

steps = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.decimals(min_value=D("0.01"), max_value=D("400.00"), places=2)),
        st.tuples(st.just("sweep"), st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("reverse"), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_any_sequence_of_events_keeps_sub_ledger_equal_to_journal(
    steps, customer, flat_product, agent
) -> None:
    with transaction.atomic():
        start = timezone.localdate() - timedelta(days=60)
        plan = plan_create(
            customer=customer, product=flat_product, principal="1000.00", tenor=6, purchase_date=start
        )
        day = start + timedelta(days=30)
        succeeded = []
        for n, (what, value) in enumerate(steps):
            if what == "pay":
                payable = payable_total(
                    plan_dues(plan, open_installments(plan.pk), today=timezone.localdate())
                )
                if payable > 0:
                    succeeded.append(
                        repayment_record_offline(
                            staff=agent, plan=plan, amount=min(value, payable), reference=f"p{n}"
                        )
                    )
            elif what == "sweep":
                day = min(day + timedelta(days=value), timezone.localdate())
                overdue_sweep(as_of=day)
            elif succeeded:
                repayment_reverse(staff=agent, repayment=succeeded.pop(), reason="test")
        assert sub_ledger_gaps() == {}
        assert list(ledger_breaches()) == []
        transaction.set_rollback(True)


# --- charge-off and recoveries ---------------------------------------------------------------------------


def test_charge_off_writes_receivables_off_and_a_recovery_is_income(customer, late_plan, card, agent) -> None:
    from installments.services import plans_charge_off  # noqa: PLC0415 (the charge-off tests' service)

    pid = late_plan.pk
    receivables = (Account.PRINCIPAL_RECEIVABLE, Account.FEE_RECEIVABLE, Account.PENALTY_RECEIVABLE)
    receivable = sum((balance(a, pid) for a in receivables), D("0"))
    unearned = balance(Account.UNEARNED_FEES, pid)
    late_plan.charge_off_after_days = 1
    late_plan.save(update_fields=["charge_off_after_days"])
    plans_charge_off(business_date=timezone.localdate())
    late_plan.refresh_from_db()
    assert late_plan.status == "charged_off"
    for account in receivables:
        assert balance(account, pid) == 0
    assert balance(Account.UNEARNED_FEES, pid) == 0  # fees never earned are not a loss
    assert balance(Account.WRITE_OFF, pid) == receivable - unearned
    assert sub_ledger_gaps() == {}
    _pay(customer, late_plan, "100.00", card, "j-co")
    assert balance(Account.RECOVERIES_INCOME, pid) == D("100.00")
    assert balance(Account.WRITE_OFF, pid) == receivable - unearned  # the loss stays booked
    assert list(ledger_breaches()) == []

"""T+1 reconciliation (repayments/services/settlement_file.py) against the in-process simulated bank:
its settlement file, the breaks each kind of difference makes, re-runs, the command and the admin.

Tests that make the bank's books differ from ours put them back before the end, so the after-test ledger
check (which compares the same books) still passes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from repayments.gateway import SettlementFileError, get_gateway, parse_settlement_file
from repayments.models import (
    BreakKind,
    BreakSeverity,
    BreakState,
    ReconciliationBreak,
    Repayment,
    RepaymentStatus,
    SettlementFile,
)
from repayments.services import (
    gateway_key,
    reconciliation_break_resolve,
    reconciliation_run,
    repayment_create,
)
from repayments.tasks import settlement_reconcile
from simulators.bank_rules import settlement_fee_fen
from simulators.models import SimulatedCharge
from tests.factories import BoundCardFactory, StaffFactory

D = Decimal


def _pay(customer, plan, card, key: str = "k1") -> Repayment:
    repayment = repayment_create(
        customer=customer, plan=plan, mode="due_now", card=card, channel="web", idempotency_key=key
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    return repayment


def _bank_row(repayment: Repayment) -> SimulatedCharge:
    return SimulatedCharge.objects.get(idempotency_key=gateway_key(repayment.public_id))


@pytest.fixture
def staff(db) -> User:
    return StaffFactory(phone="+8613700000099", is_superuser=True)


def test_the_fee_rule() -> None:
    assert settlement_fee_fen(21200, "succeeded") == 21  # 0.1% of 212.00
    assert settlement_fee_fen(150, "succeeded") == 1  # 0.15 fen rounds to 0: the minimum is one fen
    assert settlement_fee_fen(1500, "succeeded") == 2  # 1.5 fen, half up
    assert settlement_fee_fen(21200, "refund") == 0


def test_a_clean_day_has_no_breaks_and_its_file_is_kept(customer, card, overdue_plan) -> None:
    repayment = _pay(customer, overdue_plan, card)
    today = timezone.localdate()
    result = reconciliation_run(business_date=today)
    assert (result.lines, result.matched, result.breaks) == (1, 1, [])
    stored = SettlementFile.objects.get(business_date=today)
    assert (stored.line_count, stored.matched_count) == (1, 1)
    assert (stored.charged_total, stored.fee_total) == (D("212.00"), D("0.21"))
    [line] = parse_settlement_file(stored.raw)
    assert (line.idempotency_key, line.amount, line.reference) == (
        gateway_key(repayment.public_id),
        D("212.00"),
        repayment.gateway_reference,
    )
    # Another day's file does not have it.
    assert reconciliation_run(business_date=today - timedelta(days=1)).lines == 0


def test_a_line_missing_from_the_bank_is_a_critical_book_only_break(customer, card, overdue_plan) -> None:
    repayment = _pay(customer, overdue_plan, card)
    row = _bank_row(repayment)
    row.delete()
    try:
        result = reconciliation_run(business_date=timezone.localdate())
    finally:
        row.save()
    [found] = result.breaks
    assert (found.kind, found.severity, found.repayment_id) == (
        BreakKind.BOOK_ONLY,
        BreakSeverity.CRITICAL,
        repayment.pk,
    )
    assert (found.book_amount, found.bank_amount) == (D("212.00"), None)


def test_an_altered_amount_is_an_amount_mismatch(customer, card, overdue_plan) -> None:
    repayment = _pay(customer, overdue_plan, card)
    SimulatedCharge.objects.filter(pk=_bank_row(repayment).pk).update(amount=D("210.00"))
    try:
        result = reconciliation_run(business_date=timezone.localdate())
    finally:
        SimulatedCharge.objects.filter(pk=_bank_row(repayment).pk).update(amount=D("212.00"))
    [found] = result.breaks
    assert (found.kind, found.bank_amount, found.book_amount) == (
        BreakKind.AMOUNT_MISMATCH,
        D("210.00"),
        D("212.00"),
    )
    assert result.matched == 0


def test_a_charge_at_the_bank_with_no_repayment_is_bank_only(customer, card) -> None:
    # A key that is not a repayment's: the bank charged something no repayment of ours asked for.
    stray = get_gateway().charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    assert stray.succeeded
    [found] = reconciliation_run(business_date=timezone.localdate()).breaks
    assert (found.kind, found.severity, found.gateway_key, found.bank_amount) == (
        BreakKind.BANK_ONLY,
        BreakSeverity.CRITICAL,
        "stray-1",
        D("5.00"),
    )


def test_a_success_we_never_heard_is_settled_by_the_late_success_path(customer, overdue_plan) -> None:
    card = BoundCardFactory(customer=customer, number="6222020000000031")  # its first answer is lost
    repayment = repayment_create(
        customer=customer, plan=overdue_plan, mode="due_now", card=card, channel="web", idempotency_key="t"
    )
    assert repayment.status == RepaymentStatus.PENDING
    result = reconciliation_run(business_date=timezone.localdate())
    assert (result.matched, result.settled_late, result.breaks) == (1, 1, [])
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED


def test_a_rerun_replaces_open_breaks_and_keeps_resolved_ones(customer, card, staff) -> None:
    gateway = get_gateway()
    gateway.charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    today = timezone.localdate()
    reconciliation_run(business_date=today)
    reconciliation_run(business_date=today)
    [found] = ReconciliationBreak.objects.filter(business_date=today)
    assert SettlementFile.objects.filter(business_date=today).count() == 1
    reconciliation_break_resolve(staff=staff, item=found, reason="refunded to the customer by hand")
    gateway.charge(token=card.gateway_token, amount=D("6.00"), idempotency_key="stray-2")
    result = reconciliation_run(business_date=today)
    assert [b.gateway_key for b in result.breaks] == ["stray-2"]  # the resolved one is not raised again
    assert set(ReconciliationBreak.objects.values_list("gateway_key", "state")) == {
        ("stray-1", BreakState.RESOLVED),
        ("stray-2", BreakState.OPEN),
    }


def test_resolving_needs_staff_and_a_reason(customer, card) -> None:
    get_gateway().charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    [found] = reconciliation_run(business_date=timezone.localdate()).breaks
    with pytest.raises(ApplicationError):
        reconciliation_break_resolve(staff=customer, item=found, reason="x")
    with pytest.raises(ApplicationError):
        reconciliation_break_resolve(staff=StaffFactory(phone="+8613700000098"), item=found, reason="  ")


def test_the_command_fails_while_a_critical_break_is_open(customer, card, overdue_plan, staff) -> None:
    _pay(customer, overdue_plan, card)
    today = timezone.localdate().isoformat()
    call_command("reconcile", "--date", today)  # clean: no error
    get_gateway().charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    with pytest.raises(CommandError) as failed:
        call_command("reconcile", "--date", today)
    assert failed.value.returncode == 1
    assert "1 open critical break" in str(failed.value)
    reconciliation_break_resolve(
        staff=staff, item=ReconciliationBreak.objects.get(), reason="the bank reversed it"
    )
    call_command("reconcile", "--date", today)


def test_the_admin_lists_breaks_and_resolves_one_with_who_and_why(client, customer, card, staff) -> None:
    get_gateway().charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    [found] = reconciliation_run(business_date=timezone.localdate()).breaks
    client.force_login(staff)
    listing = client.get(reverse("admin:repayments_reconciliationbreak_changelist")).content.decode()
    url = reverse("admin:repayments_reconciliationbreak_resolve", args=[found.pk])
    assert "stray-1" in listing
    assert url in listing
    change = client.get(reverse("admin:repayments_reconciliationbreak_change", args=[found.pk]))
    assert url in change.content.decode()
    files = client.get(reverse("admin:repayments_settlementfile_changelist")).content.decode()
    day = timezone.localdate().isoformat()
    assert f'?business_date={day}&amp;state__exact=open"><strong>1</strong>' in files  # the run's open breaks
    filtered = client.get(
        reverse("admin:repayments_reconciliationbreak_changelist"),
        {"business_date": day, "state__exact": "open"},
    )
    assert "stray-1" in filtered.content.decode()
    assert client.post(url, {"reason": ""}).status_code == 200  # the form again: a reason is required
    found.refresh_from_db()
    assert found.state == BreakState.OPEN
    response = client.post(url, {"reason": "charged in error; refunded by the bank"})
    assert response.status_code == 302
    found.refresh_from_db()
    assert (found.state, found.resolved_by, found.resolution) == (
        BreakState.RESOLVED,
        staff,
        "charged in error; refunded by the bank",
    )
    assert found.resolved_at is not None


def test_a_malformed_file_is_refused_whole() -> None:
    with pytest.raises(SettlementFileError):
        parse_settlement_file("ref,key\nx,y\n")
    header = "reference,idempotency_key,amount,fee,status,time\n"
    with pytest.raises(SettlementFileError):
        parse_settlement_file(header + "ch_1,k,abc,0.01,succeeded,2026-11-30T10:00:00+08:00\n")


def test_the_morning_task_reconciles_yesterday_and_is_on_the_beat(settings, customer, card) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["settlement-reconcile"]
    assert entry["task"] == settlement_reconcile.name
    get_gateway().charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    assert settlement_reconcile() == 0  # yesterday: nothing was charged then
    assert settlement_reconcile(timezone.localdate().isoformat()) == 1
    assert ReconciliationBreak.objects.get().gateway_key == "stray-1"


# --- the third leg: the journal ---------------------------------------------------------------------------


def _balance(account: str) -> D:
    from installments.selectors import trial_balance  # noqa: PLC0415 (only these tests read it)

    return next(r.balance for r in trial_balance(as_of=timezone.localdate()).rows if r.account == account)


def test_a_matched_line_moves_bank_clearing_to_cash_less_the_fee_once(customer, card, overdue_plan) -> None:
    from installments.models import Account  # noqa: PLC0415

    _pay(customer, overdue_plan, card)
    assert _balance(Account.BANK_CLEARING) == D("212.00")
    today = timezone.localdate()
    result = reconciliation_run(business_date=today)
    assert result.settlements_posted == 1
    assert _balance(Account.BANK_CLEARING) == 0
    assert _balance(Account.CASH) == D("211.79")
    assert _balance(Account.BANK_FEES) == D("0.21")
    assert reconciliation_run(business_date=today).settlements_posted == 0  # a re-run posts nothing twice
    assert _balance(Account.CASH) == D("211.79")


@pytest.mark.ledger_corrupted  # a repayment marked succeeded behind the ledger's and journal's back
def test_a_payment_the_journal_does_not_have_is_a_journal_break(customer, card, overdue_plan) -> None:
    repayment = _pay(customer, overdue_plan, card)
    other = repayment_create(
        customer=customer, plan=overdue_plan, mode="custom", amount="1.00", card=card, channel="web",
        idempotency_key="k2",
    )  # fmt: skip
    # The bank and the repayment agree on `other`; its journal entry is taken away by moving its key.
    from installments.models import JournalEntry  # noqa: PLC0415

    today = timezone.localdate()
    with connection_without_journal_guards():
        JournalEntry.objects.filter(key=f"repayment:{other.pk}").update(key=f"moved:{other.pk}")
    result = reconciliation_run(business_date=today)
    kinds = {(b.kind, b.gateway_key) for b in result.breaks}
    assert (BreakKind.JOURNAL_MISMATCH, gateway_key(other.public_id)) in kinds
    assert (BreakKind.JOURNAL_MISMATCH, gateway_key(repayment.public_id)) not in kinds
    # A failed payment the journal books as received is a break too.
    with connection_without_journal_guards():
        JournalEntry.objects.filter(key=f"moved:{other.pk}").update(key=f"repayment:{other.pk}")
    Repayment.objects.filter(pk=other.pk).update(status=RepaymentStatus.FAILED)
    _bank_row(other).delete()  # and the bank never had it
    result = reconciliation_run(business_date=today)
    notes = [b.note for b in result.breaks if b.kind == BreakKind.JOURNAL_MISMATCH]
    assert any("failed" in note for note in notes)


def connection_without_journal_guards():
    """The journal's append-only triggers off for one block (PostgreSQL: triggers do not fire for a
    session in replica mode), to corrupt it on purpose."""
    from contextlib import contextmanager  # noqa: PLC0415

    from django.db import connection  # noqa: PLC0415

    @contextmanager
    def off():
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")

    return off()


# --- refund lines -------------------------------------------------------------------------------------------


def test_a_reversal_refund_line_matches_and_settles(customer, card, overdue_plan, staff) -> None:
    from installments.models import Account  # noqa: PLC0415
    from repayments.services import repayment_reverse  # noqa: PLC0415

    repayment = _pay(customer, overdue_plan, card)
    repayment_reverse(staff=staff, repayment=repayment, reason="customer disputed it")
    result = reconciliation_run(business_date=timezone.localdate())
    assert result.breaks == []
    assert result.settlements_posted == 2  # the charge in, the refund out
    assert _balance(Account.BANK_CLEARING) == 0
    assert _balance(Account.CASH) == D("-0.21")  # 212.00 in less the fee, 212.00 back out


@pytest.mark.ledger_corrupted  # the bank's books lose a refund, or gain one, on purpose
def test_refunds_the_books_and_the_bank_disagree_on_are_breaks(customer, card, overdue_plan, staff) -> None:
    import uuid  # noqa: PLC0415

    from repayments.services import repayment_reverse  # noqa: PLC0415

    repayment = _pay(customer, overdue_plan, card)
    repayment_reverse(staff=staff, repayment=repayment, reason="customer disputed it")
    refund = SimulatedCharge.objects.get(idempotency_key=f"reversal:{repayment.public_id}")
    refund.delete()  # the bank lost it: our journal booked a refund the file lacks
    stranger = f"excess:{uuid.uuid4()}"
    other = repayment_create(
        customer=customer, plan=overdue_plan, mode="custom", amount="5.00", card=card, channel="web",
        idempotency_key="k2",
    )  # fmt: skip
    get_gateway().refund(reference=_bank_row(other).reference, amount=D("1.00"), idempotency_key=stranger)
    result = reconciliation_run(business_date=timezone.localdate())
    kinds = sorted((b.kind, b.gateway_key) for b in result.breaks)
    assert kinds == sorted(
        [
            (BreakKind.REFUND_MISMATCH, f"reversal:{repayment.public_id}"),
            (BreakKind.REFUND_MISMATCH, stranger),
        ]
    )

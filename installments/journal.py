"""The journal's writer: balanced entries built in memory and inserted with the event they record.

The plan ledger (``installments/ledger.py``) builds the entries of every change it makes to installments
(payments, reversals, waivers, re-staging) from the same numbers it writes, so the sub-ledger and the
general ledger cannot drift apart; plan creation, the overdue sweep (set-based SQL) and the bank's side of
a payment (refunds sent, settlement) post here too. ``check_ledger`` proves the two agree
(``journal_breaches``).

Fees are recognised when a plan is created (fee receivable against unearned fee income) and earned when
their installment falls due - or earlier, when paid or capitalised first - so each receivable account
always equals the installments' open amounts, and unearned fee income the open fees not yet billed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, Sum

from core.db import insert_rows
from core.money import ZERO, quantize_money
from installments.models import (
    Account,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    JournalEntry,
    JournalLine,
    PlanStatus,
)

# Installments whose open amounts are receivables: still owed on a plan that has not been charged off.
_OPEN_INSTALLMENT = (InstallmentStatus.PENDING, InstallmentStatus.OVERDUE)
# Plans whose open installment amounts are no longer receivables in the journal.
NOT_RECEIVABLE_PLAN_STATUSES: tuple[str, ...] = (PlanStatus.CHARGED_OFF,)
SUB_LEDGER_ACCOUNTS = (
    Account.PRINCIPAL_RECEIVABLE,
    Account.FEE_RECEIVABLE,
    Account.PENALTY_RECEIVABLE,
    Account.UNEARNED_FEES,
)


class UnbalancedEntry(ValueError):
    """An entry whose debits and credits differ: a bug in the code that built it, never a user error."""


@dataclass(frozen=True)
class Line:
    account: str
    debit: Decimal
    credit: Decimal
    plan_id: int | None
    customer_id: int | None


@dataclass
class Draft:
    """An entry being built. Amounts are added per account; a negative amount goes to the other side."""

    key: str
    kind: str
    business_date: date
    plan_id: int | None = None
    customer_id: int | None = None
    reference: str = ""
    memo: str = ""
    lines: list[Line] = field(default_factory=list)

    def debit(
        self, account: str, amount: Decimal, *, plan_id: int | None = None, customer_id: int | None = None
    ) -> None:
        self._add(account, amount, plan_id, customer_id)

    def credit(
        self, account: str, amount: Decimal, *, plan_id: int | None = None, customer_id: int | None = None
    ) -> None:
        self._add(account, -amount, plan_id, customer_id)

    def _add(self, account: str, signed: Decimal, plan_id: int | None, customer_id: int | None) -> None:
        if not signed:
            return
        plan = self.plan_id if plan_id is None else plan_id
        customer = self.customer_id if customer_id is None else customer_id
        debit, credit = (signed, ZERO) if signed > 0 else (ZERO, -signed)
        self.lines.append(Line(account, debit, credit, plan, customer))

    def net(self) -> list[Line]:
        """The lines summed per (account, plan, customer): one line per account and side in the books."""
        sums: dict[tuple[str, int | None, int | None], Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            sums[(line.account, line.plan_id, line.customer_id)] += line.debit - line.credit
        return [
            Line(account, max(total, ZERO), max(-total, ZERO), plan, customer)
            for (account, plan, customer), total in sums.items()
            if total
        ]

    @property
    def imbalance(self) -> Decimal:
        return sum((line.debit - line.credit for line in self.lines), ZERO)


def write(drafts: Iterable[Draft]) -> int:
    """Insert the drafts with their lines, in the caller's transaction; returns the entries written.

    Drafts with no lines are dropped (an event that moved no money). A key already in the journal makes
    the insert fail with the caller's transaction: posting one event twice is a bug to surface, not to
    skip (callers that may legitimately repeat check ``posted_keys`` first)."""
    ready = []
    for draft in drafts:
        lines = draft.net()
        if not lines:
            continue
        if draft.imbalance:
            raise UnbalancedEntry(f"journal entry {draft.key} is off by {draft.imbalance}")
        ready.append((draft, lines))
    if not ready:
        return 0
    ids = dict(
        (key, pk)
        for pk, key in insert_rows(
            JournalEntry,
            [
                {
                    "key": draft.key,
                    "kind": draft.kind,
                    "business_date": draft.business_date,
                    "plan_id": draft.plan_id,
                    "reference": draft.reference[:64],
                    "memo": draft.memo[:255],
                }
                for draft, _lines in ready
            ],
            returning=("id", "key"),
        )
    )
    insert_rows(
        JournalLine,
        [
            {
                "entry_id": ids[draft.key],
                "account": line.account,
                "debit": line.debit,
                "credit": line.credit,
                "plan_id": line.plan_id,
                "customer_id": line.customer_id,
                "business_date": draft.business_date,
            }
            for draft, lines in ready
            for line in lines
        ],
    )
    return len(ready)


def posted_keys(keys: Iterable[str]) -> set[str]:
    """Which of these entry keys are already in the journal (for events that may be seen twice)."""
    return set(JournalEntry.objects.filter(key__in=list(keys)).values_list("key", flat=True))


def run_token() -> str:
    """A key part unique to one run of a set-based posting (the sweep), so two runs never collide."""
    return uuid.uuid4().hex[:12]


# --- entries of plan events ----------------------------------------------------------------------------


def open_schedule(draft: Draft, *, plan_id: int, customer_id: int, principal: Decimal, fees: Decimal) -> None:
    """A new schedule's receivables: the principal (the caller credits where it came from) and every fee
    of the schedule against unearned fee income, earned as each installment falls due."""
    draft.debit(Account.PRINCIPAL_RECEIVABLE, principal, plan_id=plan_id, customer_id=customer_id)
    draft.debit(Account.FEE_RECEIVABLE, fees, plan_id=plan_id, customer_id=customer_id)
    draft.credit(Account.UNEARNED_FEES, fees, plan_id=plan_id, customer_id=customer_id)


def plan_created(plan: InstallmentPlan, *, fees: Decimal) -> Draft:
    """A purchase on installments: we owe the merchant the price, the customer owes us the schedule."""
    draft = Draft(
        key=f"plan:{plan.pk}",
        kind=EntryKind.PLAN_CREATED,
        business_date=plan.purchase_date,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=str(plan.public_id),
    )
    open_schedule(draft, plan_id=plan.pk, customer_id=plan.customer_id, principal=plan.principal, fees=fees)
    draft.credit(Account.MERCHANT_PAYABLE, plan.principal)
    return draft


def fee_billed(
    *, installment_id: int, sequence: int, plan_id: int, customer_id: int, amount: Decimal, today: date
) -> Draft:
    """A fee earned before its due date, because it was paid or capitalised first."""
    draft = Draft(
        key=f"fee:{installment_id}",
        kind=EntryKind.FEE_BILLED,
        business_date=today,
        plan_id=plan_id,
        customer_id=customer_id,
        reference=f"#{sequence}",
    )
    draft.debit(Account.UNEARNED_FEES, amount)
    draft.credit(Account.FEE_INCOME, amount)
    return draft


def waiver_account(component: str, *, fee_billed: bool) -> str:
    """Where a waiver is charged: a fee not yet earned leaves unearned income; anything else is a cost."""
    return Account.UNEARNED_FEES if component == "fee" and not fee_billed else Account.WAIVERS


# --- the bank's side -----------------------------------------------------------------------------------


def refund_sent(
    *, key: str, amount: Decimal, plan_id: int, customer_id: int, reference: str, today: date
) -> Draft:
    """Money we owed a customer (an excess) leaves through the bank."""
    draft = Draft(
        key=key,
        kind=EntryKind.EXCESS_REFUNDED,
        business_date=today,
        plan_id=plan_id,
        customer_id=customer_id,
        reference=reference,
    )
    draft.debit(Account.REFUNDS_PAYABLE, amount)
    draft.credit(Account.BANK_CLEARING, amount)
    return draft


def settled(*, key: str, amount: Decimal, fee: Decimal, reference: str, today: date, memo: str = "") -> Draft:
    """The bank paid a charge out to our account, less its fee (a matched settlement-file line)."""
    draft = Draft(key=key, kind=EntryKind.SETTLED, business_date=today, reference=reference, memo=memo)
    draft.debit(Account.CASH, amount - fee)
    draft.debit(Account.BANK_FEES, fee)
    draft.credit(Account.BANK_CLEARING, amount)
    return draft


def refund_settled(*, key: str, amount: Decimal, fee: Decimal, reference: str, today: date) -> Draft:
    """A refund we sent left our bank account (a refund line of the settlement file), with any fee."""
    draft = Draft(key=key, kind=EntryKind.SETTLED, business_date=today, reference=reference)
    draft.debit(Account.BANK_CLEARING, amount)
    draft.debit(Account.BANK_FEES, fee)
    draft.credit(Account.CASH, amount + fee)
    return draft


def cleared_by_key(keys: Iterable[str], *, credit: bool = False) -> dict[str, Decimal]:
    """What each of these entries took into bank clearing (or, ``credit``, paid out of it): the
    reconciliation's third leg."""
    rows = (
        JournalLine.objects.filter(entry__key__in=list(keys), account=Account.BANK_CLEARING)
        .values("entry__key")
        .annotate(total=Sum("credit" if credit else "debit"))
        .values_list("entry__key", "total")
    )
    return {key: _money(total) for key, total in rows}


def refunds_on(business_date: date) -> dict[str, Decimal]:
    """Entries of a business date that paid money back out of bank clearing (excess refunds, reversals of
    card payments): key -> amount."""
    rows = (
        JournalLine.objects.filter(
            business_date=business_date,
            account=Account.BANK_CLEARING,
            credit__gt=0,
            entry__kind__in=[EntryKind.EXCESS_REFUNDED, EntryKind.REPAYMENT_REVERSED],
        )
        .values("entry__key")
        .annotate(total=Sum("credit"))
        .values_list("entry__key", "total")
    )
    return {key: _money(total) for key, total in rows}


def cleared_on(business_date: date) -> dict[str, Decimal]:
    """Payment entries of a business date that took money into bank clearing: key -> amount."""
    rows = (
        JournalLine.objects.filter(
            business_date=business_date,
            account=Account.BANK_CLEARING,
            debit__gt=0,
            entry__kind=EntryKind.REPAYMENT,
        )
        .values("entry__key")
        .annotate(total=Sum("debit"))
        .values_list("entry__key", "total")
    )
    return {key: _money(total) for key, total in rows}


# --- opening balances ----------------------------------------------------------------------------------


def opening_balances(plan_ids: Iterable[int] | None = None, *, today: date) -> int:
    """Bring the journal level with the installments for plans whose money was written without it: books
    started with plans already open (the migration that created the journal calls this once), or plans
    imported from another system. Each plan's difference per receivable account is posted against
    ``opening balances``; a plan already level gets nothing, so a second call writes nothing."""
    token = run_token()
    gaps = sub_ledger_gaps(plan_ids)
    customers = dict(
        InstallmentPlan.objects.filter(pk__in={plan for plan, _account in gaps}).values_list(
            "id", "customer_id"
        )
    )
    drafts: dict[int, Draft] = {}
    for (plan_id, account), gap in gaps.items():
        draft = drafts.get(plan_id)
        if draft is None:
            draft = drafts[plan_id] = Draft(
                key=f"opening:{plan_id}:{token}",
                kind=EntryKind.OPENING,
                business_date=today,
                plan_id=plan_id,
                customer_id=customers[plan_id],
            )
        if account == Account.UNEARNED_FEES:
            draft.credit(account, gap)
            draft.debit(Account.OPENING_BALANCES, gap)
        else:
            draft.debit(account, gap)
            draft.credit(Account.OPENING_BALANCES, gap)
    return write(drafts.values())


# --- the sub-ledger and the general ledger -------------------------------------------------------------


def penalties_by_date(plan_id: int) -> list[tuple[date, Decimal]]:
    """Every penalty a plan has accrued, summed per business date (the penalty receivable's debits of
    the sweep's entries): the dated flows the all-in cost ceiling counts."""
    rows = (
        JournalLine.objects.filter(
            plan_id=plan_id, entry__kind=EntryKind.PENALTY_ACCRUED, account=Account.PENALTY_RECEIVABLE
        )
        .values("business_date")
        .annotate(amount=Sum("debit"))
        .order_by("business_date")
    )
    return [(row["business_date"], _money(row["amount"])) for row in rows if _money(row["amount"])]


def _open_amount(component: str) -> str:
    return f"{component}_due - {component}_paid - {component}_waived"


def sub_ledger(plan_ids: Iterable[int] | None = None) -> dict[tuple[int, str], Decimal]:
    """What the installments say each receivable account of each plan holds: the open amounts of open
    installments of plans not charged off, and for unearned fee income the open fees not yet billed."""
    query = Installment.objects.filter(status__in=_OPEN_INSTALLMENT).exclude(
        plan__status__in=NOT_RECEIVABLE_PLAN_STATUSES
    )
    if plan_ids is not None:
        query = query.filter(plan_id__in=list(plan_ids))
    totals: dict[tuple[int, str], Decimal] = {}
    rows = query.values("plan_id").annotate(
        principal=Sum(F("principal_due") - F("principal_paid") - F("principal_waived")),
        fee=Sum(F("fee_due") - F("fee_paid") - F("fee_waived")),
        penalty=Sum(F("penalty_due") - F("penalty_paid") - F("penalty_waived")),
        unearned=Sum(F("fee_due") - F("fee_paid") - F("fee_waived"), filter=Q(fee_billed=False)),
    )
    accounts = (
        Account.PRINCIPAL_RECEIVABLE,
        Account.FEE_RECEIVABLE,
        Account.PENALTY_RECEIVABLE,
        Account.UNEARNED_FEES,
    )
    for plan_id, *amounts in rows.values_list("plan_id", "principal", "fee", "penalty", "unearned"):
        for account, value in zip(accounts, amounts, strict=True):
            amount = _money(value)
            if amount:
                totals[(plan_id, account)] = amount
    return totals


def general_ledger(plan_ids: Iterable[int] | None = None) -> dict[tuple[int, str], Decimal]:
    """The journal's balance of each plan's sub-ledger accounts (unearned fees as a positive credit)."""
    query = JournalLine.objects.filter(account__in=SUB_LEDGER_ACCOUNTS, plan_id__isnull=False)
    if plan_ids is not None:
        query = query.filter(plan_id__in=list(plan_ids))
    totals: dict[tuple[int, str], Decimal] = {}
    for plan_id, account, debit, credit in (
        query.values("plan_id", "account")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .values_list("plan_id", "account", "debit", "credit")
    ):
        balance = _money(debit) - _money(credit)
        if account == Account.UNEARNED_FEES:
            balance = -balance
        if balance:
            totals[(plan_id, account)] = balance
    return totals


def sub_ledger_gaps(plan_ids: Iterable[int] | None = None) -> dict[tuple[int, str], Decimal]:
    """(plan, account) -> installments' amount - journal balance, where they differ."""
    ids = None if plan_ids is None else list(plan_ids)
    sub, gen = sub_ledger(ids), general_ledger(ids)
    gaps = {}
    for key in sub.keys() | gen.keys():
        gap = sub.get(key, ZERO) - gen.get(key, ZERO)
        if gap:
            gaps[key] = gap
    return gaps


def _money(value: object) -> Decimal:
    """A sum read back from the database, to cents (SQLite sums decimals as floats)."""
    return quantize_money(Decimal(str(value))) if value is not None else ZERO


def journal_breaches() -> Iterator[str]:
    """The journal's invariants, for ``check_ledger``: every entry has lines and balances, the trial
    balance is zero, and each plan's receivable accounts equal its installments' open amounts."""
    unbalanced = (
        JournalLine.objects.values("entry_id")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .values_list("entry_id", "debit", "credit")
    )
    if connection.vendor == "postgresql":
        unbalanced = unbalanced.exclude(debit=F("credit"))
    for entry_id, debit, credit in unbalanced.iterator():
        if _money(debit) != _money(credit):
            yield f"journal entry {entry_id}: debits {_money(debit)} != credits {_money(credit)}"
    for entry_id in JournalEntry.objects.filter(lines__isnull=True).values_list("id", flat=True)[:20]:
        yield f"journal entry {entry_id} has no lines"
    totals = JournalLine.objects.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    if _money(totals["debit"]) != _money(totals["credit"]):
        yield f"trial balance: debits {_money(totals['debit'])} != credits {_money(totals['credit'])}"
    for (plan_id, account), gap in sorted(sub_ledger_gaps().items())[:50]:
        yield f"plan {plan_id}: account {account} differs from its installments by {gap}"

"""The plan ledger: the one owner of what a plan owes and what state it is in.

Only this module locks plans, works out what they owe (``plan_dues``) and writes installment amounts
or plan status, bucket and days past due (with the credit events those changes imply). Every money
movement on a plan is one of its operations, called inside the caller's transaction:

* ``post``: money received, allocated oldest first (penalty -> fee -> principal), with prepayment
  waivers; returns the splits so the caller records its own allocation rows;
* ``unpost``: the exact inverse of a post (a staff reversal), installments reopened and the plan's
  delinquency restated at once rather than at the next sweep;
* ``restructure``: a re-staging closes what is left of a plan;
* ``reschedule``: due dates moved (延期, a payment holiday) with any fee the move adds;
  ``headroom_recompute`` restates the plan's room under its all-in cost ceiling (``installments.cost``);
* ``charge_off`` / ``charge_off_undo``: a plan long past due is charged off (核销) and, the same business
  day, back. The only writers of ``PlanStatus.CHARGED_OFF`` and ``charged_off_on``; the installments keep
  their open amounts (the customer still owes them) and later payments ``post`` onto them as recoveries.

Plan status has one definition, ``plan_status``; the overdue sweep states the same rule in SQL
(``installments/services/sweep.py``) and a test holds the two together. Locks are taken in DESIGN.md's
order by ``lock_plans`` only: plan rows by id, then their installments by (plan, sequence).

Plans and installments are handled as plain rows (``PlanRow``, ``InstallmentRow``): a debit chunk
settles 500 plans at once, and building model instances for them cost more than their SQL. Reads that
need the models (pages, quotes) pass model instances, which have the same attribute names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from django.db.models import F, QuerySet
from django.utils import timezone

from core.db import update_rows
from core.ids import short_ref
from core.money import ZERO, quantize_money
from installments import cost, journal
from installments.allocation import Due, OverpaymentError, Split, Waiver, allocate, payable_total
from installments.models import (
    INSTALLMENT_MONEY_FIELDS,
    RECEIVABLE,
    Account,
    CreditEvent,
    CreditEventKind,
    DelinquencyBucket,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanFreeze,
    PlanStatus,
    PrepaymentFeePolicy,
)

# Installments still owing money, and plans money may still be paid into (or debited, re-staged).
OPEN_STATUSES = (InstallmentStatus.PENDING, InstallmentStatus.OVERDUE)
PAYABLE_PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.OVERDUE)
# Plans a customer (or staff, offline) may still pay into: also a charged-off plan, whose payments are
# recoveries. Auto-debit, reminders, mandates and re-staging keep to ``PAYABLE_PLAN_STATUSES``.
REPAYABLE_PLAN_STATUSES = (*PAYABLE_PLAN_STATUSES, PlanStatus.CHARGED_OFF)

# Days past due at which a plan enters each bucket (DESIGN.md glossary); the sweep's SQL uses the same.
BUCKET_LIMITS = (
    (0, DelinquencyBucket.M0),
    (30, DelinquencyBucket.M1),
    (60, DelinquencyBucket.M2),
    (90, DelinquencyBucket.M3),
)


# --- the row shapes ------------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanRow:
    """The columns of a plan that the ledger reads and writes, without a model instance."""

    pk: int
    customer_id: int
    status: str
    delinquency_bucket: str
    days_past_due: int
    prepayment_fee_policy: str
    prepayment_fee_rate: Decimal
    updated_at: datetime
    description: str
    merchant_order_ref: str
    public_id: uuid.UUID
    charged_off_on: date | None = None
    # The plan's freezes as [start, end) spans when the caller read them; None: the ledger reads them when
    # it restates delinquency (``_plan_freezes``).
    frozen: tuple[tuple[date, date], ...] | None = None

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "customer_id",
        "status",
        "delinquency_bucket",
        "days_past_due",
        "prepayment_fee_policy",
        "prepayment_fee_rate",
        "updated_at",
        "description",
        "merchant_order_ref",
        "public_id",
        "charged_off_on",
    )
    WRITTEN: ClassVar[tuple[str, ...]] = (
        "status",
        "updated_at",
        "days_past_due",
        "delinquency_bucket",
        "charged_off_on",
    )

    @property
    def display_name(self) -> str:
        return self.description or self.merchant_order_ref or short_ref(self.public_id)


@dataclass(slots=True)
class InstallmentRow:
    """An installment's columns as a plain row; ``outstanding`` as on the model."""

    pk: int
    plan_id: int
    sequence: int
    due_date: date
    principal_due: Decimal
    fee_due: Decimal
    penalty_due: Decimal
    principal_paid: Decimal
    fee_paid: Decimal
    penalty_paid: Decimal
    principal_waived: Decimal
    fee_waived: Decimal
    penalty_waived: Decimal
    status: str
    paid_at: datetime | None
    fee_billed: bool = False

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "plan_id",
        "sequence",
        "due_date",
        *INSTALLMENT_MONEY_FIELDS,
        "status",
        "paid_at",
        "fee_billed",
    )
    WRITTEN: ClassVar[tuple[str, ...]] = (
        "principal_paid",
        "fee_paid",
        "penalty_paid",
        "principal_waived",
        "fee_waived",
        "penalty_waived",
        "status",
        "paid_at",
        "fee_billed",
    )

    def open(self, component: str) -> Decimal:
        """What is left of one component (principal, fee or penalty): due - paid - waived."""
        due: Decimal = getattr(self, f"{component}_due")
        paid: Decimal = getattr(self, f"{component}_paid")
        waived: Decimal = getattr(self, f"{component}_waived")
        return due - paid - waived

    @property
    def principal_outstanding(self) -> Decimal:
        return self.open("principal")

    @property
    def outstanding(self) -> Decimal:
        return (
            self.principal_due
            + self.fee_due
            + self.penalty_due
            - self.principal_paid
            - self.fee_paid
            - self.penalty_paid
            - self.principal_waived
            - self.fee_waived
            - self.penalty_waived
        )


class PlanTerms(Protocol):
    """What ``plan_dues`` reads of a plan: a ``PlanRow``, an ``InstallmentPlan`` or a claimed plan."""

    prepayment_fee_policy: str
    prepayment_fee_rate: Decimal


def installment_rows(plan_ids: Iterable[int], *, open_only: bool = False) -> dict[int, list[InstallmentRow]]:
    """Each plan's installments in sequence order, read without a lock (``lock_plans`` locks)."""
    query = Installment.objects.filter(plan_id__in=plan_ids)
    if open_only:
        query = query.filter(status__in=OPEN_STATUSES)
    return _by_plan(query.order_by("plan_id", "sequence"))


def _by_plan(query: QuerySet[Installment]) -> dict[int, list[InstallmentRow]]:
    rows: dict[int, list[InstallmentRow]] = {}
    for values in query.values_list(*InstallmentRow.COLUMNS):
        row = InstallmentRow(*values)
        rows.setdefault(row.plan_id, []).append(row)
    return rows


def owing(installments: Iterable[InstallmentRow]) -> list[InstallmentRow]:
    """The installments that still owe money (open, with something outstanding), in the given order."""
    return [i for i in installments if i.status in OPEN_STATUSES and i.outstanding > 0]


def open_installments(plan_id: int) -> list[InstallmentRow]:
    """A plan's installments that still owe money, by sequence, read without a lock (quotes, offers)."""
    return owing(installment_rows([plan_id], open_only=True).get(plan_id, []))


# --- locks ---------------------------------------------------------------------------------------------


def lock_plans(
    plan_ids: Iterable[int] | QuerySet[Any, int],
    *,
    no_key: bool,
    installments: bool = True,
    skip_locked: bool = False,
) -> tuple[dict[int, PlanRow], dict[int, list[InstallmentRow]]]:
    """Lock plans in DESIGN.md's order: the plan rows by id, then their installments by (plan, sequence).

    Only the plan and installment rows are locked (``of=("self",)``), never a product or customer row
    that a join would reach. ``no_key=True`` takes ``FOR NO KEY UPDATE``: plans and installments keep
    their keys, and a row inserted meanwhile that points at the plan (a credit event, a mandate, a
    notification's plan) does not wait for us; ``no_key=False`` is the full ``FOR UPDATE`` for callers
    that also hold other writers of the plan away (a claim). ``skip_locked`` returns only the plans
    nobody else holds (a debit chunk's claim). ``installments=False`` locks the plan rows only.
    """
    plans = {
        values[0]: PlanRow(*values)
        for values in InstallmentPlan.objects.select_for_update(
            of=("self",), no_key=no_key, skip_locked=skip_locked
        )
        .filter(pk__in=plan_ids)
        .order_by("id")
        .values_list(*PlanRow.COLUMNS)
    }
    if not installments or not plans:
        return plans, {}
    locked = (
        Installment.objects.select_for_update(no_key=no_key)
        .filter(plan_id__in=list(plans))
        .order_by("plan_id", "sequence")
    )
    return plans, _by_plan(locked)


def lock_plan(plan_id: int, *, no_key: bool) -> tuple[PlanRow, list[InstallmentRow]]:
    """``lock_plans`` for one plan; a missing plan raises ``InstallmentPlan.DoesNotExist``."""
    plans, rows = lock_plans([plan_id], no_key=no_key)
    if plan_id not in plans:
        raise InstallmentPlan.DoesNotExist(f"no plan {plan_id}")
    return plans[plan_id], rows.get(plan_id, [])


# --- what a plan owes ------------------------------------------------------------------------------------


def plan_dues(plan: PlanTerms, installments: Sequence[InstallmentRow], *, today: date) -> list[Due]:
    """Open installments as allocation input, with the plan's prepayment policy applied to periods after
    the current one (the first not yet due): ``waive_future_fees`` waives their fee when prepaid,
    ``percent_of_principal`` replaces it by an early-repayment fee of the plan's rate x the principal
    prepaid (never more than the period's own fee), ``charge_remaining_fees`` keeps every fee."""
    policy = plan.prepayment_fee_policy
    waive = policy in (PrepaymentFeePolicy.WAIVE_FUTURE_FEES, PrepaymentFeePolicy.PERCENT_OF_PRINCIPAL)
    dues = []
    current_seen = False
    for inst in sorted(installments, key=lambda i: i.sequence):
        if inst.status not in OPEN_STATUSES:
            continue
        future = inst.due_date > today
        waivable = waive and future and current_seen
        if future:
            current_seen = True
        principal = inst.principal_due - inst.principal_paid - inst.principal_waived
        fee_if_prepaid = ZERO
        if waivable and policy == PrepaymentFeePolicy.PERCENT_OF_PRINCIPAL:
            fee_if_prepaid = quantize_money(plan.prepayment_fee_rate * principal)
        dues.append(
            Due(
                installment_id=inst.pk,
                sequence=inst.sequence,
                due_date=inst.due_date,
                penalty=inst.penalty_due - inst.penalty_paid - inst.penalty_waived,
                fee=inst.fee_due - inst.fee_paid - inst.fee_waived,
                principal=principal,
                fee_waivable=waivable,
                fee_if_prepaid=fee_if_prepaid,
            )
        )
    return dues


class HasOutstanding(Protocol):
    """What ``remaining_total`` reads of an installment: an ``InstallmentRow`` or an ``Installment``."""

    @property
    def status(self) -> str: ...

    @property
    def outstanding(self) -> Decimal: ...


def remaining_total(installments: Iterable[HasOutstanding]) -> Decimal:
    """剩余待还 ("remaining to repay"): every open amount of the open installments, fees of periods not yet
    due included. The one definition of the figure pages, the API and SMS show under that name; the
    early-settlement figure (提前结清金额, ``payable_total`` of ``plan_dues``) may waive some of those fees
    and is always shown under its own name."""
    return sum((i.outstanding for i in installments if i.status in OPEN_STATUSES), ZERO)


# --- plan status and delinquency ---------------------------------------------------------------------------


def plan_status(statuses: Iterable[str], *, charged_off: bool = False) -> str:
    """The plan's status from its installments' statuses; the one rule (the sweep's SQL states it too).

    Any installment overdue: overdue. Else any pending: active. Else, nothing is open: restructured if
    its balance moved to a successor plan, paid off otherwise. A ``charged_off`` plan (``charged_off_on``
    set) stays charged off while anything is open, and is paid off once nothing is; the sweep never sees
    one (it reads active and overdue plans only)."""
    seen = set(statuses)
    if charged_off and seen & set(OPEN_STATUSES):
        return PlanStatus.CHARGED_OFF
    if InstallmentStatus.OVERDUE in seen:
        return PlanStatus.OVERDUE
    if InstallmentStatus.PENDING in seen:
        return PlanStatus.ACTIVE
    if InstallmentStatus.RESTRUCTURED in seen:
        return PlanStatus.RESTRUCTURED
    return PlanStatus.PAID_OFF


def frozen_spans(plan_id: int) -> list[tuple[date, date]]:
    """The plan's hardship freezes (暂停计息) as ``[start, end)`` day spans."""
    return [
        (start, ended or planned)
        for start, ended, planned in PlanFreeze.objects.filter(plan_id=plan_id).values_list(
            "started_on", "ended_on", "planned_end"
        )
    ]


def _plan_freezes(plan: PlanRow, installments: Iterable[InstallmentRow]) -> list[tuple[date, date]]:
    """The freezes a restated delinquency must leave out: read only when something is overdue (a plan
    with nothing overdue is current whatever its freezes); ``PlanRow.frozen`` when the caller has them."""
    if plan.frozen is not None:
        return list(plan.frozen)
    if not any(i.status == InstallmentStatus.OVERDUE for i in installments):
        return []
    return frozen_spans(plan.pk)


def frozen_days(spans: Iterable[tuple[date, date]], *, after: date, through: date) -> int:
    """How many days ``after < D <= through`` fall in a freeze: the days a plan does not age (the sweep's
    SQL counts the same days)."""
    return sum(
        max((min(through + timedelta(days=1), end) - max(after + timedelta(days=1), start)).days, 0)
        for start, end in spans
    )


def delinquency(
    installments: Iterable[InstallmentRow], *, today: date, frozen: Iterable[tuple[date, date]] = ()
) -> tuple[int, str]:
    """Days past due (the oldest overdue installment's, less the days it was frozen since its due date)
    and the bucket they put the plan in."""
    overdue = [i.due_date for i in installments if i.status == InstallmentStatus.OVERDUE]
    if not overdue:
        return 0, bucket_for(0)
    oldest = min(overdue)
    calendar = (today - oldest).days
    spans = list(frozen)
    net = calendar - frozen_days(spans, after=oldest, through=today) if spans else calendar
    # A plan frozen from its due date is still one day late (the sweep's rule): it never reads as current.
    days = max(net, min(calendar, 1))
    return days, bucket_for(days)


def bucket_for(days: int) -> str:
    for limit, bucket in BUCKET_LIMITS:
        if days <= limit:
            return bucket
    return DelinquencyBucket.M3_PLUS


def credit_event_kind(old_status: str, old_bucket: str, new_status: str, new_bucket: str) -> str | None:
    """The credit event a change of plan state is; the sweep's SQL (``_EVENT_KIND_SQL``) is the same rule."""
    m0 = DelinquencyBucket.M0
    if new_status == PlanStatus.OVERDUE and (old_status != PlanStatus.OVERDUE or old_bucket == m0):
        return CreditEventKind.BECAME_LATE
    if new_status == PlanStatus.ACTIVE and (old_status == PlanStatus.OVERDUE or old_bucket != m0):
        return CreditEventKind.CURED
    if new_status == PlanStatus.PAID_OFF and old_bucket != m0:
        return CreditEventKind.CURED
    if old_bucket != new_bucket:
        return CreditEventKind.BUCKET_CHANGED
    return None


# --- posting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """What one ``post`` did: the splits and waivers the caller records, and what did not fit."""

    splits: tuple[Split, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    excess: Decimal = ZERO


@dataclass
class Posting:
    """The ledger's changes collected in memory, so a whole debit chunk is written in a few statements.

    ``post`` and ``unpost`` change the rows they are given and note them here; ``write`` sends them, in
    the caller's transaction, under the locks ``lock_plans`` took."""

    installments: dict[int, InstallmentRow] = field(default_factory=dict)
    plans: dict[int, PlanRow] = field(default_factory=dict)
    credit_events: list[CreditEvent] = field(default_factory=list)
    journal: list[journal.Draft] = field(default_factory=list)

    def write(self) -> None:
        update_rows(
            Installment,
            InstallmentRow.WRITTEN,
            [(i.pk, *(getattr(i, f) for f in InstallmentRow.WRITTEN)) for i in self.installments.values()],
        )
        update_rows(
            InstallmentPlan,
            PlanRow.WRITTEN,
            [(p.pk, *(getattr(p, f) for f in PlanRow.WRITTEN)) for p in self.plans.values()],
        )
        if self.credit_events:
            CreditEvent.objects.bulk_create(self.credit_events, ignore_conflicts=True)
            self.credit_events = []
        journal.write(self.journal)
        self.journal = []
        self.installments.clear()
        self.plans.clear()


def _credit_event(
    posting: Posting, plan: PlanRow, kind: str, from_bucket: str, to_bucket: str, *, today: date
) -> None:
    """A credit event (信用记录) of this plan, written with the posting."""
    posting.credit_events.append(
        CreditEvent(
            customer_id=plan.customer_id,
            plan_id=plan.pk,
            kind=kind,
            from_bucket=from_bucket,
            to_bucket=to_bucket,
            business_date=today,
        )
    )


@dataclass(frozen=True)
class Source:
    """The event a ``post`` or ``unpost`` records in the journal: its entry key, the repayment (or other
    reference) that caused it, and the account the money came in to - or goes back out of."""

    key: str
    reference: str = ""
    account: str = Account.BANK_CLEARING


def post(
    posting: Posting,
    plan: PlanRow,
    installments: list[InstallmentRow],
    amount: Decimal,
    *,
    today: date,
    source: Source,
) -> Posted:
    """Post ``amount`` onto a locked plan's installments in memory (``posting.write`` sends it): oldest
    first, penalty -> fee -> principal, prepayment waivers applied. What no installment can take is
    returned as ``excess`` (normally zero) for the caller to refund; the journal entry books the whole
    amount received, the excess as owed back to the customer. On a charged-off plan the installments are
    paid just the same (the customer's debt falls), but its receivables were written off: the money is
    recovery income, and a waiver moves nothing in the journal."""
    recovery = is_recovery(plan)
    entry = journal.Draft(
        key=source.key,
        kind=EntryKind.REPAYMENT,
        business_date=today,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=source.reference,
    )
    posting.journal.append(entry)
    entry.debit(source.account, amount)
    dues = plan_dues(plan, installments, today=today)
    applied = min(amount, payable_total(dues))
    if applied <= 0:
        entry.credit(Account.REFUNDS_PAYABLE, amount)
        return Posted(excess=amount)
    try:
        result = allocate(applied, dues)
    except OverpaymentError:  # cannot happen with applied <= payable; kept as a guard
        entry.credit(Account.REFUNDS_PAYABLE, amount)
        return Posted(excess=amount)
    entry.credit(Account.REFUNDS_PAYABLE, amount - applied)
    by_id = {i.pk: i for i in installments}
    for waiver in result.waivers:
        inst = by_id[waiver.installment_id]
        attr = f"{waiver.component}_waived"
        setattr(inst, attr, getattr(inst, attr) + waiver.amount)
        posting.installments[inst.pk] = inst
        if not recovery:
            entry.debit(journal.waiver_account(waiver.component, fee_billed=inst.fee_billed), waiver.amount)
            entry.credit(RECEIVABLE[waiver.component], waiver.amount)
    for split in result.splits:
        inst = by_id[split.installment_id]
        if split.component == "fee" and not recovery:
            _bill_fee(posting, plan, inst, today=today)
        attr = f"{split.component}_paid"
        setattr(inst, attr, getattr(inst, attr) + split.amount)
        posting.installments[inst.pk] = inst
        entry.credit(Account.RECOVERIES_INCOME if recovery else RECEIVABLE[split.component], split.amount)
    now = timezone.now()
    for inst in installments:
        if inst.pk in posting.installments and inst.status != InstallmentStatus.PAID and not inst.outstanding:
            inst.status = InstallmentStatus.PAID
            inst.paid_at = now
    _restate(posting, plan, installments, today=today, now=now)
    return Posted(splits=result.splits, waivers=result.waivers, excess=amount - applied)


def _bill_fee(posting: Posting, plan: PlanRow, inst: InstallmentRow, *, today: date) -> None:
    """Earn a fee before its installment falls due, because it is being paid or capitalised now (the
    sweep bills the rest when they fall due): what is left of it moves from unearned to earned."""
    if inst.fee_billed:
        return
    inst.fee_billed = True
    posting.installments[inst.pk] = inst
    posting.journal.append(
        journal.fee_billed(
            installment_id=inst.pk,
            sequence=inst.sequence,
            plan_id=plan.pk,
            customer_id=plan.customer_id,
            amount=inst.fee_due - inst.fee_paid - inst.fee_waived,
            today=today,
        )
    )


@dataclass(frozen=True)
class Entry:
    """One allocation line to take back: ``amount`` of ``component``, paid or (``waived``) waived."""

    installment_id: int
    component: str
    amount: Decimal
    waived: bool


def unpost(
    posting: Posting,
    plan: PlanRow,
    installments: list[InstallmentRow],
    entries: Iterable[Entry],
    *,
    today: date,
    source: Source,
) -> None:
    """Take a post back off a locked plan's installments in memory: paid and waived amounts return,
    installments no longer paid reopen (overdue if past their due date), and the plan's status,
    delinquency and credit events are restated as the sweep would state them. The journal gets the
    opposite of the payment's entry: receivables back, the money out of ``source.account``; for a plan
    charged off before the payment (a recovery: ``charged_off_on`` is still set, whether the plan is charged
    off or was paid off by recoveries), recovery income back instead of receivables."""
    recovery = plan.charged_off_on is not None
    reversal = journal.Draft(
        key=source.key,
        kind=EntryKind.REPAYMENT_REVERSED,
        business_date=today,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=source.reference,
    )
    posting.journal.append(reversal)
    by_id = {i.pk: i for i in installments}
    for entry in entries:
        inst = by_id[entry.installment_id]
        attr = f"{entry.component}_{'waived' if entry.waived else 'paid'}"
        setattr(inst, attr, getattr(inst, attr) - entry.amount)
        posting.installments[inst.pk] = inst
        if entry.waived:
            if not recovery:
                reversal.debit(RECEIVABLE[entry.component], entry.amount)
                reversal.credit(
                    journal.waiver_account(entry.component, fee_billed=inst.fee_billed), entry.amount
                )
        else:
            reversal.debit(
                Account.RECOVERIES_INCOME if recovery else RECEIVABLE[entry.component], entry.amount
            )
            reversal.credit(source.account, entry.amount)
    for inst in installments:
        if inst.status == InstallmentStatus.PAID and inst.outstanding > 0:
            inst.status = InstallmentStatus.OVERDUE if inst.due_date < today else InstallmentStatus.PENDING
            inst.paid_at = None
            posting.installments[inst.pk] = inst
    _restate(posting, plan, installments, today=today, now=timezone.now(), delinquency_too=True)


def _restate(
    posting: Posting,
    plan: PlanRow,
    installments: list[InstallmentRow],
    *,
    today: date,
    now: datetime,
    delinquency_too: bool = False,
) -> None:
    """Set the plan's status from its installments. A plan paid off is cured at once (the sweep leaves
    paid-off plans alone); ``delinquency_too`` (a reversal) also restates days past due and bucket with
    their credit event, since money taken back can make a plan late again. A payment that clears the
    overdue installments of a plan still open leaves its bucket to the next sweep, which cures it."""
    status = plan_status((i.status for i in installments), charged_off=plan.charged_off_on is not None)
    old_status, old_bucket, old_days = plan.status, plan.delinquency_bucket, plan.days_past_due
    days, bucket = old_days, old_bucket
    if status == PlanStatus.CHARGED_OFF:
        delinquency_too = False  # a charged-off plan's delinquency stays as it was charged off
    if delinquency_too:
        days, bucket = delinquency(installments, today=today, frozen=_plan_freezes(plan, installments))
    elif status == PlanStatus.PAID_OFF:
        days, bucket = 0, DelinquencyBucket.M0
    if (status, days, bucket) == (old_status, old_days, old_bucket):
        return
    plan.status, plan.days_past_due, plan.delinquency_bucket = status, days, bucket
    plan.updated_at = now
    posting.plans[plan.pk] = plan
    if not delinquency_too and status != PlanStatus.PAID_OFF:
        return  # the bucket is the sweep's to move, and its event with it
    kind = credit_event_kind(old_status, old_bucket, status, bucket)
    if kind is not None:
        _credit_event(posting, plan, kind, old_bucket, bucket, today=today)


# --- re-staging ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Successor:
    """The plan a re-staging moves a balance to, created in the same transaction: its principal is what
    moves, its fees are opened as unearned income like any new schedule's."""

    plan_id: int
    principal: Decimal
    fees: Decimal
    kind: str


def restructure(
    plan: PlanRow,
    installments: list[InstallmentRow],
    *,
    waive_fees_due_after: date | None,
    penalty_waiver: Decimal,
    today: date,
    successor: Successor,
) -> None:
    """Close what is left of a locked plan whose balance moves to a successor (二次分期, 协商还款): fees of
    periods due after ``waive_fees_due_after`` are waived, ``penalty_waiver`` is spread oldest first, every
    open installment becomes restructured and so does the plan, back in bucket M0, with a credit event.

    The journal entry closes the old receivables and opens the successor's: waived amounts are a cost (or,
    for fees not yet earned, leave unearned income); fees not yet earned that move are earned now, as
    they become principal. What the old plan closes must be exactly the successor's principal."""
    posting = Posting()
    entry = journal.Draft(
        key=f"restage:{plan.pk}:{successor.plan_id}",
        kind=EntryKind.RESTAGED,
        business_date=today,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=successor.kind,
    )
    moved = ZERO
    penalty_left = penalty_waiver
    for inst in installments:
        if inst.status not in OPEN_STATUSES:
            continue
        if waive_fees_due_after is not None and inst.due_date > waive_fees_due_after:
            waived_fee = inst.fee_due - inst.fee_paid - inst.fee_waived
            inst.fee_waived += waived_fee
            entry.debit(journal.waiver_account("fee", fee_billed=inst.fee_billed), waived_fee)
            entry.credit(Account.FEE_RECEIVABLE, waived_fee)
        if penalty_left > 0:
            take = min(penalty_left, inst.open("penalty"))
            inst.penalty_waived += take
            penalty_left -= take
            entry.debit(Account.WAIVERS, take)
            entry.credit(Account.PENALTY_RECEIVABLE, take)
        if not inst.fee_billed and inst.open("fee") > 0:
            entry.debit(Account.UNEARNED_FEES, inst.open("fee"))
            entry.credit(Account.FEE_INCOME, inst.open("fee"))
            inst.fee_billed = True
        for component, account in RECEIVABLE.items():
            entry.credit(account, inst.open(component))
            moved += inst.open(component)
        inst.status = InstallmentStatus.RESTRUCTURED
        posting.installments[inst.pk] = inst
    if moved != successor.principal:
        raise journal.UnbalancedEntry(
            f"plan {plan.pk} closes {moved} but its successor opens {successor.principal}"
        )
    journal.open_schedule(
        entry,
        plan_id=successor.plan_id,
        customer_id=plan.customer_id,
        principal=successor.principal,
        fees=successor.fees,
    )
    posting.journal.append(entry)
    old_bucket = plan.delinquency_bucket
    plan.status = plan_status(i.status for i in installments)
    plan.days_past_due, plan.delinquency_bucket = 0, DelinquencyBucket.M0
    plan.updated_at = timezone.now()
    posting.plans[plan.pk] = plan
    _credit_event(posting, plan, CreditEventKind.RESTRUCTURED, old_bucket, DelinquencyBucket.M0, today=today)
    posting.write()


# --- charge-off (核销) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAmount:
    """What one installment still owes, by component, at a charge-off or its undo."""

    installment_id: int
    principal: Decimal
    fee: Decimal
    penalty: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.fee + self.penalty


@dataclass(frozen=True)
class ChargeOff:
    """What ``charge_off`` moved to loss, or ``charge_off_undo`` brought back to receivables: each open
    installment's open principal, fee and penalty at that moment, for the journal's lines."""

    plan_id: int
    business_date: date
    amounts: tuple[OpenAmount, ...]

    @property
    def total(self) -> Decimal:
        return sum((a.total for a in self.amounts), ZERO)


def _open_amounts(installments: Iterable[InstallmentRow]) -> tuple[OpenAmount, ...]:
    return tuple(
        OpenAmount(i.pk, i.open("principal"), i.open("fee"), i.open("penalty")) for i in owing(installments)
    )


def is_recovery(plan: PlanRow) -> bool:
    """Whether money posted to ``plan`` now is a recovery (回收) of a charged-off debt: read it *before*
    ``post``, since the payment that clears the plan turns it paid off."""
    return plan.status == PlanStatus.CHARGED_OFF


def charge_off(
    posting: Posting, plan: PlanRow, installments: list[InstallmentRow], *, today: date
) -> ChargeOff:
    """Charge off a locked overdue plan in memory (``posting.write`` sends it): the plan becomes charged off
    on ``today`` with a ``charged_off`` credit event, its days past due and bucket frozen as they are. Its
    installments keep their statuses and open amounts: the customer still owes them, the sweep no longer
    marks or charges them (it reads active and overdue plans only), and a payment still ``post``s onto them.
    Returns the open amounts moved to loss, for the journal (write-off expense against receivables)."""
    if plan.status != PlanStatus.OVERDUE:
        raise ValueError(f"plan {plan.pk} is {plan.status}: only an overdue plan is charged off")
    posting.journal.append(
        _write_off_entry(
            plan, installments, key=f"chargeoff:{plan.pk}:{today}", kind=EntryKind.CHARGED_OFF, today=today
        )
    )
    plan.status = PlanStatus.CHARGED_OFF
    plan.charged_off_on = today
    plan.updated_at = timezone.now()
    posting.plans[plan.pk] = plan
    _credit_event(
        posting,
        plan,
        CreditEventKind.CHARGED_OFF,
        plan.delinquency_bucket,
        plan.delinquency_bucket,
        today=today,
    )
    return ChargeOff(plan.pk, today, _open_amounts(installments))


def charge_off_undo(
    posting: Posting, plan: PlanRow, installments: list[InstallmentRow], *, today: date
) -> ChargeOff:
    """Take a locked plan's charge-off back in memory: ``charged_off_on`` is cleared, the status and
    delinquency are restated from the installments as of ``today`` (overdue, normally), with a
    ``reinstated`` credit event. Returns the open amounts that are receivables again: today's, which are the
    charge-off's own, since ``repayments`` refuses an undo once a payment was recovered (``plan_changing``).
    The same-business-day rule is the calling service's (``charge_off_undo_request``)."""
    if plan.status != PlanStatus.CHARGED_OFF or plan.charged_off_on is None:
        raise ValueError(f"plan {plan.pk} is {plan.status}: only a charged-off plan's charge-off is undone")
    undo = _write_off_entry(
        plan,
        installments,
        key=f"chargeoff:{plan.pk}:{plan.charged_off_on}:undone",
        kind=EntryKind.CHARGE_OFF_UNDONE,
        today=today,
    )
    undo.lines = [journal.Line(x.account, x.credit, x.debit, x.plan_id, x.customer_id) for x in undo.lines]
    posting.journal.append(undo)
    old_bucket = plan.delinquency_bucket
    plan.charged_off_on = None
    plan.status = plan_status(i.status for i in installments)
    plan.days_past_due, plan.delinquency_bucket = delinquency(
        installments, today=today, frozen=_plan_freezes(plan, installments)
    )
    plan.updated_at = timezone.now()
    posting.plans[plan.pk] = plan
    _credit_event(posting, plan, CreditEventKind.REINSTATED, old_bucket, plan.delinquency_bucket, today=today)
    return ChargeOff(plan.pk, today, _open_amounts(installments))


def _write_off_entry(
    plan: PlanRow, installments: list[InstallmentRow], *, key: str, kind: str, today: date
) -> journal.Draft:
    """The open receivables of a plan moved to loss: write-off expense, except fees not yet earned, which
    leave unearned income (they were never income). Its undo is the same lines on the other side."""
    entry = journal.Draft(
        key=key, kind=kind, business_date=today, plan_id=plan.pk, customer_id=plan.customer_id
    )
    for inst in owing(installments):
        for component, account in RECEIVABLE.items():
            amount = inst.open(component)
            entry.credit(account, amount)
            unearned = component == "fee" and not inst.fee_billed
            entry.debit(Account.UNEARNED_FEES if unearned else Account.WRITE_OFF, amount)
    return entry


# --- staff waivers (减免) ----------------------------------------------------------------------------------


class WaiverExceedsOpen(ValueError):
    """A waiver asked for more of a component than the plan still owes of it; ``open`` is that figure."""

    def __init__(self, component: str, amount: Decimal, open_amount: Decimal) -> None:
        super().__init__(f"waiving {amount} of {component} but only {open_amount} is open")
        self.component = component
        self.amount = amount
        self.open = open_amount


def open_component(installments: Iterable[InstallmentRow], component: str) -> Decimal:
    """What a plan still owes of one component over its open installments (the most a waiver may take)."""
    return sum((i.open(component) for i in installments if i.status in OPEN_STATUSES), ZERO)


def waive(
    posting: Posting,
    plan: PlanRow,
    installments: list[InstallmentRow],
    *,
    component: str,
    amount: Decimal,
    today: date,
    source: Source,
) -> tuple[Waiver, ...]:
    """Waive ``amount`` of a locked plan's ``component`` (penalty or fee) in memory, oldest installment
    first (the order a payment would have paid it in); ``posting.write`` sends it. Never more than is open
    (``WaiverExceedsOpen``, nothing changed): a waiver is never silently capped. Installments left owing
    nothing are paid, and the plan's status is restated as after a payment (the bucket is the sweep's).

    The journal entry is a waiver's lines as in ``post``: waivers expense (or, for a fee not yet earned,
    unearned income) against the receivable. Only plans money can still be paid into without being a
    recovery are waived (the caller keeps to ``PAYABLE_PLAN_STATUSES``)."""
    if component not in ("penalty", "fee"):
        raise ValueError(f"only a penalty or a fee is waived, not {component!r}")
    if amount <= 0:
        raise ValueError("a waiver is positive")
    if plan.status not in PAYABLE_PLAN_STATUSES:
        raise ValueError(f"plan {plan.pk} is {plan.status}: only an active or overdue plan is waived")
    available = open_component(installments, component)
    if amount > available:
        raise WaiverExceedsOpen(component, amount, available)
    entry = journal.Draft(
        key=source.key,
        kind=EntryKind.WAIVED,
        business_date=today,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=source.reference,
    )
    waivers: list[Waiver] = []
    left = amount
    for inst in sorted(installments, key=lambda i: i.sequence):
        if left <= 0:
            break
        if inst.status not in OPEN_STATUSES:
            continue
        take = min(left, inst.open(component))
        if take <= 0:
            continue
        attr = f"{component}_waived"
        setattr(inst, attr, getattr(inst, attr) + take)
        posting.installments[inst.pk] = inst
        entry.debit(journal.waiver_account(component, fee_billed=inst.fee_billed), take)
        entry.credit(RECEIVABLE[component], take)
        waivers.append(Waiver(installment_id=inst.pk, component=component, amount=take))
        left -= take
    posting.journal.append(entry)
    now = timezone.now()
    for inst in installments:
        if inst.pk in posting.installments and inst.status in OPEN_STATUSES and not inst.outstanding:
            inst.status = InstallmentStatus.PAID
            inst.paid_at = now
    _restate(posting, plan, installments, today=today, now=now)
    return tuple(waivers)


# --- the cost ceiling and moved due dates (延期, payment holidays) ----------------------------------------


def headroom_recompute(plan_id: int) -> Decimal:
    """The plan's room under its all-in cost ceiling from scratch (``installments.cost``): its principal
    less the present value, at the ceiling, of every installment on its due date and of every penalty on
    its accrual date (read from the journal). Written to the plan; the sweep then keeps it current as it
    charges, and any change of schedule calls this again."""
    plan = InstallmentPlan.objects.only("id", "principal", "purchase_date", "max_all_in_apr_percent").get(
        pk=plan_id
    )
    flows = [
        (due, principal + fee)
        for due, principal, fee in Installment.objects.filter(plan_id=plan_id).values_list(
            "due_date", "principal_due", "fee_due"
        )
    ]
    flows += journal.penalties_by_date(plan_id)
    headroom = cost.ceiling_headroom(
        principal=plan.principal,
        purchase_date=plan.purchase_date,
        flows=flows,
        apr_percent=plan.max_all_in_apr_percent,
    )
    InstallmentPlan.objects.filter(pk=plan_id).update(ceiling_headroom=headroom)
    return headroom


@dataclass(frozen=True)
class Move:
    """One installment's new due date, and the fee the move adds to it (zero when it is free)."""

    installment_id: int
    due_date: date
    extra_fee: Decimal = ZERO


def reschedule(
    plan: PlanRow,
    installments: list[InstallmentRow],
    moves: Sequence[Move],
    *,
    today: date,
    source: Source,
    credit_event: str,
) -> None:
    """Move due dates of a locked plan's open installments (an extension, a payment holiday), adding the
    fees the move costs, in the caller's transaction; written at once (not through a ``Posting``: due
    dates are not a payment's columns). An installment moved past today is no longer overdue. Any fee
    added is a receivable against unearned fee income, earned when the installment falls due like the
    schedule's own fees (earned at once on an installment whose fee was already billed), and the plan's
    total fee grows by it. Writes the relief's credit event (not adverse) and recomputes the plan's room
    under its cost ceiling, so the caller checks the re-quoted cost before it commits."""
    by_pk = {i.pk: i for i in installments}
    changed: list[tuple[int, date, Decimal, str]] = []
    added_fees = ZERO
    entry = journal.Draft(
        key=source.key,
        kind=EntryKind.RESCHEDULED,
        business_date=today,
        plan_id=plan.pk,
        customer_id=plan.customer_id,
        reference=source.reference,
    )
    for move in moves:
        inst = by_pk[move.installment_id]
        if inst.status not in OPEN_STATUSES:
            raise ValueError(f"installment {inst.pk} is {inst.status}: only open installments move")
        if move.extra_fee < 0:
            raise ValueError("a move adds a fee or nothing")
        inst.due_date = move.due_date
        inst.fee_due += move.extra_fee
        if inst.status == InstallmentStatus.OVERDUE and move.due_date >= today and inst.penalty_due == 0:
            inst.status = InstallmentStatus.PENDING
        if move.extra_fee:
            # A fee not yet earned waits in unearned income like the schedule's own; on an installment
            # whose fee is earned already (it fell due, or a payment reached its fee), it is earned now:
            # the sweep bills an installment's fee once, so unearned income would keep it for ever.
            entry.debit(Account.FEE_RECEIVABLE, move.extra_fee)
            entry.credit(Account.FEE_INCOME if inst.fee_billed else Account.UNEARNED_FEES, move.extra_fee)
            added_fees += move.extra_fee
        changed.append((inst.pk, inst.due_date, inst.fee_due, inst.status))
    update_rows(Installment, ("due_date", "fee_due", "status"), changed)
    if added_fees:  # the plan's total fee stays the sum of its installments' fees (check_ledger)
        InstallmentPlan.objects.filter(pk=plan.pk).update(total_fee=F("total_fee") + added_fees)
    posting = Posting()
    if entry.lines:
        posting.journal.append(entry)
    old_bucket = plan.delinquency_bucket
    _restate(posting, plan, installments, today=today, now=timezone.now(), delinquency_too=True)
    _credit_event(posting, plan, credit_event, old_bucket, plan.delinquency_bucket, today=today)
    posting.write()
    headroom_recompute(plan.pk)

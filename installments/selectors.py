"""Reads of products and plans for pages, the API and the admin."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import models
from django.db.models import Prefetch, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.errors import ApplicationError
from core.ids import short_ref
from core.money import ZERO, quantize_money
from installments.disclosure import LateCostDisclosure, late_cost_disclosure, schedule_late_cost
from installments.journal import sub_ledger
from installments.ledger import open_installments
from installments.models import (
    ACCOUNT_TYPES,
    RECEIVABLE,
    Account,
    AccountType,
    CaseCloseReason,
    CaseStatus,
    CollectionCase,
    DelinquencyBucket,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    JournalLine,
    NegotiationApplication,
    NegotiationState,
    PayoffCertificate,
    PlanAgreement,
    PromiseStatus,
    PromiseToPay,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.schedules import Schedule
from installments.services import PlanQuote, plan_quote, restage_schedule

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

EXAMPLE_PRINCIPAL = Decimal("1200.00")


@dataclass(frozen=True)
class ProductOffer:
    """A product with what it costs at each tenor for an example amount, for the public product page."""

    product: InstallmentProduct
    quotes: list[PlanQuote]
    late_cost: LateCostDisclosure | None = None  # for the first quote: what paying late costs


def quote_late_cost(quote: PlanQuote) -> LateCostDisclosure:
    """A quote's cost of paying late (its first installment), as the plan would freeze it."""
    return schedule_late_cost(
        product=quote.product,
        principal=quote.principal,
        purchase_date=quote.purchase_date,
        schedule=quote.schedule,
    )


def offer_late_cost(application: NegotiationApplication) -> LateCostDisclosure | None:
    """An offer's cost of paying late: the terms the negotiated plan would freeze from the product, for
    its first installment (None: no offer on file)."""
    if application.offer_tenor is None or application.offered_at is None:
        return None
    schedule = restage_schedule(
        principal=application.offer_principal,
        tenor=application.offer_tenor,
        fee_rate=application.offer_fee_rate or ZERO,
        start=timezone.localtime(application.offered_at).date(),
        first_due_date=application.offer_first_due_date,
    )
    return schedule_late_cost(
        product=application.plan.product,
        principal=application.offer_principal,
        purchase_date=timezone.localtime(application.offered_at).date(),
        schedule=schedule,
    )


def plan_agreement(plan: InstallmentPlan) -> PlanAgreement | None:
    """The agreement stored with the plan; None for a plan made before agreements were versioned."""
    return PlanAgreement.objects.filter(plan_id=plan.pk).first()


def plan_late_cost(plan: InstallmentPlan) -> LateCostDisclosure:
    """A plan's cost of paying late (its next unpaid installment), for its page and the API."""
    return late_cost_disclosure(plan)


def product_list_active() -> QuerySet[InstallmentProduct]:
    return InstallmentProduct.objects.filter(is_active=True).order_by("code")


def product_offers(*, principal: Decimal = EXAMPLE_PRINCIPAL) -> list[ProductOffer]:
    offers = []
    for product in product_list_active():
        quotes = []
        for tenor in sorted(product.tenors):
            try:
                quotes.append(plan_quote(product=product, principal=principal, tenor=tenor))
            except ApplicationError:
                continue  # a tenor whose APR passes the maximum is simply not offered
        offers.append(
            ProductOffer(
                product=product, quotes=quotes, late_cost=quote_late_cost(quotes[0]) if quotes else None
            )
        )
    return offers


def plan_for_customer(*, customer: User, public_id: UUID | str) -> InstallmentPlan:
    """One of the customer's plans, with what its pages show (product, source plan, installments in order);
    another customer's (or a made-up) id is a 404, so a guessed id reveals nothing. The one lookup for every
    customer page that takes a plan id (installments' and repayments')."""
    plan = (
        InstallmentPlan.objects.filter(customer=customer, public_id=public_id)
        .select_related("product", "source_plan")
        .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))
        .first()
    )
    if plan is None:
        raise Http404
    return plan


def negotiation_for_customer(*, customer: User, public_id: UUID | str) -> NegotiationApplication:
    application = (
        NegotiationApplication.objects.filter(customer=customer, public_id=public_id)
        .select_related("plan", "plan__product", "result_plan")
        .prefetch_related("documents", "events")
        .first()
    )
    if application is None:
        raise Http404
    return application


def offer_schedule(application: NegotiationApplication) -> Schedule | None:
    """The schedule an open offer stands for, as the customer is shown it on the web and in the API
    (the offer's day in local time is the new plan's start)."""
    if (
        application.state != NegotiationState.OFFERED
        or application.offered_at is None
        or application.offer_tenor is None
    ):
        return None
    return restage_schedule(
        principal=application.offer_principal,
        tenor=application.offer_tenor,
        fee_rate=application.offer_fee_rate,
        start=timezone.localtime(application.offered_at).date(),
        first_due_date=application.offer_first_due_date,
    )


@dataclass(frozen=True)
class OfferSummary:
    """An open offer in the figures a customer decides on: the monthly amounts as the schedule has them
    (a flat schedule's rounding puts the odd cents on one row, so "the" monthly payment is three figures),
    and the total to repay next to keeping the plan."""

    schedule: Schedule
    first_payment: Decimal
    usual_payment: Decimal  # the amount most rows have
    last_payment: Decimal
    total: Decimal
    keep_total: Decimal  # everything still owed on the plan as it stands, penalties included

    @property
    def difference(self) -> Decimal:
        return self.total - self.keep_total

    @property
    def extra_cost(self) -> Decimal:  # the name the "比原计划多付" line reads
        return self.difference

    @property
    def saving(self) -> Decimal:
        return -self.difference


def offer_summary(application: NegotiationApplication) -> OfferSummary | None:
    schedule = offer_schedule(application)
    if schedule is None:
        return None
    totals = [row.total for row in schedule.rows]
    usual = Counter(totals).most_common(1)[0][0]
    keep = sum((i.outstanding for i in open_installments(application.plan_id)), ZERO)
    return OfferSummary(
        schedule=schedule,
        first_payment=totals[0],
        usual_payment=usual,
        last_payment=totals[-1],
        total=schedule.total_repayment,
        keep_total=keep,
    )


# --- 协商还款 status, in the customer's words ------------------------------------------------------------

_REVIEW_STATES = (
    NegotiationState.SUBMITTED,
    NegotiationState.IN_REVIEW,
    NegotiationState.OFFER_PENDING_APPROVAL,
)
# What the customer is told: an offer waiting for a second member of staff is still "in review" to them.
_LABELS = {
    NegotiationState.SUBMITTED: _("Received, waiting for review"),
    NegotiationState.IN_REVIEW: _("Being reviewed"),
    NegotiationState.OFFER_PENDING_APPROVAL: _("Being reviewed"),
    NegotiationState.INFO_REQUESTED: _("We need more information from you"),
    NegotiationState.OFFERED: _("Offer waiting for your answer"),
    NegotiationState.ACCEPTED: _("Accepted: your new plan is active"),
    NegotiationState.DECLINED: _("You declined the offer"),
    NegotiationState.EXPIRED: _("The offer expired"),
    NegotiationState.REJECTED: _("Not approved"),
}
_NEXT_STEPS = {
    NegotiationState.SUBMITTED: _(
        "We review it and reply by SMS within 3 working days. You can add documents meanwhile."
    ),
    NegotiationState.IN_REVIEW: _(
        "We review it and reply by SMS within 3 working days. You can add documents meanwhile."
    ),
    NegotiationState.OFFER_PENDING_APPROVAL: _(
        "We review it and reply by SMS within 3 working days. You can add documents meanwhile."
    ),
    NegotiationState.INFO_REQUESTED: _("Add what we asked for below, then send the application back to us."),
    NegotiationState.OFFERED: _("Read the offer below, then accept it with an SMS code or decline it."),
    NegotiationState.ACCEPTED: _("Repay the new plan from its page; auto-debit can take care of it."),
    NegotiationState.DECLINED: _("Repay what is overdue, or apply again from the plan's page."),
    NegotiationState.EXPIRED: _("Repay what is overdue, or apply again from the plan's page."),
    NegotiationState.REJECTED: _("Repay what is overdue, or call our customer service to talk about it."),
}


@dataclass(frozen=True)
class TimelineStep:
    key: str
    label: str
    at: datetime | None  # when it happened; None for a step still ahead
    current: bool = False


@dataclass(frozen=True)
class NegotiationStatus:
    """An application as its customer reads it: a label, the steps so far with dates, the next step."""

    application: NegotiationApplication
    state: str  # an offer past its deadline reads "expired" before the nightly job marks it
    label: str
    next_step: str
    timeline: list[TimelineStep]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_NEGOTIATION_STATES


def negotiation_status(
    application: NegotiationApplication, *, now: datetime | None = None
) -> NegotiationStatus:
    now = now or timezone.now()
    state = application.state
    expires = application.offer_expires_at
    if state == NegotiationState.OFFERED and expires is not None and expires <= now:
        state = NegotiationState.EXPIRED
    reached: dict[str, datetime] = {NegotiationState.SUBMITTED: application.created_at}
    for event in application.events.all():  # oldest first: the first time each state was reached counts
        reached.setdefault(event.to_state, event.created_at)
    if state == NegotiationState.EXPIRED and NegotiationState.EXPIRED not in reached and expires is not None:
        reached[NegotiationState.EXPIRED] = expires
    review_at = reached.get(NegotiationState.IN_REVIEW) or reached.get(NegotiationState.INFO_REQUESTED)
    steps = [
        TimelineStep("submitted", str(_("Application submitted")), application.created_at),
        TimelineStep("in_review", str(_("In review")), review_at),
        TimelineStep("offered", str(_("Offer sent")), reached.get(NegotiationState.OFFERED)),
    ]
    final: dict[str, StrOrPromise] = {
        NegotiationState.ACCEPTED: _("Accepted"),
        NegotiationState.DECLINED: _("Declined"),
        NegotiationState.EXPIRED: _("Expired"),
        NegotiationState.REJECTED: _("Not approved"),
    }
    if state in final:
        steps.append(TimelineStep(state, str(final[state]), reached.get(state)))
    else:
        steps.append(TimelineStep("answer", str(_("Your answer")), None))
    if state == NegotiationState.REJECTED:  # refused before any offer: no offer step to wait for
        steps = [s for s in steps if s.key != "offered" or s.at is not None]
    current_key = {
        str(NegotiationState.SUBMITTED): "submitted",
        str(NegotiationState.INFO_REQUESTED): "in_review",
        str(NegotiationState.OFFER_PENDING_APPROVAL): "in_review",
        str(NegotiationState.IN_REVIEW): "in_review",
        str(NegotiationState.OFFERED): "offered",
    }.get(state, state)
    steps = [TimelineStep(s.key, s.label, s.at, current=s.key == current_key) for s in steps]
    return NegotiationStatus(
        application=application,
        state=state,
        label=str(_LABELS[NegotiationState(state)]),
        next_step=str(_NEXT_STEPS[NegotiationState(state)]),
        timeline=steps,
    )


def plan_negotiation(plan: InstallmentPlan) -> NegotiationStatus | None:
    """The plan's open application, else its latest one, for the plan page and 我的账户."""
    applications = list(
        NegotiationApplication.objects.filter(plan=plan)
        .prefetch_related("events")
        .order_by("-created_at")[:5]
    )
    if not applications:
        return None
    chosen = next((a for a in applications if a.state in OPEN_NEGOTIATION_STATES), applications[0])
    return negotiation_status(chosen)


# --- the journal ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account's debits, credits and balance up to a date; the balance is shown on the account's
    normal side (assets and expenses debit - credit, the others credit - debit)."""

    account: str
    name: str
    type: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        info = ACCOUNT_TYPES[self.account]
        return self.debit - self.credit if info.debit_normal else self.credit - self.debit


@dataclass(frozen=True)
class TrialBalance:
    as_of: date
    rows: list[TrialBalanceRow]

    @property
    def debit(self) -> Decimal:
        return sum((r.debit for r in self.rows), ZERO)

    @property
    def credit(self) -> Decimal:
        return sum((r.credit for r in self.rows), ZERO)

    @property
    def balanced(self) -> bool:
        return self.debit == self.credit


def trial_balance(*, as_of: date, plan_id: int | None = None, customer_id: int | None = None) -> TrialBalance:
    """Every account of the chart with its totals for business dates up to ``as_of`` (accounts with no
    lines show zeros, so finance sees the whole chart); optionally for one plan or one customer."""
    lines = JournalLine.objects.filter(business_date__lte=as_of)
    if plan_id is not None:
        lines = lines.filter(plan_id=plan_id)
    if customer_id is not None:
        lines = lines.filter(customer_id=customer_id)
    sums = {
        account: (_to_cents(debit), _to_cents(credit))
        for account, debit, credit in lines.values("account")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .values_list("account", "debit", "credit")
    }
    rows = [
        TrialBalanceRow(
            account=account.value,
            name=str(account.label),
            type=str(AccountType(ACCOUNT_TYPES[account].type).label),
            debit=sums.get(account.value, (ZERO, ZERO))[0],
            credit=sums.get(account.value, (ZERO, ZERO))[1],
        )
        for account in Account
    ]
    return TrialBalance(as_of=as_of, rows=rows)


@dataclass(frozen=True)
class StatementLine:
    """One line of a plan's account statement, with the running balance of its account."""

    business_date: date
    kind: str
    reference: str
    account: str
    account_name: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


def plan_statement(*, plan_id: int) -> list[StatementLine]:
    """A plan's journal lines in the order they were posted, each with its account's running balance
    (on the account's normal side): what finance reads to see how a plan's receivables moved."""
    balances: dict[str, Decimal] = {}
    out = []
    names = dict(Account.choices)
    for line in (
        JournalLine.objects.filter(plan_id=plan_id)
        .select_related("entry")
        .order_by("entry_id", "id")
        .only("account", "debit", "credit", "business_date", "entry__kind", "entry__reference")
    ):
        debit, credit = _to_cents(line.debit), _to_cents(line.credit)
        signed = debit - credit if ACCOUNT_TYPES[line.account].debit_normal else credit - debit
        balances[line.account] = balances.get(line.account, ZERO) + signed
        out.append(
            StatementLine(
                business_date=line.business_date,
                kind=str(EntryKind(line.entry.kind).label),
                reference=line.entry.reference,
                account=line.account,
                account_name=str(names[line.account]),
                debit=debit,
                credit=credit,
                balance=balances[line.account],
            )
        )
    return out


def _to_cents(value: object) -> Decimal:
    """A sum read back from the database, to cents (SQLite sums decimals as floats)."""
    return quantize_money(Decimal(str(value))) if value is not None else ZERO


# --- the customer's statement (账单明细) ------------------------------------------------------------------

# What the customer owes: the receivables, less what we owe back (an excess not yet refunded).
_OWED_ACCOUNTS = (*RECEIVABLE.values(), Account.REFUNDS_PAYABLE)
# Lines that tell a waiver inside a payment, a reversal or a re-staging (the receivables are netted).
_WAIVER_ACCOUNTS = (Account.WAIVERS, Account.UNEARNED_FEES, Account.FEE_INCOME)
_WITH_WAIVERS = (EntryKind.REPAYMENT, EntryKind.REPAYMENT_REVERSED, EntryKind.RESTAGED)
_CATEGORY_OF_KIND: dict[str, str] = {
    EntryKind.PENALTY_ACCRUED: "penalty",
    EntryKind.REPAYMENT: "payment",
    EntryKind.REPAYMENT_REVERSED: "reversal",
    EntryKind.EXCESS_REFUNDED: "refund",
    EntryKind.RESTAGED: "restaged",
    EntryKind.WAIVED: "waiver",
}


class StatementCategory(models.TextChoices):
    PURCHASE = "purchase", _("New plan")
    FEE = "fee", _("Fees billed")
    PENALTY = "penalty", _("Penalties")
    PAYMENT = "payment", _("Payments")
    WAIVER = "waiver", _("Waivers")
    REVERSAL = "reversal", _("Payments reversed")
    REFUND = "refund", _("Refunds")
    RESTAGED = "restaged", _("Moved by re-staging")
    ADJUSTMENT = "adjustment", _("Adjustments")


@dataclass(frozen=True)
class StatementItem:
    """One movement of what the customer owes: positive adds to the balance, negative takes from it."""

    business_date: date
    plan: InstallmentPlan
    category: str
    reference: str
    amount: Decimal
    balance: Decimal

    @property
    def label(self) -> str:
        return str(StatementCategory(self.category).label)


@dataclass(frozen=True)
class CustomerStatement:
    customer: User
    plan: InstallmentPlan | None
    date_from: date
    date_to: date
    opening: Decimal
    items: list[StatementItem]

    @property
    def totals(self) -> list[tuple[str, str, Decimal]]:
        """(category, label, total) for every category, in the order of the statement's summary."""
        sums: dict[str, Decimal] = {}
        for item in self.items:
            sums[item.category] = sums.get(item.category, ZERO) + item.amount
        return [(c.value, str(c.label), sums.get(c.value, ZERO)) for c in StatementCategory]

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((item.amount for item in self.items), ZERO)


def _balance_effect(account: str, debit: Decimal, credit: Decimal) -> Decimal:
    """How a line moves what the customer owes: receivables on the debit side, refunds owed back on the
    credit side - both read as debit - credit."""
    return debit - credit if account in _OWED_ACCOUNTS else ZERO


def customer_statement(
    *, customer: User, date_from: date, date_to: date, plan: InstallmentPlan | None = None
) -> CustomerStatement:
    """账单明细 from the journal, its source of truth: the balance owed at the start of ``date_from``, every
    movement of the customer's receivables (and of an excess owed back) by business date up to
    ``date_to`` inclusive, per plan or over all the customer's plans. The closing balance is the opening
    plus the movements; for a plan not charged off and with no refund pending, it equals what the
    installments say is still owed (``tests/installments/test_statement.py``).

    The journal nets an entry's lines per account, so a waiver inside a payment, a reversal or a
    re-staging is told by the waiver accounts it touched (waivers, unearned fees, fee income) and split
    from the money movement; a re-staging's successor plan shows its new principal as moved in and its
    fees as fees billed."""
    plans = {p.pk: p for p in InstallmentPlan.objects.filter(customer=customer)}
    if plan is not None:
        plans = {plan.pk: plans[plan.pk]} if plan.pk in plans else {}
    scope = JournalLine.objects.filter(plan_id__in=list(plans), business_date__lte=date_to)
    before = scope.filter(business_date__lt=date_from, account__in=_OWED_ACCOUNTS).aggregate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    opening = _to_cents(before["debit"]) - _to_cents(before["credit"])
    groups: dict[tuple[int, int], dict[str, Decimal]] = {}
    heads: dict[tuple[int, int], tuple[date, str, int | None, str]] = {}
    for entry_id, plan_id, account, debit, credit, day, kind, entry_plan, reference in (
        scope.filter(business_date__gte=date_from, account__in=(*_OWED_ACCOUNTS, *_WAIVER_ACCOUNTS))
        .order_by("business_date", "entry_id", "id")
        .values_list(
            "entry_id",
            "plan_id",
            "account",
            "debit",
            "credit",
            "business_date",
            "entry__kind",
            "entry__plan_id",
            "entry__reference",
        )
    ):
        key = (entry_id, plan_id)
        heads.setdefault(key, (day, kind, entry_plan, reference))
        sums = groups.setdefault(key, {})
        sums[account] = sums.get(account, ZERO) + _to_cents(debit) - _to_cents(credit)
    items: list[StatementItem] = []
    balance = opening
    for (entry_id, plan_id), sums in groups.items():
        day, kind, source_plan, reference = heads[(entry_id, plan_id)]
        for category, amount in _categorise(kind, sums, successor=source_plan != plan_id):
            balance += amount
            items.append(
                StatementItem(
                    business_date=day,
                    plan=plans[plan_id],
                    category=category,
                    reference=_short(reference),
                    amount=amount,
                    balance=balance,
                )
            )
    return CustomerStatement(
        customer=customer, plan=plan, date_from=date_from, date_to=date_to, opening=opening, items=items
    )


def _categorise(kind: str, sums: dict[str, Decimal], *, successor: bool) -> list[tuple[str, Decimal]]:
    """The statement lines of one entry's lines for one plan: (category, signed amount), zeros dropped."""
    out: list[tuple[str, Decimal]]
    if kind == EntryKind.PLAN_CREATED or (kind == EntryKind.RESTAGED and successor):
        out = [
            (
                StatementCategory.PURCHASE if kind == EntryKind.PLAN_CREATED else StatementCategory.RESTAGED,
                sums.get(Account.PRINCIPAL_RECEIVABLE, ZERO),
            ),
            (StatementCategory.FEE, sums.get(Account.FEE_RECEIVABLE, ZERO)),
            (StatementCategory.ADJUSTMENT, sums.get(Account.PENALTY_RECEIVABLE, ZERO)),
        ]
    else:
        delta = sum((sums.get(account, ZERO) for account in _OWED_ACCOUNTS), ZERO)
        # A waiver debits waivers or unearned fees (a fee billed on the way credits fee income); the
        # customer sees it as a credit to the balance, split from the money.
        waiver = -sum((sums.get(a, ZERO) for a in _WAIVER_ACCOUNTS), ZERO) if kind in _WITH_WAIVERS else ZERO
        out = [
            (StatementCategory.WAIVER, waiver),
            (_CATEGORY_OF_KIND.get(kind, StatementCategory.ADJUSTMENT), delta - waiver),
        ]
    return [(str(category), amount) for category, amount in out if amount]


def _short(reference: str) -> str:
    """A repayment's public id shown as its short reference, as on the receipt; other references as is."""
    try:
        return short_ref(UUID(reference))
    except ValueError:
        return reference


def customer_outstanding(*, customer: User, plan: InstallmentPlan | None = None) -> Decimal:
    """What the installments say the customer still owes (the sub-ledger: open installments of plans not
    charged off): the number a statement's closing balance up to today must equal."""
    plan_ids = [plan.pk] if plan is not None else list(customer.plans.values_list("id", flat=True))
    receivables = set(RECEIVABLE.values())
    return sum(
        (amount for (_plan, account), amount in sub_ledger(plan_ids).items() if account in receivables), ZERO
    )


# --- 结清证明 ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateCheck:
    """What the public check may show: nothing about the customer but the masked name, no amounts."""

    number: str
    issued_on: date
    valid: bool
    masked_name: str


def certificate_check(*, code: str) -> CertificateCheck | None:
    """The public /verify/ page's read; codes are kept upper case, so a code typed in lower case works."""
    certificate = (
        PayoffCertificate.objects.filter(code=code.strip().upper()).select_related("plan__customer").first()
    )
    if certificate is None:
        return None
    return CertificateCheck(
        number=certificate.number,
        issued_on=timezone.localtime(certificate.issued_at).date(),
        valid=certificate.is_valid,
        masked_name=certificate.plan.customer.masked_name,
    )


# --- collection cases (催收案件): the start page's figures ------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One line of the case queue's summary: a bucket or a status, how many open cases, the oldest's age."""

    key: str
    label: str
    count: int
    oldest_age_days: int


@dataclass(frozen=True)
class QueueCounts:
    by_bucket: list[QueueRow]
    by_status: list[QueueRow]
    promises_due_today: int
    broken_promises: int
    total: int


def _queue_rows(cases: QuerySet[CollectionCase], field: str, labels: dict[str, object]) -> list[QueueRow]:
    today = timezone.localdate()
    rows = (
        cases.values(field).annotate(count=models.Count("id"), oldest=models.Min("opened_at")).order_by(field)
    )
    return [
        QueueRow(
            key=row[field],
            label=str(labels.get(row[field], row[field])),
            count=row["count"],
            oldest_age_days=(today - timezone.localtime(row["oldest"]).date()).days,
        )
        for row in rows
    ]


def collection_queue_counts(staff: User | None = None) -> QueueCounts:
    """Open cases by bucket and by status with the oldest case's age in days (since it opened), the
    promises whose date is today and the cases whose promise was broken; ``staff`` narrows it all to the
    cases assigned to them (my queue), ``None`` is the team's."""
    cases = CollectionCase.objects.filter(closed_at__isnull=True)
    if staff is not None:
        cases = cases.filter(assignee=staff)
    today = timezone.localdate()
    return QueueCounts(
        by_bucket=_queue_rows(cases, "bucket", dict(DelinquencyBucket.choices)),
        by_status=_queue_rows(cases, "status", dict(CaseStatus.choices)),
        promises_due_today=PromiseToPay.objects.filter(
            status=PromiseStatus.OPEN, promised_date=today, case__in=cases
        ).count(),
        broken_promises=cases.filter(status=CaseStatus.BROKEN_PROMISE).count(),
        total=cases.count(),
    )


@dataclass(frozen=True)
class BucketRates:
    """A bucket's cure rate (cases worked in the window that were cured or paid off) and promise-kept
    rate (promises decided in the window that were kept); a rate is ``None`` when nothing was counted."""

    bucket: str
    label: str
    cases: int
    cured: int
    promises_decided: int
    promises_kept: int

    @staticmethod
    def _rate(part: int, whole: int) -> Decimal | None:
        return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None

    @property
    def cure_rate(self) -> Decimal | None:
        return self._rate(self.cured, self.cases)

    @property
    def promise_kept_rate(self) -> Decimal | None:
        return self._rate(self.promises_kept, self.promises_decided)


def cure_and_promise_rates(days: int = 30) -> list[BucketRates]:
    """Per bucket, over the last ``days`` days: of the cases open at any time in the window (counted in
    their latest bucket), how many closed cured or paid off in it; of the promises decided in it (counted
    in the bucket the case was in when the promise was made), how many were kept. Every bucket past M0 is
    listed, in order, even with nothing in it."""
    since = timezone.now() - timedelta(days=days)
    cured_reasons = (CaseCloseReason.CURED, CaseCloseReason.PAID_OFF)
    cases = (
        CollectionCase.objects.filter(models.Q(closed_at__isnull=True) | models.Q(closed_at__gte=since))
        .values("bucket")
        .annotate(
            total=models.Count("id"),
            cured=models.Count("id", filter=models.Q(close_reason__in=cured_reasons, closed_at__gte=since)),
        )
    )
    promises = (
        PromiseToPay.objects.filter(checked_at__gte=since)
        .exclude(status=PromiseStatus.OPEN)
        .values("bucket")
        .annotate(
            total=models.Count("id"), kept=models.Count("id", filter=models.Q(status=PromiseStatus.KEPT))
        )
    )
    case_rows: dict[str, tuple[int, int]] = {row["bucket"]: (row["total"], row["cured"]) for row in cases}
    promise_rows: dict[str, tuple[int, int]] = {r["bucket"]: (r["total"], r["kept"]) for r in promises}
    out = []
    for bucket, label in DelinquencyBucket.choices:
        if bucket == DelinquencyBucket.M0:
            continue
        total, cured = case_rows.get(bucket, (0, 0))
        decided, kept = promise_rows.get(bucket, (0, 0))
        out.append(
            BucketRates(
                bucket=bucket,
                label=str(label),
                cases=total,
                cured=cured,
                promises_decided=decided,
                promises_kept=kept,
            )
        )
    return out

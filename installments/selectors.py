"""Reads of products and plans for pages, the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from django.db.models import Prefetch, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from core.money import ZERO, quantize_money
from installments.models import (
    ACCOUNT_TYPES,
    Account,
    AccountType,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    JournalLine,
    NegotiationApplication,
    NegotiationState,
)
from installments.schedules import Schedule
from installments.services import PlanQuote, plan_quote, restage_schedule

EXAMPLE_PRINCIPAL = Decimal("1200.00")


@dataclass(frozen=True)
class ProductOffer:
    """A product with what it costs at each tenor for an example amount, for the public product page."""

    product: InstallmentProduct
    quotes: list[PlanQuote]


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
        offers.append(ProductOffer(product=product, quotes=quotes))
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
        .prefetch_related("documents")
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

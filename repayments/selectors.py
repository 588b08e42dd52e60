"""Reads: the customer's pages (bills, account, plan, records) and the support workspace's customer view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ApplicationError
from core.ids import short_ref
from installments.allocation import due_now_total, payable_total
from installments.freezes import freezes_on, open_freeze, open_freezes
from installments.ledger import (
    OPEN_STATUSES,
    PAYABLE_PLAN_STATUSES,
    REPAYABLE_PLAN_STATUSES,
    bucket_for,
    installment_rows,
    plan_dues,
    remaining_total,
)
from installments.models import (
    ZERO,
    CollectionCase,
    ContactLog,
    Installment,
    InstallmentPlan,
    NegotiationApplication,
    NegotiationState,
    PlanFreeze,
    PromiseToPay,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.schedules import add_months
from installments.selectors import plan_for_customer
from notifications.models import Notification
from repayments.banks import card_label
from repayments.complaints import OPEN_COMPLAINT_STATES, Complaint
from repayments.errors import RepaymentsError
from repayments.labels import failure_reason
from repayments.models import (
    Allocation,
    AutoDebitMandate,
    BankCard,
    BreakSeverity,
    BreakState,
    CardStatus,
    Component,
    DebitAttempt,
    DebitAttemptStatus,
    ReconciliationBreak,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentStatus,
)


@dataclass(frozen=True)
class CustomerWorkspace:
    customer: User
    plans: QuerySet[InstallmentPlan]
    cards: QuerySet[BankCard]
    mandates: dict[int, AutoDebitMandate]
    repayments: QuerySet[Repayment]
    attempts: QuerySet[DebitAttempt]
    notifications: QuerySet[Notification]
    applications: QuerySet[NegotiationApplication]
    contacts: QuerySet[ContactLog]


def customer_workspace(*, customer: User, recent: int = 50) -> CustomerWorkspace:
    """A fixed number of queries whatever the customer's history; lists are cut to the most recent."""
    plans = (
        InstallmentPlan.objects.filter(customer=customer)
        .select_related("product", "source_plan")
        .prefetch_related(
            Prefetch("installments", queryset=Installment.objects.order_by("sequence")),
            # The workspace's "Record a promise to pay" goes to the plan's open case (at most one).
            Prefetch(
                "collection_cases",
                queryset=CollectionCase.objects.filter(closed_at__isnull=True),
                to_attr="open_cases",
            ),
        )
        .order_by("-created_at")
    )
    mandates = {
        m.plan_id: m
        for m in AutoDebitMandate.objects.filter(plan__customer=customer).select_related("card", "plan")
    }
    return CustomerWorkspace(
        customer=customer,
        plans=plans,
        cards=BankCard.objects.filter(customer=customer).order_by("-is_default", "-bound_at"),
        mandates=mandates,
        repayments=Repayment.objects.filter(customer=customer)
        .select_related("plan", "card")
        .order_by("-requested_at")[:recent],
        attempts=DebitAttempt.objects.filter(plan__customer=customer)
        .select_related("plan", "card")
        .order_by("-business_date", "-attempt_number")[:recent],
        notifications=Notification.objects.filter(user=customer).order_by("-created_at")[:recent],
        applications=NegotiationApplication.objects.filter(customer=customer)
        .select_related("plan")
        .prefetch_related("documents")
        .order_by("-created_at"),
        contacts=ContactLog.objects.filter(customer=customer)
        .select_related("staff")
        .order_by("-created_at")[:recent],
    )


@dataclass(frozen=True)
class LastPromise:
    """The header's last promise to pay: a ``PromiseToPay`` (the one the daily check decides) when there
    is one, else a promise noted on a contact before any case was open (``status`` empty)."""

    amount: Decimal | None
    promised_date: date
    status: str  # the PromiseToPay's status words; "" for a contact-log note
    case_id: int | None


@dataclass(frozen=True)
class OpenComplaints:
    """The customer's open 投诉: how many, the nearest deadline and that complaint (to link to)."""

    count: int
    nearest: Complaint


@dataclass(frozen=True)
class CustomerSummary:
    """The customer 360's header (templates/admin/support/_customer_header.html): what an agent needs in
    the first seconds of a call, on every page a customer appears. Figures are the ledger's: ``overdue``
    and ``next_*`` as 我的账单 shows them, ``payoff`` as 立即还款's 提前结清金额 (``plan_balance``), over
    every plan still being paid."""

    customer: User
    overdue: Decimal
    days_past_due: int
    bucket: str
    penalty: Decimal  # unpaid penalty (accrued less paid and waived), included in ``overdue``
    payoff: Decimal
    remaining: Decimal
    next_due_date: date | None
    next_amount: Decimal
    plans_paying: int
    autodebit_on: list[AutoDebitMandate]  # mandates switched on, with their card
    autodebit_off: int  # plans still being paid with auto-debit off (or never set)
    last_contact: ContactLog | None
    last_promise: LastPromise | None
    open_application: NegotiationApplication | None
    open_case: CollectionCase | None = None  # the open case nearest its next action (assignee loaded)
    open_complaint: OpenComplaints | None = None
    # Plans frozen today (暂停计息), with the plan loaded: "frozen until <date>" in the header.
    frozen: tuple[PlanFreeze, ...] = ()

    @property
    def frozen_plan_ids(self) -> set[int]:
        return {f.plan_id for f in self.frozen}

    @property
    def language(self) -> str:
        return self.customer.get_language_display()


def customer_summary(customer: User, *, today: date | None = None) -> CustomerSummary:
    """At most ten queries whatever the customer's history: plans, their open installments, mandates, the
    last contact, the last promise (PromiseToPay, then a contact-log note only when there is none), the open
    application, the open case, the open complaints and the plans frozen today."""
    today = today or timezone.localdate()
    plans = list(
        InstallmentPlan.objects.filter(customer=customer, status__in=REPAYABLE_PLAN_STATUSES).order_by("pk")
    )
    rows_by_plan = installment_rows([p.pk for p in plans], open_only=True)
    overdue = penalty = payoff = remaining = ZERO
    upcoming: list[tuple[date, Decimal]] = []
    days = 0
    paying = []
    for plan in plans:
        rows = [r for r in rows_by_plan.get(plan.pk, []) if r.outstanding > 0]
        if not rows:
            continue
        paying.append(plan)
        late = [r for r in rows if r.due_date < today]
        overdue += sum((r.outstanding for r in late), ZERO)
        penalty += sum((r.open("penalty") for r in rows), ZERO)
        remaining += remaining_total(rows)
        payoff += payable_total(plan_dues(plan, rows, today=today))
        days = max(days, (today - late[0].due_date).days if late else 0, plan.days_past_due)
        upcoming += [(r.due_date, r.outstanding) for r in rows if r.due_date > today]
    next_due = min((d for d, _ in upcoming), default=None)
    mandates = {
        m.plan_id: m
        for m in AutoDebitMandate.objects.filter(plan__in=[p.pk for p in paying]).select_related("card")
    }
    contacts = (
        ContactLog.objects.filter(customer=customer).select_related("staff").order_by("-created_at", "-id")
    )
    return CustomerSummary(
        customer=customer,
        overdue=overdue,
        days_past_due=days,
        bucket=bucket_for(days),
        penalty=penalty,
        payoff=payoff,
        remaining=remaining,
        next_due_date=next_due,
        next_amount=sum((a for d, a in upcoming if d == next_due), ZERO),
        plans_paying=len(paying),
        autodebit_on=[m for m in mandates.values() if m.enabled],
        autodebit_off=sum(1 for p in paying if not (p.pk in mandates and mandates[p.pk].enabled)),
        last_contact=contacts.first(),
        last_promise=_last_promise(customer, contacts),
        open_application=NegotiationApplication.objects.filter(
            customer=customer, state__in=OPEN_NEGOTIATION_STATES
        )
        .select_related("plan")
        .order_by("-created_at")
        .first(),
        open_case=CollectionCase.objects.filter(customer=customer, closed_at__isnull=True)
        .select_related("assignee", "plan")
        .order_by("next_action_date", "pk")
        .first(),
        open_complaint=_open_complaints(customer),
        frozen=tuple(
            freezes_on(today)
            .filter(plan__in=[p.pk for p in plans])
            .select_related("plan")
            .order_by("planned_end", "pk")
        ),
    )


def _last_promise(customer: User, contacts: QuerySet[ContactLog]) -> LastPromise | None:
    # PromiseToPay first: it is the promise the daily check keeps or breaks; a promise noted on a call
    # with no case open (no PromiseToPay possible) is shown only when there is no PromiseToPay at all.
    promise = PromiseToPay.objects.filter(customer=customer).order_by("-created_at", "-id").first()
    if promise is not None:
        return LastPromise(
            amount=promise.amount,
            promised_date=promise.promised_date,
            status=str(promise.get_status_display()),
            case_id=promise.case_id,
        )
    noted = contacts.filter(promise_to_pay_date__isnull=False).first()
    if noted is None or noted.promise_to_pay_date is None:
        return None
    return LastPromise(
        amount=noted.promise_amount, promised_date=noted.promise_to_pay_date, status="", case_id=None
    )


def _open_complaints(customer: User) -> OpenComplaints | None:
    rows = list(
        Complaint.objects.filter(customer=customer, state__in=[s.value for s in OPEN_COMPLAINT_STATES])
        .only("pk", "deadline", "state")
        .order_by("deadline", "pk")
    )
    return OpenComplaints(count=len(rows), nearest=rows[0]) if rows else None


# --- the customer's pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bill:
    """账单 for one plan: what is due now (overdue included), what is overdue, and what comes next."""

    plan: InstallmentPlan
    due_now: Decimal
    overdue: Decimal
    days_overdue: int
    next_due_date: date | None
    next_amount: Decimal
    remaining: Decimal  # 剩余待还 (installments.ledger.remaining_total): future fees included
    mandate: AutoDebitMandate | None
    freeze: PlanFreeze | None = None  # 暂停计息 covering today (installments.freezes)

    @property
    def has_something_to_pay(self) -> bool:
        return self.remaining > 0


def _bill(
    plan: InstallmentPlan, today: date, mandate: AutoDebitMandate | None, freeze: PlanFreeze | None = None
) -> Bill:
    open_rows = [i for i in plan.installments.all() if i.status in OPEN_STATUSES and i.outstanding > 0]
    due = [i for i in open_rows if i.due_date <= today]
    late = [i for i in due if i.due_date < today]
    upcoming = [i for i in open_rows if i.due_date > today]
    return Bill(
        plan=plan,
        due_now=sum((i.outstanding for i in due), ZERO),
        overdue=sum((i.outstanding for i in late), ZERO),
        days_overdue=(today - late[0].due_date).days if late else 0,
        next_due_date=upcoming[0].due_date if upcoming else None,
        next_amount=upcoming[0].outstanding if upcoming else ZERO,
        remaining=remaining_total(open_rows),
        mandate=mandate,
        freeze=freeze,
    )


def customer_bills(*, customer: User, today: date | None = None) -> list[Bill]:
    """我的账单: every plan with something to pay, the most urgent first. Three queries in all: the plans
    with their product and auto-debit setting (a join), their open installments and their freezes."""
    today = today or timezone.localdate()
    # Only the open installments: a plan's paid history does not change what is due, and loading it made
    # the page's cost grow with the history (bench/run.py: 700 rows ran at 0.40x of 3 rows).
    open_rows = Installment.objects.filter(status__in=OPEN_STATUSES).order_by("sequence")
    plans = list(
        InstallmentPlan.objects.filter(customer=customer, status__in=REPAYABLE_PLAN_STATUSES)
        .select_related("product", "autodebit__card")
        .prefetch_related(Prefetch("installments", queryset=open_rows))
    )
    freezes = open_freezes([p.pk for p in plans], today=today)
    bills = [_bill(plan, today, getattr(plan, "autodebit", None), freezes.get(plan.pk)) for plan in plans]
    bills = [b for b in bills if b.has_something_to_pay]
    bills.sort(key=lambda b: (-b.days_overdue, b.due_now == 0, b.next_due_date or date.max))
    return bills


@dataclass(frozen=True)
class MonthTotal:
    month: date  # the first of the month
    amount: Decimal


@dataclass(frozen=True)
class AccountOverview:
    """我的账户: the totals and what needs doing, at a glance."""

    bills: list[Bill]
    total_outstanding: Decimal
    due_now: Decimal
    overdue: Decimal
    next_due_date: date | None
    next_amount: Decimal
    months: list[MonthTotal]
    cards: list[BankCard]
    headline: DueHeadline | None
    offers: list[NegotiationApplication]  # offers sent and not expired: the customer's move
    applications: list[NegotiationApplication]  # open, waiting on us (or on more information)

    @property
    def max_month(self) -> Decimal:
        return max((m.amount for m in self.months), default=ZERO)


@dataclass(frozen=True)
class DueHeadline:
    """本期应还 at the top of 我的账户: one amount, one deadline and one place to pay it.

    ``plan`` is set when a single plan is concerned (立即还款 goes to its payment page); when several plans
    are due together it is None and the button goes to 我的账单, where each is paid."""

    amount: Decimal
    due_date: date
    days: int  # > 0: due in N days; 0: due today; < 0: overdue by -N days
    plan: InstallmentPlan | None
    plan_count: int

    @property
    def state(self) -> str:
        return "upcoming" if self.days > 0 else "today" if self.days == 0 else "overdue"

    @property
    def days_overdue(self) -> int:
        return -self.days if self.days < 0 else 0


def _headline(bills: list[Bill], today: date) -> DueHeadline | None:
    """What is due now (today or overdue) across plans; if nothing is, the next due date's amount."""
    due = [b for b in bills if b.due_now > 0]
    if due:
        worst = max(b.days_overdue for b in due)
        return DueHeadline(
            amount=sum((b.due_now for b in due), ZERO),
            due_date=today - timedelta(days=worst),
            days=-worst,
            plan=due[0].plan if len(due) == 1 else None,
            plan_count=len(due),
        )
    upcoming = [b for b in bills if b.next_due_date]
    if not upcoming:
        return None
    soonest = min(b.next_due_date or date.max for b in upcoming)
    on_date = [b for b in upcoming if b.next_due_date == soonest]
    return DueHeadline(
        amount=sum((b.next_amount for b in on_date), ZERO),
        due_date=soonest,
        days=(soonest - today).days,
        plan=on_date[0].plan if len(on_date) == 1 else None,
        plan_count=len(on_date),
    )


def account_overview(*, customer: User, today: date | None = None, months: int = 6) -> AccountOverview:
    today = today or timezone.localdate()
    bills = customer_bills(customer=customer, today=today)
    by_month: dict[date, Decimal] = {}
    first = today.replace(day=1)
    keys = [add_months(first, k) for k in range(months)]
    for key in keys:
        by_month[key] = ZERO
    for bill in bills:
        for inst in bill.plan.installments.all():
            if inst.status in OPEN_STATUSES and inst.outstanding > 0:
                key = max(inst.due_date, today).replace(day=1)  # overdue counts in this month
                if key in by_month:
                    by_month[key] += inst.outstanding
    upcoming = [b for b in bills if b.next_due_date]
    soonest = min(upcoming, key=lambda b: b.next_due_date or date.max) if upcoming else None
    next_date = soonest.next_due_date if soonest else None
    # An offer past its expiry is still "offered" until the expiry task runs; it is not shown as waiting.
    negotiations = list(
        NegotiationApplication.objects.filter(customer=customer, state__in=OPEN_NEGOTIATION_STATES)
        .exclude(state=NegotiationState.OFFERED, offer_expires_at__lte=timezone.now())
        .select_related("plan")
        .order_by("-created_at")
    )
    return AccountOverview(
        bills=bills,
        total_outstanding=sum((b.remaining for b in bills), ZERO),
        due_now=sum((b.due_now for b in bills), ZERO),
        overdue=sum((b.overdue for b in bills), ZERO),
        next_due_date=next_date,
        next_amount=sum((b.next_amount for b in upcoming if b.next_due_date == next_date), ZERO),
        months=[MonthTotal(k, by_month[k]) for k in keys],
        cards=list(BankCard.objects.filter(customer=customer, status=CardStatus.ACTIVE)),
        headline=_headline(bills, today),
        offers=[a for a in negotiations if a.state == NegotiationState.OFFERED],
        applications=[a for a in negotiations if a.state != NegotiationState.OFFERED],
    )


@dataclass(frozen=True)
class PlanPage:
    plan: InstallmentPlan
    bill: Bill
    repayments: list[Repayment]
    attempts: list[DebitAttempt]
    secondary_plans: list[InstallmentPlan]


def plan_page(*, customer: User, public_id: UUID | str, today: date | None = None) -> PlanPage:
    today = today or timezone.localdate()
    plan = plan_for_customer(customer=customer, public_id=public_id)
    mandate = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
    return PlanPage(
        plan=plan,
        bill=_bill(plan, today, mandate, open_freeze(plan.pk, today=today)),
        repayments=list(plan.repayments.select_related("card").order_by("-requested_at")[:50]),
        attempts=list(
            plan.debit_attempts.select_related("card").order_by("-business_date", "-attempt_number")[:50]
        ),
        secondary_plans=list(plan.secondary_plans.all()),
    )


@dataclass(frozen=True)
class RecordRow:
    """One line of 还款记录: a repayment (any channel) or an auto-debit attempt's outcome."""

    at: datetime
    plan: InstallmentPlan
    amount: Decimal
    kind: str  # "repayment" or "autodebit"
    channel: str
    status: str
    status_label: str
    detail: str
    card: str
    public_id: UUID | str | None


def customer_records(
    *, customer: User, plan_public_id: UUID | str | None = None, month: date | None = None, limit: int = 200
) -> list[RecordRow]:
    """All repayments and auto-debit results, newest first, optionally for one plan and one month."""
    repayments = Repayment.objects.filter(customer=customer).select_related("plan", "card")
    if plan_public_id:
        repayments = repayments.filter(plan__public_id=plan_public_id)
    if month:
        start = month.replace(day=1)
        repayments = repayments.filter(
            requested_at__date__gte=start, requested_at__date__lt=add_months(start, 1)
        )
    rows = [
        RecordRow(
            at=r.requested_at,
            plan=r.plan,
            amount=r.amount,
            kind="autodebit" if r.channel == "auto_debit" else "repayment",
            channel=r.get_channel_display(),
            status=r.status,
            status_label=r.get_status_display(),
            detail=failure_reason(r.failure_code)
            or (date_format(r.scheduled_for) if r.scheduled_for else ""),
            card=r.card_display,
            public_id=r.public_id,
        )
        for r in repayments.order_by("-requested_at", "-id")[:limit]
    ]
    return rows


# --- what a plan owes, as 立即还款 offers it -------------------------------------------------------------


@dataclass(frozen=True)
class PlanBalance:
    """What 立即还款 shows and offers for a plan.

    ``remaining`` is 剩余待还, the same figure as on 我的账户, 我的账单, the API and the SMS
    (``remaining_total``); ``payoff`` is 提前结清金额, what settling the plan today costs (future fees may be
    waived, so it can be lower); ``available`` is the most a payment may be now."""

    due_now: Decimal
    payoff: Decimal
    remaining: Decimal
    reserved: Decimal  # claimed by pending payments not settled yet
    next_due_date: date | None
    next_amount: Decimal  # what falls due on next_due_date

    @property
    def available(self) -> Decimal:
        return max(self.payoff - self.reserved, ZERO)

    @property
    def due_now_payable(self) -> Decimal:
        """Due now less what pending payments already claim: what paying "due now" charges today."""
        return max(self.due_now - self.reserved, ZERO)

    @property
    def payoff_payable(self) -> bool:
        """Paying off is offered only when nothing is in flight: a pending payment already claims a part."""
        return self.payoff > 0 and self.reserved == 0


def reserved_amount(plan_id: int, exclude: Repayment | None = None) -> Decimal:
    """What pending payments on the plan already claim (a charge in flight): not payable again."""
    pending = Repayment.objects.filter(plan_id=plan_id, status=RepaymentStatus.PENDING)
    if exclude is not None:
        pending = pending.exclude(pk=exclude.pk)
    return pending.aggregate(total=Sum("amount"))["total"] or ZERO


def plan_balance(plan: InstallmentPlan, *, today: date | None = None) -> PlanBalance:
    today = today or timezone.localdate()
    rows = installment_rows([plan.pk]).get(plan.pk, [])
    dues = plan_dues(plan, rows, today=today)
    upcoming = [d for d in dues if d.due_date > today]
    next_due = min((d.due_date for d in upcoming), default=None)
    return PlanBalance(
        due_now=due_now_total(dues, today=today),
        payoff=payable_total(dues),
        remaining=remaining_total(rows),
        reserved=reserved_amount(plan.pk),
        next_due_date=next_due,
        next_amount=sum((d.total for d in upcoming if d.due_date == next_due), ZERO),
    )


def card_not_found() -> ApplicationError:
    return ApplicationError(
        RepaymentsError.CARD_NOT_FOUND,
        _("This card is not available (removed, or not yours): choose another card."),
        fields={"card": _("This card is not available (removed, or not yours): choose another card.")},
    )


def payment_card(*, customer: User, public_id: UUID | str) -> BankCard:
    """One of the customer's bound cards, to pay with. Another customer's or a removed card is refused
    with ``card_not_found`` beside the card field (web) and as a 404 with that code (API)."""
    try:
        card_id = UUID(str(public_id))
    except ValueError:
        raise card_not_found() from None
    card = BankCard.objects.filter(customer=customer, public_id=card_id, status=CardStatus.ACTIVE).first()
    if card is None:
        raise card_not_found()
    return card


def open_critical_breaks(business_date: date) -> list[ReconciliationBreak]:
    """The T+1 reconciliation's open critical breaks of a date: what ``manage.py reconcile`` fails on."""
    return list(
        ReconciliationBreak.objects.filter(
            business_date=business_date, state=BreakState.OPEN, severity=BreakSeverity.CRITICAL
        ).order_by("id")
    )


@dataclass(frozen=True)
class ReconciliationAlert:
    """Open critical reconciliation breaks, over every date: what operations must act on (the readiness
    probe's details and the admin index show it)."""

    open_critical: int
    dates: list[date]  # the business dates that have one, oldest first (at most ``max_dates``)

    def __bool__(self) -> bool:
        return self.open_critical > 0


def reconciliation_alert(*, max_dates: int = 10) -> ReconciliationAlert:
    """Two small queries on the (business_date, state) index; open breaks are few by nature."""
    open_critical = ReconciliationBreak.objects.filter(state=BreakState.OPEN, severity=BreakSeverity.CRITICAL)
    count = open_critical.count()
    if not count:
        return ReconciliationAlert(open_critical=0, dates=[])
    dates = list(
        open_critical.order_by("business_date").values_list("business_date", flat=True).distinct()[:max_dates]
    )
    return ReconciliationAlert(open_critical=count, dates=dates)


# --- 还款凭证: the receipt of a succeeded repayment --------------------------------------------------------


@dataclass(frozen=True)
class ReceiptLine:
    """What one allocation did: ``amount`` of one component of one installment, paid or waived."""

    sequence: int
    due_date: date
    component: str
    amount: Decimal
    waived: bool

    @property
    def component_label(self) -> str:
        """In the language active where it is shown (a PDF is drawn in the customer's)."""
        return str(Component(self.component).label)


@dataclass(frozen=True)
class Receipt:
    repayment: Repayment
    settled_at: datetime  # local time (Asia/Shanghai)
    bank: str
    card_last4: str
    bank_reference: str
    auto_debit: bool
    lines: list[ReceiptLine]
    reversed_at: datetime | None

    @property
    def card(self) -> str:
        """ "工商银行 尾号1234" / "ICBC card ending 1234", in the active language; "" without a card."""
        return card_label(name=self.bank, last4=self.card_last4) if self.card_last4 else ""

    @property
    def reference(self) -> str:
        return str(self.repayment.public_id)

    @property
    def short_reference(self) -> str:
        return short_ref(self.repayment.public_id)

    @property
    def paid(self) -> Decimal:
        return sum((line.amount for line in self.lines if not line.waived), ZERO)

    @property
    def waived(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.waived), ZERO)


def repayment_receipt(*, customer: User, public_id: UUID | str) -> Receipt:
    """The receipt of one of the customer's repayments that succeeded (and may have been reversed since):
    anything else, or another customer's id, is a 404. The split is the repayment's allocation rows, kept
    after a reversal as history; the card is its bank and last four digits, never more."""
    repayment = (
        Repayment.objects.filter(
            customer=customer,
            public_id=public_id,
            status__in=(RepaymentStatus.SUCCEEDED, RepaymentStatus.REVERSED),
        )
        .select_related("plan", "card")
        .prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.select_related("installment")),
            Prefetch("events", queryset=RepaymentEvent.objects.filter(kind="reversed")),
        )
        .first()
    )
    if repayment is None or repayment.settled_at is None:
        raise Http404
    card = repayment.card
    reversal = next(iter(repayment.events.all()), None)
    order: dict[str, int] = {Component.PENALTY: 0, Component.FEE: 1, Component.PRINCIPAL: 2}
    allocations = sorted(
        repayment.allocations.all(),
        key=lambda a: (a.installment.sequence, a.waived, order.get(a.component, 9), a.pk),
    )
    return Receipt(
        repayment=repayment,
        settled_at=timezone.localtime(repayment.settled_at),
        bank=card.bank_name if card else repayment.one_time_card_bank,
        card_last4=card.last4 if card else repayment.one_time_card_last4,
        bank_reference=repayment.gateway_reference,
        auto_debit=repayment.channel == RepaymentChannel.AUTO_DEBIT,
        lines=[
            ReceiptLine(
                sequence=a.installment.sequence,
                due_date=a.installment.due_date,
                component=a.component,
                amount=a.amount,
                waived=a.waived,
            )
            for a in allocations
        ],
        reversed_at=timezone.localtime(reversal.created_at) if reversal else None,
    )


def card_autodebit_plans(*, customer: User) -> dict[int, list[InstallmentPlan]]:
    """银行卡管理: for each of the customer's cards, the plans whose auto-debit it pays (on, and the plan
    still being paid), so the page names them and offers the move only where there is one to make."""
    uses: dict[int, list[InstallmentPlan]] = {}
    for mandate in (
        AutoDebitMandate.objects.filter(
            card__customer=customer, enabled=True, plan__status__in=PAYABLE_PLAN_STATUSES
        )
        .select_related("plan")
        .order_by("plan_id")
    ):
        uses.setdefault(mandate.card_id, []).append(mandate.plan)
    return uses


def plan_autodebit_card_id(plan: InstallmentPlan) -> int | None:
    """The card paying the plan's auto-debit now, if it is on (to tell a card change from turning it on)."""
    return AutoDebitMandate.objects.filter(plan=plan, enabled=True).values_list("card_id", flat=True).first()


# Days ahead in which a debit makes a failed card worth a banner on 我的账户.
SHORTFALL_LOOKAHEAD_DAYS = 7


@dataclass(frozen=True)
class CardShortfall:
    """我的账户's "the card will not cover the next debit", from what we know: the gateway has no balance
    lookup (and a page must not call the bank), so the sign is the card's latest debit failing for
    insufficient funds with no payment on the card succeeding since, before a debit that is coming."""

    card: BankCard
    plan: InstallmentPlan
    amount: Decimal
    debit_date: date | None  # None: the amount is due now (today or overdue), debited at the next slot

    @property
    def due_now(self) -> bool:
        return self.debit_date is None


def card_shortfalls(
    *, bills: list[Bill], today: date | None = None, days: int = SHORTFALL_LOOKAHEAD_DAYS
) -> list[CardShortfall]:
    """One banner per plan whose auto-debit card failed for insufficient funds last time and that has a
    debit due within ``days`` (or due now). Two queries whatever the number of plans."""
    today = today or timezone.localdate()
    paying = {b.plan.pk: b for b in bills if b.mandate is not None and b.mandate.enabled and b.remaining > 0}
    card_ids = {b.mandate.card_id for b in paying.values() if b.mandate is not None}
    if not card_ids:
        return []
    latest = DebitAttempt.objects.filter(card=OuterRef("pk")).order_by("-created_at", "-id")
    short_cards = {
        card.pk: card
        for card in BankCard.objects.filter(pk__in=card_ids, status=CardStatus.ACTIVE)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_failure=Subquery(latest.values("failure_code")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )
        .filter(last_status=DebitAttemptStatus.FAILED, last_failure="insufficient_funds")
        .exclude(
            Exists(
                Repayment.objects.filter(
                    card=OuterRef("pk"), status=RepaymentStatus.SUCCEEDED, settled_at__gt=OuterRef("last_at")
                )
            )
        )
    }
    shortfalls = []
    horizon = today + timedelta(days=days)
    for bill in paying.values():
        card = short_cards.get(bill.mandate.card_id) if bill.mandate is not None else None
        if card is None:
            continue
        if bill.due_now > 0:
            shortfalls.append(CardShortfall(card=card, plan=bill.plan, amount=bill.due_now, debit_date=None))
        elif bill.next_due_date is not None and bill.next_due_date <= horizon:
            shortfalls.append(
                CardShortfall(
                    card=card, plan=bill.plan, amount=bill.next_amount, debit_date=bill.next_due_date
                )
            )
    return shortfalls

"""What staff read to decide a negotiated plan (协商还款): the application's facts in one place (the offer
page, the approver's page and the application page show the same), the words for its codes, and how long
it has waited against the "3 working days" the submission SMS promises (notifications/messages.py,
``negotiation_submitted``). Reads only; the writes are in ``installments.services.negotiation``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import ZERO, quantize_money
from installments.allocation import payable_total
from installments.disclosure import LateCostDisclosure
from installments.ledger import open_installments, plan_dues, remaining_total
from installments.models import (
    ContactLog,
    EntryKind,
    InstallmentStatus,
    JournalEntry,
    NegotiationApplication,
    NegotiationDocument,
    NegotiationState,
)
from installments.models.negotiation import EVENT_LABELS
from installments.schedules import Schedule
from installments.selectors import offer_late_cost, plan_late_cost
from installments.services import rate_percent, restage_schedule

if TYPE_CHECKING:
    from accounts.models import User

# The submission SMS: "我们将在3个工作日内审核" / "within 3 working days".
PROMISED_WORKING_DAYS = 3

# The states in which the application waits for staff (not for the customer, not closed).
WAITING_ON_STAFF = (
    NegotiationState.SUBMITTED,
    NegotiationState.IN_REVIEW,
    NegotiationState.OFFER_PENDING_APPROVAL,
)

REJECTION_REASON_LABELS = {
    "income_not_verified": _("income could not be verified"),
    "not_eligible": _("not eligible"),
    "other": _("other"),
}


def event_label(action: str) -> str:
    return str(EVENT_LABELS.get(action, action))


def state_label(state: str) -> str:
    return str(NegotiationState(state).label) if state in NegotiationState.values else state


def rejection_reason_label(reason: str) -> str:
    return str(REJECTION_REASON_LABELS.get(reason, reason))


def person_name(user: User | None) -> str:
    """Staff see a colleague's name in full (the reviewer: "the handler's own name masked"); a customer's
    name stays masked on every screen."""
    if user is None:
        return str(_("the system"))
    if user.is_staff:
        return user.real_name or str(user.phone)
    return user.masked_name


def working_days_between(start: date, end: date) -> int:
    """Working days (Monday to Friday) after ``start`` up to and including ``end``. Public holidays are
    not known to the service: a wait over a holiday reads a little long, never short."""
    if end <= start:
        return 0
    days = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days += 1
    return days


@dataclass(frozen=True)
class Waiting:
    days: int  # calendar days since the application (age)
    working_days: int
    on_staff: bool  # False: the customer has the next step, or it is closed

    @property
    def late(self) -> bool:
        return self.on_staff and self.working_days > PROMISED_WORKING_DAYS


def waiting(application: NegotiationApplication, *, today: date | None = None) -> Waiting:
    today = today or timezone.localdate()
    submitted = timezone.localtime(application.created_at).date()
    return Waiting(
        days=(today - submitted).days,
        working_days=working_days_between(submitted, today),
        on_staff=application.state in WAITING_ON_STAFF,
    )


@dataclass(frozen=True)
class Payment:
    business_date: date
    label: str
    amount: Decimal  # negative for a reversal


@dataclass(frozen=True)
class NegotiationFacts:
    """Everything a reviewer or an approver weighs, computed once for the page."""

    application: NegotiationApplication
    customer_name: str
    customer_language: str
    declared_income: Decimal
    affordable_payment: Decimal | None
    overdue_amount: Decimal
    days_past_due: int
    bucket: str
    penalty_accrued: Decimal  # unpaid penalty on the open installments
    remaining: Decimal  # 剩余待还: every open amount
    payoff: Decimal  # 提前结清金额: what settles the plan today, under its prepayment policy
    end_date: date | None  # the plan's current last due date
    documents: list[NegotiationDocument]
    payments: list[Payment]
    contacts: list[ContactLog]
    waiting: Waiting
    plan_late_cost: LateCostDisclosure  # the plan as it stands: cap, penalty so far, the next installment
    offer_late_cost: LateCostDisclosure | None  # the offer on file, as the customer is shown it

    @property
    def promises(self) -> list[ContactLog]:
        return [c for c in self.contacts if c.promise_to_pay_date is not None]


def negotiation_facts(application: NegotiationApplication, *, today: date | None = None) -> NegotiationFacts:
    today = today or timezone.localdate()
    plan = application.plan
    rows = open_installments(plan.pk)
    overdue = sum((r.outstanding for r in rows if r.status == InstallmentStatus.OVERDUE), ZERO)
    penalty = sum((r.open("penalty") for r in rows), ZERO)
    entries = (
        JournalEntry.objects.filter(
            plan_id=plan.pk, kind__in=[EntryKind.REPAYMENT, EntryKind.REPAYMENT_REVERSED]
        )
        .annotate(amount=Sum("lines__debit"))
        .order_by("-business_date", "-id")[:20]
    )
    payments = [
        Payment(
            business_date=entry.business_date,
            label=str(EntryKind(entry.kind).label),
            amount=quantize_money(Decimal(str(entry.amount or 0)))
            * (-1 if entry.kind == EntryKind.REPAYMENT_REVERSED else 1),
        )
        for entry in entries
    ]
    customer = application.customer
    return NegotiationFacts(
        application=application,
        customer_name=customer.masked_name,
        customer_language=customer.get_language_display(),
        declared_income=application.declared_monthly_income,
        affordable_payment=application.affordable_monthly_payment,
        overdue_amount=quantize_money(overdue),
        days_past_due=plan.days_past_due,
        bucket=plan.delinquency_bucket,
        penalty_accrued=quantize_money(penalty),
        remaining=quantize_money(remaining_total(rows)),
        payoff=quantize_money(payable_total(plan_dues(plan, rows, today=today))),
        end_date=plan.installments.order_by("-sequence").values_list("due_date", flat=True).first(),
        documents=list(application.documents.all()),
        payments=payments,
        contacts=list(
            ContactLog.objects.filter(customer_id=customer.pk)
            .select_related("staff")
            .order_by("-created_at")[:20]
        ),
        waiting=waiting(application, today=today),
        plan_late_cost=plan_late_cost(plan),
        offer_late_cost=offer_late_cost(application),
    )


@dataclass(frozen=True)
class OfferOnFile:
    """A made offer as the approver reads it: the schedule it stands for and its share of the income."""

    maker: str
    rate: str
    schedule: Schedule | None
    income_share: Decimal | None  # percent


def offer_on_file(application: NegotiationApplication) -> OfferOnFile | None:
    if application.offer_tenor is None or application.offered_at is None:
        return None
    schedule = restage_schedule(
        principal=application.offer_principal,
        tenor=application.offer_tenor,
        fee_rate=application.offer_fee_rate or ZERO,
        start=timezone.localtime(application.offered_at).date(),
        first_due_date=application.offer_first_due_date,
    )
    income = application.declared_monthly_income
    share = (
        (application.offer_monthly_payment * 100 / income).quantize(Decimal("0.1")) if income > 0 else None
    )
    return OfferOnFile(
        maker=person_name(application.offered_by),
        rate=rate_percent(application.offer_fee_rate),
        schedule=schedule,
        income_share=share,
    )

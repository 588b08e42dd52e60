"""Reads of the support workspace's start page (the admin index for staff) and its customer search.

Each section of the start page is one selector here and one include under
templates/admin/support/start/, fed by a tag of ``repayments.templatetags.support``; sections built by
other parts of the workspace (collection cases, complaints, cure and promise-kept rates) plug in the same
way. Every selector is a fixed number of queries whatever the size of the queues, so the index stays fast.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit import action_label
from accounts.axes import normalise_login
from accounts.models import StaffAction, User
from installments.ledger import PAYABLE_PLAN_STATUSES
from installments.models import CreditEvent, DelinquencyBucket, InstallmentPlan, NegotiationApplication
from installments.models.negotiation import OPEN_NEGOTIATION_STATES, NegotiationState
from notifications.messages import NEGOTIATION_REPLY_WORKING_DAYS
from repayments.models import BankCard, DebitAttempt, DebitAttemptStatus, DebitRun, Repayment
from repayments.services import slots

# --- 协商 applications by state -----------------------------------------------------------------------

# Waiting on us: the SMS's promise ("we reply within 3 working days") runs until we ask for more
# information, make an offer or reject; an offer awaiting approval is still ours to answer.
WAITING_ON_US = (
    NegotiationState.SUBMITTED,
    NegotiationState.IN_REVIEW,
    NegotiationState.OFFER_PENDING_APPROVAL,
)


def add_working_days(start: date, days: int) -> date:
    """``start`` plus ``days`` working days (Monday to Friday). Public holidays are not known to the
    service; on a holiday week the page is early, never late."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def reply_promise_cutoff(now: datetime, days: int = NEGOTIATION_REPLY_WORKING_DAYS) -> datetime:
    """Applications submitted before this instant are past the SMS's promise: submitted on day D, the
    reply is due by the end of D + ``days`` working days (Asia/Shanghai)."""
    today = timezone.localdate(now)
    day = today
    while add_working_days(day, days) >= today:
        day -= timedelta(days=1)
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    count: int  # the team's
    mine: int  # assigned to the staff member asking
    oldest_at: datetime | None  # the team's oldest submission in this state
    now: datetime

    @property
    def oldest_days(self) -> int | None:
        return (self.now - self.oldest_at).days if self.oldest_at else None


@dataclass(frozen=True)
class ApplicationQueue:
    states: list[StateCount]
    promise_days: int
    past_promise: int  # the team's applications waiting on us past the SMS's promise
    past_promise_mine: int

    @property
    def team_total(self) -> int:
        return sum(s.count for s in self.states)

    @property
    def mine_total(self) -> int:
        return sum(s.mine for s in self.states)


def application_queue_counts(*, staff: User | None = None, now: datetime | None = None) -> ApplicationQueue:
    """Open 协商 applications by state, the team's and ``staff``'s (assigned to them), with the oldest
    submission of each and how many wait on us past the SMS's "3 working days". One query."""
    now = now or timezone.now()
    cutoff = reply_promise_cutoff(now)
    mine = Q(assigned_to=staff) if staff is not None else Q(pk__in=[])
    late = Q(state__in=WAITING_ON_US, created_at__lt=cutoff)
    rows: dict[str, dict[str, Any]] = {
        r["state"]: dict(r)
        for r in NegotiationApplication.objects.filter(state__in=OPEN_NEGOTIATION_STATES)
        .values("state")
        .annotate(
            n=Count("id"),
            oldest=Min("created_at"),
            mine_n=Count("id", filter=mine),
            late_n=Count("id", filter=late),
            late_mine_n=Count("id", filter=late & mine),
        )
        .order_by()
    }
    states = []
    for state in OPEN_NEGOTIATION_STATES:
        row = rows.get(state.value, {})
        states.append(
            StateCount(
                state.value, str(state.label), row.get("n", 0), row.get("mine_n", 0), row.get("oldest"), now
            )
        )
    return ApplicationQueue(
        states=states,
        promise_days=NEGOTIATION_REPLY_WORKING_DAYS,
        past_promise=sum(r.get("late_n", 0) for r in rows.values()),
        past_promise_mine=sum(r.get("late_mine_n", 0) for r in rows.values()),
    )


# --- today's debit slots --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotSummary:
    slot: int
    time: str  # "08:00"
    run: DebitRun | None  # None: the slot has not run yet today

    @property
    def finished(self) -> bool:
        return self.run is not None and self.run.finished_at is not None


def debit_slots_today(*, today: date | None = None) -> list[SlotSummary]:
    """Each of today's auto-debit slots (AUTODEBIT_SLOTS) with its run, if it has started. One query."""
    today = today or timezone.localdate()
    runs = {r.slot: r for r in DebitRun.objects.filter(business_date=today)}
    return [SlotSummary(i, t, runs.get(i)) for i, t in enumerate(slots(), start=1)]


# --- customer search -----------------------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_SHORT_REF = re.compile(r"^[0-9a-f]{8}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().+]")
_CARD_AND_NAME = re.compile(r"^(?:(\d{4})\s*(\D.*)|(\D.*?)\s*(\d{4}))$")


_MATCHED_WORDS = {
    "name": _("name"),
    "phone": _("phone number"),
    "plan": _("plan id"),
    "repayment": _("repayment id"),
    "card": _("card's last four digits and name"),
}


@dataclass(frozen=True)
class SearchHit:
    customer: User
    matched: str  # which key found them: "name", "phone", "plan", "repayment", "card"

    @property
    def matched_label(self) -> str:
        return str(_MATCHED_WORDS[self.matched])


def _normalise_query(text: str) -> str:
    """Full-width digits and letters (１３８, ＡＢ) become ASCII, as an agent may type them in a Chinese
    input method; runs of spaces become one."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def customer_search(query: str, *, limit: int = 20) -> list[SearchHit]:
    """One box: a name (or part of it), a phone number in any spelling (+86 138-0000-0001, 13800000001,
    full-width digits), a plan or repayment id (the full public id or its 8-character short ref), or a
    card's last four digits with the name ("1234 张"). Staff accounts are never found. At most one query
    per kind of key the text can be."""
    text = _normalise_query(query or "")
    if not text:
        return []
    customers = User.objects.filter(is_staff=False)
    hits: dict[int, SearchHit] = {}

    def add(found: QuerySet[User], matched: str) -> None:
        for customer in found.order_by("real_name", "pk")[:limit]:
            hits.setdefault(customer.pk, SearchHit(customer, matched))

    lowered = text.lower()
    if _UUID.match(lowered):
        public_id = uuid.UUID(lowered)
        plans = InstallmentPlan.objects.filter(public_id=public_id).values("customer_id")
        add(customers.filter(pk__in=plans), "plan")
        add(
            customers.filter(pk__in=Repayment.objects.filter(public_id=public_id).values("customer_id")),
            "repayment",
        )
        return list(hits.values())[:limit]
    if _SHORT_REF.match(lowered):
        plans = InstallmentPlan.objects.filter(public_id__endswith=lowered).values("customer_id")
        add(customers.filter(pk__in=plans), "plan")
        add(
            customers.filter(
                pk__in=Repayment.objects.filter(public_id__endswith=lowered).values("customer_id")
            ),
            "repayment",
        )
    card = _CARD_AND_NAME.match(text)
    if card:
        last4 = card.group(1) or card.group(4)
        name = (card.group(2) or card.group(3)).strip()
        cards = BankCard.objects.filter(last4=last4).values("customer_id")
        add(customers.filter(pk__in=cards, real_name__icontains=name), "card")
    digits = _PHONE_PUNCTUATION.sub("", text)
    if digits.isdigit() and len(digits) >= 7:
        phone = normalise_login(text)
        add(customers.filter(Q(phone=phone) | Q(phone__endswith=digits[-11:])), "phone")
    elif not digits.isdigit() and not card:
        add(customers.filter(real_name__icontains=text), "name")
    return list(hits.values())[:limit]


# --- the team's figures (leads) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    label: str
    total: int
    hits: int

    @property
    def percent(self) -> Decimal:
        if not self.total:
            return Decimal("0.0")
        return (Decimal(self.hits) * 100 / self.total).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class DebitSuccess:
    by_bank: list[Rate]
    by_slot: list[Rate]
    days: int


def debit_success(*, days: int = 30, today: date | None = None) -> DebitSuccess:
    """Auto-debit attempts with an answer (succeeded or failed; pending ones are left out) over the last
    ``days`` business dates, by the card's bank and by slot. Two queries."""
    today = today or timezone.localdate()
    answered = DebitAttempt.objects.filter(
        business_date__gt=today - timedelta(days=days),
        business_date__lte=today,
        status__in=(DebitAttemptStatus.SUCCEEDED, DebitAttemptStatus.FAILED),
    )
    ok = Count("id", filter=Q(status=DebitAttemptStatus.SUCCEEDED))
    by_bank = [
        Rate(r["card__bank_name"] or "-", r["total"], r["ok"])
        for r in answered.values("card__bank_name").annotate(total=Count("id"), ok=ok).order_by("-total")
    ]
    times = slots()
    by_slot = [
        Rate(
            times[r["run__slot"] - 1] if 0 < r["run__slot"] <= len(times) else str(r["run__slot"]),
            r["total"],
            r["ok"],
        )
        for r in answered.values("run__slot").annotate(total=Count("id"), ok=ok).order_by("run__slot")
    ]
    return DebitSuccess(by_bank=by_bank, by_slot=by_slot, days=days)


_BUCKET_ORDER = [
    DelinquencyBucket.M0,
    DelinquencyBucket.M1,
    DelinquencyBucket.M2,
    DelinquencyBucket.M3,
    DelinquencyBucket.M3_PLUS,
]
_RANK = {b.value: i for i, b in enumerate(_BUCKET_ORDER)}


@dataclass(frozen=True)
class RollRate:
    source: str  # "M0"
    target: str  # "M1"
    cohort: int  # plans in ``source`` on the window's first day
    rolled: int  # of them, reached ``target`` or worse within the window

    @property
    def percent(self) -> Decimal:
        return Rate("", self.cohort, self.rolled).percent


@dataclass(frozen=True)
class RollRates:
    start: date
    end: date
    rates: list[RollRate] = field(default_factory=list)


def roll_rates(*, days: int = 30, today: date | None = None) -> RollRates:
    """Roll rates M0→M1, M1→M2, M2→M3 over the last ``days`` days, from the credit events (信用记录).

    Definition: the cohort of bucket Mk is the plans in Mk on the window's first day (``start`` = today −
    ``days``): the bucket the plan's last credit event on or before ``start`` left it in, M0 when it had
    none; M0 counts only plans being paid then (created by ``start``, and still being paid or closed
    after it). A plan rolled when a credit event in (start, today] took it to Mk+1 or worse. With 30-day
    buckets, a plan can move at most one bucket in 30 days, so this is the classic month-on-month roll.
    Three queries; the credit events are one row per plan, kind and day.
    """
    today = today or timezone.localdate()
    start = today - timedelta(days=days)
    # Each plan's last event on or before ``start``: a correlated subquery, not DISTINCT ON, so the demo's
    # SQLite answers the same as PostgreSQL.
    last_by_start = (
        CreditEvent.objects.filter(plan_id=OuterRef("plan_id"), business_date__lte=start)
        .order_by("-business_date", "-id")
        .values("id")[:1]
    )
    at_start = dict(
        CreditEvent.objects.filter(business_date__lte=start, id=Subquery(last_by_start)).values_list(
            "plan_id", "to_bucket"
        )
    )
    worst: dict[int, int] = {}
    for plan_id, bucket in CreditEvent.objects.filter(
        business_date__gt=start, business_date__lte=today
    ).values_list("plan_id", "to_bucket"):
        worst[plan_id] = max(worst.get(plan_id, 0), _RANK.get(bucket, 0))
    cohorts: dict[int, set[int]] = {i: set() for i in range(len(_BUCKET_ORDER))}
    for plan_id, bucket in at_start.items():
        cohorts[_RANK.get(bucket, 0)].add(plan_id)
    started = timezone.make_aware(datetime.combine(start + timedelta(days=1), time.min))
    current = InstallmentPlan.objects.filter(created_at__lt=started).filter(
        Q(status__in=PAYABLE_PLAN_STATUSES) | Q(updated_at__gte=started)
    )
    for plan_id in current.values_list("pk", flat=True):
        if plan_id not in at_start:
            cohorts[0].add(plan_id)
    rates = []
    for rank in range(3):
        cohort = cohorts[rank]
        rolled = sum(1 for p in cohort if worst.get(p, -1) >= rank + 1)
        rates.append(RollRate(_BUCKET_ORDER[rank].value, _BUCKET_ORDER[rank + 1].value, len(cohort), rolled))
    return RollRates(start=start, end=today, rates=rates)


# --- the 360's audit tab --------------------------------------------------------------------------------

_DETAIL_WORDS = {
    "field": _("what"),
    "account_phone": _("the account's phone number"),
    "masked": _("number"),
}


@dataclass(frozen=True)
class AuditRow:
    created_at: datetime
    staff: User
    action: str
    label: str
    detail_text: str


def _detail_text(detail: dict[str, Any]) -> str:
    parts = []
    for key, value in detail.items():
        word = _DETAIL_WORDS.get(key, key)
        shown = _DETAIL_WORDS.get(value, value) if isinstance(value, str) else value
        parts.append(f"{word}: {shown}")
    return "; ".join(parts)


def customer_audit(*, customer: User, limit: int = 200) -> list[AuditRow]:
    """The staff actions about one customer, newest first, in words (``accounts.audit.action_label``):
    what the customer is told when they ask who saw their number. One query."""
    return [
        AuditRow(a.created_at, a.staff, a.action, action_label(a.action), _detail_text(a.detail))
        for a in StaffAction.objects.filter(customer=customer)
        .select_related("staff")
        .order_by("-created_at", "-id")[:limit]
    ]

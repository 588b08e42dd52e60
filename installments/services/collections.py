"""Collection cases (催收案件) and promises to pay (承诺还款): what staff do to a case, and the daily check
of the promises. The overdue sweep opens, refreshes and closes the cases themselves (``sweep.py``).

A promise is checked against the journal, not the repayments table (which belongs to the layer above):
the money a plan received is what its repayment entries booked into cash or bank clearing, less what
they owe back as an excess, less their reversals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import staff_action_record
from accounts.models import User
from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money import ZERO, quantize_money
from core.money_input import parse_money
from installments.errors import InstallmentsError
from installments.ledger import OPEN_STATUSES
from installments.models import (
    OPEN_CASE_STATUSES,
    Account,
    CaseStatus,
    CollectionCase,
    ContactChannel,
    ContactOutcome,
    EntryKind,
    Installment,
    InstallmentPlan,
    JournalLine,
    PromiseStatus,
    PromiseToPay,
)
from installments.services.contact import contact_allowed, contact_refused, gate_channel
from installments.services.negotiation import contact_log_create

RECORD_PERMISSION = "installments.add_promisetopay"
# Past ``PTP_BROKEN_IN_A_ROW_LIMIT`` broken promises in a row, only this permission (approver, lead) records
# another: a customer who keeps promising and not paying needs a decision, not a fourth promise.
AFTER_BROKEN_PERMISSION = "installments.record_promise_after_broken"
REASSIGN_PERMISSION = "installments.reassign_case"
WORK_PERMISSION = "installments.change_collectioncase"

MONEY = DecimalField(max_digits=16, decimal_places=2)
# The accounts a repayment's money comes in through, and the one holding what it owes back (an excess).
_MONEY_IN_ACCOUNTS = (Account.CASH, Account.BANK_CLEARING, Account.REFUNDS_PAYABLE)


def _require(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("You do not have permission to do this."))


def _open_case(case_or_plan: CollectionCase | InstallmentPlan) -> CollectionCase:
    """The case row, locked: the promise and the case's status change together."""
    cases = CollectionCase.objects.select_for_update()
    if isinstance(case_or_plan, InstallmentPlan):
        case = cases.filter(plan=case_or_plan, closed_at__isnull=True).first()
        if case is None:
            raise ApplicationError(
                InstallmentsError.CASE_NOT_FOUND, _("This plan has no open collection case.")
            )
        return case
    case = cases.get(pk=case_or_plan.pk)
    if case.closed_at is not None:
        raise ApplicationError(InstallmentsError.CASE_CLOSED, _("This collection case is resolved."))
    return case


def promise_ceiling(plan: InstallmentPlan, *, by: date) -> Decimal:
    """The most a promise may be for: what is overdue plus what falls due by the promised date."""
    total = Installment.objects.filter(plan=plan, status__in=OPEN_STATUSES, due_date__lte=by).aggregate(
        total=Sum(Installment.open_amount())
    )["total"]
    return quantize_money(total or ZERO)


def broken_in_a_row(plan: InstallmentPlan) -> int:
    """How many of the plan's latest decided promises were broken, counting back to the last kept one."""
    count = 0
    decided = PromiseToPay.objects.filter(case__plan=plan).exclude(status=PromiseStatus.OPEN)
    for status in decided.order_by("-created_at", "-id").values_list("status", flat=True)[:20]:
        if status != PromiseStatus.BROKEN:
            break
        count += 1
    return count


def promise_to_pay_record(
    *,
    staff: User,
    case: CollectionCase | InstallmentPlan,
    amount: Decimal | str,
    promised_date: date,
    note: str = "",
    channel: str = ContactChannel.CALL_OUT,
) -> PromiseToPay:
    """Record a customer's promise on a case (or a plan's open case): the case turns to "promise to pay"
    with its next action on the promised date; the call goes in the contact log with the same figures; the
    customer's audit trail gets ``promise_recorded``."""
    _require(staff, RECORD_PERMISSION)
    today = timezone.localdate()
    latest = today + timedelta(days=settings.PTP_MAX_DAYS)
    # The call that took the promise is a contact like any other: the gate decides first, outside the
    # transaction, so its refusal is stored even though nothing else is (contact_log_create asks again
    # under the customer's lock and is the one writer of the contact log).
    customer = case.customer
    gated = gate_channel(channel)
    if gated:
        decision = contact_allowed(customer=customer, channel=gated, staff=staff, source="promise_to_pay")
        if not decision.allowed:
            raise contact_refused(customer, decision)
    with transaction.atomic():
        locked = _open_case(case)
        plan = locked.plan
        errors: dict[str, str] = {}
        value = parse_money(amount, field="amount")
        if not today <= promised_date <= latest:
            errors["promised_date"] = _("Choose a date from %(first)s to %(last)s.") % {
                "first": today.isoformat(),
                "last": latest.isoformat(),
            }
        ceiling = promise_ceiling(plan, by=max(promised_date, today))
        if value <= 0:
            errors["amount"] = _("The amount must be more than zero.")
        elif value > ceiling:
            errors["amount"] = _("At most ¥%(ceiling)s: what is overdue and falls due by that date.") % {
                "ceiling": f"{ceiling:,.2f}"
            }
        if locked.promises.filter(status=PromiseStatus.OPEN).exists():
            errors["promised_date"] = _("A promise on this case is still awaiting payment.")
        if errors:
            raise ApplicationError(
                InstallmentsError.INVALID_PROMISE, _("Please correct the marked fields."), fields=errors
            )
        limit = settings.PTP_BROKEN_IN_A_ROW_LIMIT
        if broken_in_a_row(plan) >= limit and not staff.has_perm(AFTER_BROKEN_PERMISSION):
            raise ApplicationError(
                InstallmentsError.PROMISES_BROKEN_IN_A_ROW,
                _("%(count)s promises in a row were broken: an approver or a team lead records the next one.")
                % {"count": limit},
            )
        value = quantize_money(value)
        contact = contact_log_create(
            staff=staff,
            customer=customer,
            channel=channel,
            outcome=ContactOutcome.PROMISE_TO_PAY,
            promise_to_pay_date=promised_date,
            promise_amount=value,
            notes=note,
        )
        promise = PromiseToPay.objects.create(
            case=locked,
            customer_id=locked.customer_id,
            amount=value,
            bucket=locked.bucket,
            promised_date=promised_date,
            note=(note or "").strip(),
            staff=staff,
            contact=contact,
            created_at=timezone.now(),
        )
        locked.status = CaseStatus.PROMISE_TO_PAY
        locked.next_action_date = promised_date
        locked.save(update_fields=["status", "next_action_date"])
        staff_action_record(
            staff=staff,
            customer=plan.customer,
            action="promise_recorded",
            detail={
                "plan": str(plan.public_id),
                "case": locked.pk,
                "amount": str(value),
                "promised_date": promised_date.isoformat(),
            },
        )
    return promise


def case_follow_up(*, staff: User, case: CollectionCase, next_action_date: date) -> CollectionCase:
    """Staff worked a case and say when to come back to it: the case is in progress (a promise to pay or
    a hardship case keeps its status), theirs if nobody had it, next due on ``next_action_date`` (today up
    to ``CASE_FOLLOW_UP_MAX_DAYS`` ahead)."""
    _require(staff, WORK_PERMISSION)
    today = timezone.localdate()
    latest = today + timedelta(days=settings.CASE_FOLLOW_UP_MAX_DAYS)
    if not today <= next_action_date <= latest:
        raise ApplicationError(
            InstallmentsError.INVALID_FOLLOW_UP,
            _("Please correct the marked fields."),
            fields={
                "next_action_date": _("Choose a date from %(first)s to %(last)s.")
                % {"first": today.isoformat(), "last": latest.isoformat()}
            },
        )
    with transaction.atomic():
        locked = _open_case(case)
        if locked.status in (CaseStatus.OPEN, CaseStatus.BROKEN_PROMISE):
            locked.status = CaseStatus.IN_PROGRESS
        if locked.assignee_id is None:
            locked.assignee = staff
        locked.next_action_date = next_action_date
        locked.save(update_fields=["status", "assignee", "next_action_date"])
    return locked


def cases_reassign(*, staff: User, cases: QuerySet[CollectionCase], assignee: User) -> int:
    """A lead moves open cases to another staff member in one UPDATE; resolved cases stay as they were."""
    _require(staff, REASSIGN_PERMISSION)
    if not (assignee.is_active and assignee.is_staff):
        raise ApplicationError(CommonError.PERMISSION_DENIED, _("Cases go to active staff only."))
    return cases.filter(status__in=OPEN_CASE_STATUSES).update(assignee=assignee)


# --- the daily check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromisesChecked:
    kept: int = 0
    broken: int = 0

    def __str__(self) -> str:
        return f"{self.kept} promises kept, {self.broken} broken"


def _paid_since_promise() -> Subquery:
    """Money the promise's plan received after the promise was made, booked by the promised date plus one
    day of grace: the repayment entries' cash and bank-clearing debits less any excess owed back, net of
    reversals (a reversal books the opposite lines, so one signed sum covers both)."""
    lines = (
        JournalLine.objects.filter(
            plan_id=OuterRef("case__plan_id"),
            account__in=_MONEY_IN_ACCOUNTS,
            entry__kind__in=(EntryKind.REPAYMENT, EntryKind.REPAYMENT_REVERSED),
            entry__created_at__gte=OuterRef("created_at"),
            business_date__lte=OuterRef("promised_date") + timedelta(days=1),
        )
        .values("plan_id")
        .annotate(total=Sum(F("debit") - F("credit")))
        .values("total")
    )
    return Subquery(lines, output_field=MONEY)


def promises_check(*, today: date) -> PromisesChecked:
    """The daily run's promise step, for business date ``today``: a promise whose plan has received its
    amount since it was made (by the promised date + 1 day) is kept; one still short after that day is
    broken, and its case comes back to the top of the queue (broken promise, next action today). A kept
    promise leaves its case in progress with the next action today, if the sweep has not closed it.
    Four set-based statements; idempotent (a decided promise is not looked at again)."""
    now = timezone.now()
    open_promises = PromiseToPay.objects.filter(status=PromiseStatus.OPEN)
    with transaction.atomic():
        kept_ids = (
            open_promises.annotate(paid=Coalesce(_paid_since_promise(), Value(ZERO), output_field=MONEY))
            .filter(paid__gte=F("amount"))
            .values("pk")
        )
        kept = PromiseToPay.objects.filter(pk__in=kept_ids).update(status=PromiseStatus.KEPT, checked_at=now)
        broken = open_promises.filter(promised_date__lt=today - timedelta(days=1)).update(
            status=PromiseStatus.BROKEN, checked_at=now
        )
        this_run = CollectionCase.objects.filter(closed_at__isnull=True, promises__checked_at=now)
        this_run.filter(promises__status=PromiseStatus.BROKEN).exclude(status=CaseStatus.HARDSHIP).update(
            status=CaseStatus.BROKEN_PROMISE, next_action_date=today
        )
        this_run.filter(promises__status=PromiseStatus.KEPT, status=CaseStatus.PROMISE_TO_PAY).update(
            status=CaseStatus.IN_PROGRESS, next_action_date=today
        )
    return PromisesChecked(kept=kept, broken=broken)

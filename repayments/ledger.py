"""The ledger's invariants, checked over the whole database (``manage.py check_ledger``).

The database constraints refuse a bad row; these checks catch what no single row can show: money that
does not add up across tables. Each check is one aggregate query, so it runs in seconds on millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from core.money import ZERO, quantize_money
from installments import cost
from installments.journal import journal_breaches
from installments.ledger import OPEN_STATUSES
from installments.models import (
    Account,
    CreditEvent,
    CreditEventKind,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    JournalLine,
    PlanStatus,
)
from repayments.gateway import ChargeBook, get_gateway
from repayments.models import (
    Allocation,
    DebitAttempt,
    DebitAttemptStatus,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentStatus,
)

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _q(value: object) -> Decimal:
    return quantize_money(Decimal(str(value)))


def _differing(queryset: QuerySet, condition: Q, pairs: list[tuple[str, str]]) -> Iterator:
    """Rows whose paired values differ. In SQL on PostgreSQL, where numeric sums are exact; in Python
    elsewhere, because SQLite sums decimals as floats (0.01 + 2.01 != 2.02 there)."""
    if connection.vendor == "postgresql":
        return queryset.filter(condition).iterator()
    return (
        row
        for row in queryset.iterator()
        if any(_q(getattr(row, a)) != _q(getattr(row, b)) for a, b in pairs)
    )


def ledger_breaches() -> Iterator[str]:
    yield from _repayments_match_allocations()
    yield from _installments_match_allocations()
    yield from _installment_status()
    yield from _plan_totals()
    yield from _restaged_balances()
    yield from journal_breaches()
    yield from _charge_offs()
    yield from _fair_cost()
    gateway = get_gateway()
    if isinstance(gateway, ChargeBook):  # a bank whose books we can read whole (the simulated one)
        yield from _gateway_charges_have_repayments(gateway)


def _owed_by_repayment() -> dict[int, Decimal]:
    """What each repayment's settle said it owes back (``excess_owed``): usually nothing."""
    owed: dict[int, Decimal] = {}
    for repayment_id, data in RepaymentEvent.objects.filter(kind="excess_owed").values_list(
        "repayment_id", "data"
    ):
        owed[repayment_id] = owed.get(repayment_id, ZERO) + _q(data["amount"])
    return owed


def _repayments_match_allocations() -> Iterator[str]:
    allocated = (
        Allocation.objects.filter(repayment=OuterRef("pk"), waived=False)
        .values("repayment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = Repayment.objects.filter(
        status__in=[RepaymentStatus.SUCCEEDED, RepaymentStatus.REVERSED]
    ).annotate(
        allocated=Coalesce(Subquery(allocated, output_field=MONEY), Value(ZERO), output_field=MONEY),
    )
    owed = _owed_by_repayment()
    for r in _differing(rows, ~Q(allocated=F("amount")), [("allocated", "amount")]):
        if _q(r.allocated) + owed.get(r.pk, ZERO) == _q(r.amount):
            continue  # what no installment took is owed back to the card (and refunded or being retried)
        yield f"repayment {r.public_id}: amount {r.amount} but allocations sum to {r.allocated}"
    for r in Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED, gateway_reference="").iterator():
        yield f"repayment {r.public_id}: succeeded without a gateway reference"
    for r in (
        Repayment.objects.exclude(status__in=[RepaymentStatus.SUCCEEDED, RepaymentStatus.REVERSED])
        .filter(allocations__isnull=False)
        .distinct()
        .iterator()
    ):
        yield f"repayment {r.public_id}: {r.status} but has allocations"


def _installments_match_allocations() -> Iterator[str]:
    live = Q(allocations__repayment__status=RepaymentStatus.SUCCEEDED)
    annotations = {}
    for component in ("principal", "fee", "penalty"):
        annotations[f"alloc_{component}"] = Coalesce(
            Sum(
                "allocations__amount",
                filter=live & Q(allocations__component=component, allocations__waived=False),
            ),
            Value(ZERO),
            output_field=MONEY,
        )
    rows = _differing(
        Installment.objects.annotate(**annotations),
        ~Q(principal_paid=F("alloc_principal"))
        | ~Q(fee_paid=F("alloc_fee"))
        | ~Q(penalty_paid=F("alloc_penalty")),
        [("principal_paid", "alloc_principal"), ("fee_paid", "alloc_fee"), ("penalty_paid", "alloc_penalty")],
    )
    for i in rows:
        yield (
            f"installment {i.plan_id}#{i.sequence}: paid principal/fee/penalty "
            f"{i.principal_paid}/{i.fee_paid}/{i.penalty_paid} but allocations say "
            f"{i.alloc_principal}/{i.alloc_fee}/{i.alloc_penalty}"
        )
    over = Installment.objects.filter(
        Q(principal_paid__gt=F("principal_due") - F("principal_waived"))
        | Q(fee_paid__gt=F("fee_due") - F("fee_waived"))
        | Q(penalty_paid__gt=F("penalty_due") - F("penalty_waived"))
    )
    for i in over.iterator():
        yield f"installment {i.plan_id}#{i.sequence}: paid above due"


def _installment_status() -> Iterator[str]:
    # Not named open_amount: that is the model's method giving the expression.
    annotated = Installment.objects.annotate(amount_open=Installment.open_amount())
    if connection.vendor == "postgresql":
        rows = annotated.filter(
            Q(status=InstallmentStatus.PAID, amount_open__gt=0) | Q(status__in=OPEN_STATUSES, amount_open=0)
        ).iterator()
    else:
        rows = (
            i
            for i in annotated.iterator()
            if (i.status == InstallmentStatus.PAID and _q(i.amount_open) > 0)
            or (i.status in OPEN_STATUSES and _q(i.amount_open) == 0)
        )
    for i in rows:
        yield f"installment {i.plan_id}#{i.sequence}: status {i.status} with {_q(i.amount_open)} open"
    paid_off_with_open = InstallmentPlan.objects.filter(
        status=PlanStatus.PAID_OFF, installments__status__in=OPEN_STATUSES
    ).distinct()
    for p in paid_off_with_open.iterator():
        yield f"plan {p.public_id}: paid off with open installments"


def _plan_totals() -> Iterator[str]:
    plans = InstallmentPlan.objects.annotate(
        principal_sum=Coalesce(Sum("installments__principal_due"), Value(ZERO), output_field=MONEY),
        fee_sum=Coalesce(Sum("installments__fee_due"), Value(ZERO), output_field=MONEY),
        count=Count("installments"),
    )
    rows = _differing(
        plans,
        ~Q(principal_sum=F("principal")) | ~Q(fee_sum=F("total_fee")) | ~Q(count=F("tenor")),
        [("principal_sum", "principal"), ("fee_sum", "total_fee"), ("count", "tenor")],
    )
    for p in rows:
        yield (
            f"plan {p.public_id}: principal {p.principal} / fee {p.total_fee} / tenor {p.tenor} "
            f"but installments sum to {p.principal_sum} / {p.fee_sum} / {p.count}"
        )


def _restaged_balances() -> Iterator[str]:
    """Re-staging moves money, never makes or loses it: what a restructured plan left open on its
    installments is exactly the principal of the one plan that took it over."""
    open_amount = Installment.open_amount()
    left_open = (
        Installment.objects.filter(plan=OuterRef("pk"), status=InstallmentStatus.RESTRUCTURED)
        .values("plan")
        .annotate(total=Sum(open_amount))
        .values("total")
    )
    taken = (
        InstallmentPlan.objects.filter(source_plan=OuterRef("pk"))
        .values("source_plan")
        .annotate(total=Sum("principal"), n=Count("id"))
    )
    plans = InstallmentPlan.objects.filter(status=PlanStatus.RESTRUCTURED).annotate(
        left_open=Coalesce(Subquery(left_open, output_field=MONEY), Value(ZERO), output_field=MONEY),
        taken=Coalesce(Subquery(taken.values("total"), output_field=MONEY), Value(ZERO), output_field=MONEY),
        successors=Coalesce(Subquery(taken.values("n")), Value(0)),
    )
    for p in plans.iterator():
        if p.successors != 1:
            yield f"plan {p.public_id}: restructured with {p.successors} successor plans"
        elif _q(p.left_open) != _q(p.taken):
            yield f"plan {p.public_id}: left {_q(p.left_open)} open but its successor took {_q(p.taken)}"


def _charge_offs() -> Iterator[str]:
    """核销: a charged-off plan still owes something (else it is paid off) and has its ``charged_off`` credit
    event on its charge-off date; a charge-off date is only on a plan charged off or paid off after it
    (an undo clears it). The database already refuses a charged-off plan without the date."""
    has_event = CreditEvent.objects.filter(
        plan=OuterRef("pk"), kind=CreditEventKind.CHARGED_OFF, business_date=OuterRef("charged_off_on")
    )
    owes = Installment.objects.filter(plan=OuterRef("pk"), status__in=OPEN_STATUSES)
    charged_off = InstallmentPlan.objects.filter(status=PlanStatus.CHARGED_OFF)
    for p in charged_off.filter(~Exists(has_event)).iterator():
        yield f"plan {p.public_id}: charged off on {p.charged_off_on} without a charged_off credit event"
    for p in charged_off.filter(~Exists(owes)).iterator():
        yield f"plan {p.public_id}: charged off with nothing open (should be paid off)"
    stray = InstallmentPlan.objects.filter(charged_off_on__isnull=False).exclude(
        status__in=[PlanStatus.CHARGED_OFF, PlanStatus.PAID_OFF]
    )
    for p in stray.iterator():
        yield f"plan {p.public_id}: {p.status} with a charge-off date {p.charged_off_on}"


def _fair_cost() -> Iterator[str]:
    """The penalty cap and the all-in cost ceiling (README "Fair cost"): no plan's penalty passes its cap;
    the plan's running total is what its installments were charged (waivers do not lower either); a plan
    charged any penalty keeps a room under its ceiling at or above zero; and the plan's realised dated
    cost, recomputed from its schedule and the journal's penalties on their accrual dates, stays at or
    under the ceiling (``cost.ceiling_headroom`` >= 0). The last is Python over the plans with a penalty,
    in chunks of two queries."""
    for p in InstallmentPlan.objects.filter(penalty_total__gt=F("penalty_cap_amount")).iterator():
        yield f"plan {p.public_id}: penalty charged {p.penalty_total} is over its cap {p.penalty_cap_amount}"
    plans = InstallmentPlan.objects.annotate(
        charged=Coalesce(Sum("installments__penalty_due"), Value(ZERO), output_field=MONEY)
    )
    for p in _differing(plans, ~Q(penalty_total=F("charged")), [("penalty_total", "charged")]):
        yield f"plan {p.public_id}: penalty total {p.penalty_total}, its installments' {p.charged}"
    for p in InstallmentPlan.objects.filter(penalty_total__gt=0, ceiling_headroom__lt=0).iterator():
        yield f"plan {p.public_id}: charged penalty with room {p.ceiling_headroom} under its cost ceiling"
    yield from _realised_cost()


def _realised_cost(chunk: int = 2000) -> Iterator[str]:
    charged = InstallmentPlan.objects.filter(penalty_total__gt=0).order_by("id")
    terms = charged.values_list("id", "public_id", "principal", "purchase_date", "max_all_in_apr_percent")
    rows = list(terms)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        ids = [row[0] for row in part]
        flows: dict[int, list[tuple[date, Decimal]]] = {pk: [] for pk in ids}
        for plan_id, due, principal, fee in Installment.objects.filter(plan_id__in=ids).values_list(
            "plan_id", "due_date", "principal_due", "fee_due"
        ):
            flows[plan_id].append((due, _q(principal) + _q(fee)))
        penalties = (
            JournalLine.objects.filter(
                plan_id__in=ids, entry__kind=EntryKind.PENALTY_ACCRUED, account=Account.PENALTY_RECEIVABLE
            )
            .values_list("plan_id", "business_date")
            .annotate(amount=Sum("debit"))
        )
        for plan_id, on, amount in penalties:
            if _q(amount):
                flows[plan_id].append((on, _q(amount)))
        for plan_id, public_id, principal, purchase_date, ceiling in part:
            headroom = cost.ceiling_headroom(
                principal=_q(principal),
                purchase_date=purchase_date,
                flows=flows[plan_id],
                apr_percent=Decimal(str(ceiling)),
            )
            if headroom < 0:
                yield (
                    f"plan {public_id}: its dated cost with penalties is over its {ceiling}% ceiling "
                    f"(present value {-headroom} above the principal)"
                )


def _gateway_charges_have_repayments(bank: ChargeBook) -> Iterator[str]:
    """The bank versus our books, charge by charge (``bank.succeeded_charges`` is the bank's own record):
    what the bank kept of each charge (charged minus refunded) is what its repayment applied to
    installments plus what we still owe back; a reversed repayment kept nothing; every succeeded bank
    charge has a repayment that is not failed, cancelled or scheduled; every succeeded card repayment has
    its succeeded bank charge; and no installment has two succeeded auto-debits on one date."""
    prefix = "repayment:"
    keys = {c.idempotency_key[len(prefix) :]: c for c in bank.succeeded_charges(key_prefix=prefix)}
    known = {
        str(public_id): (pk, status, _q(amount))
        for pk, public_id, status, amount in Repayment.objects.filter(public_id__in=list(keys)).values_list(
            "pk", "public_id", "status", "amount"
        )
    }
    applied = dict(
        Allocation.objects.filter(waived=False, repayment__status=RepaymentStatus.SUCCEEDED)
        .values_list("repayment_id")
        .annotate(total=Sum("amount"))
    )
    owed = _owed_by_repayment()
    refunded_by_us: dict[int, Decimal] = {}
    for repayment_id, data in RepaymentEvent.objects.filter(kind="excess_refunded").values_list(
        "repayment_id", "data"
    ):
        refunded_by_us[repayment_id] = refunded_by_us.get(repayment_id, ZERO) + _q(data["amount"])
    for public_id, charge in keys.items():
        kept = _q(charge.amount) - _q(charge.refunded)
        repayment = known.get(public_id)
        if repayment is None:
            yield f"gateway charge {charge.reference}: {charge.amount} charged with no repayment"
            continue
        pk, status, _amount = repayment
        if status in (RepaymentStatus.FAILED, RepaymentStatus.CANCELLED, RepaymentStatus.SCHEDULED):
            yield f"gateway charge {charge.reference}: charged but repayment {public_id} is {status}"
        elif status == RepaymentStatus.REVERSED and kept != ZERO:
            yield f"gateway charge {charge.reference}: repayment {public_id} reversed, the bank kept {kept}"
        elif status == RepaymentStatus.SUCCEEDED:
            books = _q(applied.get(pk, ZERO)) + owed.get(pk, ZERO) - refunded_by_us.get(pk, ZERO)
            if kept != books:
                yield (
                    f"gateway charge {charge.reference}: the bank kept {kept} but repayment {public_id} "
                    f"applied {_q(applied.get(pk, ZERO))} and owes {books - _q(applied.get(pk, ZERO))}"
                )
    card_paid = Repayment.objects.filter(status=RepaymentStatus.SUCCEEDED).exclude(
        channel=RepaymentChannel.STAFF
    )
    for paid_id, amount in card_paid.values_list("public_id", "amount").iterator():
        bank_charge = keys.get(str(paid_id))
        if bank_charge is None:
            yield f"repayment {paid_id}: succeeded with no succeeded bank charge"
        elif _q(bank_charge.amount) != _q(amount):
            yield f"repayment {paid_id}: {amount} but the bank charged {bank_charge.amount}"
    twice = (
        DebitAttempt.objects.filter(status=DebitAttemptStatus.SUCCEEDED)
        .values("installment_id", "business_date")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in twice:
        yield (
            f"installment {row['installment_id']}: {row['n']} succeeded auto-debits on {row['business_date']}"
        )

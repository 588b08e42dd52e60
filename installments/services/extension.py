"""延期还款 (extension): the customer moves the next unpaid installment's due date a few days, by themselves.

The rules, each a refusal reason with a stable code (``extension_refusals``, listed all at once like
re-staging's):

* only an active or overdue plan (``plan_not_active``), with something left to pay (``nothing_to_extend``);
* never on a plan with any installment past its due date + grace days with money open beyond the arrears
  tolerance (``overdue_beyond_grace``), and only until the next unpaid installment's due date + grace days
  (``extension_too_late``);
* at most ``plan.extension_max`` times per plan (``extension_limit_reached``; ``extension_not_offered`` when
  the plan's terms allow none).

A quote (``extension_quote``) moves that installment by 1 to ``product.extension_max_days`` days (never to a
date before today, never onto or past the next installment's due date: ``extension_days_out_of_range``,
with the range), adds the fee ``product.extension_fee_rate`` x its principal, and re-quotes the plan's APR
over its dated flows (``cost.dated_apr_percent``). It is refused when that APR passes the product's
maximum (``apr_above_maximum``) or the plan's room under its all-in cost ceiling (schedule and penalties so
far, ``cost.ceiling_headroom``) would fall below zero (``above_cost_ceiling``); a move that only lowers the
cost (no fee) is never refused for a cost the plan already had.

``extension_apply`` spends the SMS code (purpose ``extension``), then under the plan's lock re-checks
everything and calls ``ledger.reschedule`` between ``plan_changing`` and ``plan_changed`` (kind
``extension``): ``repayments`` refuses while a charge is in flight and moves a payment scheduled for the old
due date to the new one. The customer's idempotency key is kept on the ``PlanExtension`` row: the same key
answers the first result again, so a retry or a double click never extends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.errors import AccountsError
from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.errors import ApplicationError
from core.money import quantize_money
from installments import cost, journal
from installments.errors import InstallmentsError
from installments.ledger import (
    PAYABLE_PLAN_STATUSES,
    InstallmentRow,
    Move,
    Source,
    installment_rows,
    lock_plan,
    owing,
    reschedule,
)
from installments.models import (
    ZERO,
    CreditEventKind,
    InstallmentPlan,
    PlanExtension,
)
from installments.services.restaging import Refusal
from installments.signals import EXTENSION, plan_changed, plan_changing
from notifications.services import notification_create

KEY_MAX_LENGTH = 100


class ExtensionRefused(ApplicationError):
    """``extension_not_allowed``, with every reason the plan cannot be extended today: the API's body
    carries them as ``reasons`` (``[{"code", "message"}]``), the first one's words are the message."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__(InstallmentsError.EXTENSION_NOT_ALLOWED, refusals[0].message)
        self.refusals = refusals

    def as_dict(self) -> dict[str, object]:
        return {
            **super().as_dict(),
            "reasons": [{"code": str(r.code), "message": str(r.message)} for r in self.refusals],
        }


@dataclass(frozen=True)
class NextAmount:
    """One open installment as it stands after the extension (what the quote page lists)."""

    sequence: int
    due_date: date
    amount: Decimal
    moved: bool


@dataclass(frozen=True)
class ExtensionQuote:
    """What extending by ``days`` does; writes nothing."""

    plan: InstallmentPlan
    installment_id: int
    sequence: int
    days: int
    min_days: int
    max_days: int
    old_due_date: date
    new_due_date: date
    fee: Decimal
    amount_due: Decimal  # what the moved installment asks on its new date, the fee included
    apr_before: Decimal  # the plan's APR over its dated flows before the move
    apr_percent: Decimal  # and after it
    max_apr_percent: Decimal
    headroom: Decimal  # the room left under the all-in cost ceiling (present value, yuan)
    next_amounts: tuple[NextAmount, ...]


# --- reads ---------------------------------------------------------------------------------------------


def _rows(plan: InstallmentPlan) -> list[InstallmentRow]:
    return installment_rows([plan.pk]).get(plan.pk, [])


def _next_unpaid(installments: list[InstallmentRow]) -> InstallmentRow | None:
    open_rows = owing(sorted(installments, key=lambda i: i.sequence))
    return open_rows[0] if open_rows else None


def _date(value: date) -> str:
    return str(formats.date_format(value, "DATE_FORMAT"))


def extension_refusals(
    plan: InstallmentPlan, *, today: date | None = None, installments: list[InstallmentRow] | None = None
) -> list[Refusal]:
    """Every reason this plan cannot be extended by its customer today; empty when it can.
    ``installments`` are the plan's rows (all of them, as ``lock_plan`` returns them), read when omitted."""
    today = today or timezone.localdate()
    rows = _rows(plan) if installments is None else installments
    refusals: list[Refusal] = []
    if plan.status not in PAYABLE_PLAN_STATUSES:
        refusals.append(
            Refusal(InstallmentsError.PLAN_NOT_ACTIVE, _("Only an active plan's due date can be extended."))
        )
    if plan.extension_max == 0:
        refusals.append(
            Refusal(InstallmentsError.EXTENSION_NOT_OFFERED, _("This plan's terms do not offer extensions."))
        )
    elif plan.extensions_used >= plan.extension_max:
        refusals.append(
            Refusal(
                InstallmentsError.EXTENSION_LIMIT_REACHED,
                _("This plan was extended %(n)s time(s) already, the most its terms allow.")
                % {"n": plan.extensions_used},
            )
        )
    open_rows = owing(sorted(rows, key=lambda i: i.sequence))
    late = [
        i
        for i in open_rows
        if (today - i.due_date).days > plan.grace_days and i.outstanding > plan.arrears_tolerance
    ]
    if late:
        refusals.append(
            Refusal(
                InstallmentsError.OVERDUE_BEYOND_GRACE,
                _(
                    "Installment %(seq)s is %(days)s days overdue. Repay what is overdue first, "
                    "or apply for a negotiated plan."
                )
                % {"seq": late[0].sequence, "days": (today - late[0].due_date).days},
            )
        )
    following = open_rows[0] if open_rows else None
    if following is None:
        if plan.status in PAYABLE_PLAN_STATUSES:
            refusals.append(
                Refusal(InstallmentsError.NOTHING_TO_EXTEND, _("Nothing is left to pay on this plan."))
            )
    elif today > following.due_date + timedelta(days=plan.grace_days):
        refusals.append(
            Refusal(
                InstallmentsError.EXTENSION_TOO_LATE,
                _(
                    "Installment %(seq)s was due on %(due)s: an extension had to be asked by %(last)s "
                    "(the due date and %(grace)s grace days)."
                )
                % {
                    "seq": following.sequence,
                    "due": _date(following.due_date),
                    "last": _date(following.due_date + timedelta(days=plan.grace_days)),
                    "grace": plan.grace_days,
                },
            )
        )
    return refusals


def extension_day_range(
    plan: InstallmentPlan, installments: list[InstallmentRow], *, today: date
) -> tuple[int, int]:
    """The days the next unpaid installment may be moved by today: at least to today (an installment in
    its grace days moves to today or later), at most the product's ``extension_max_days`` and never onto
    the following installment's due date. Empty (min > max) when nothing fits."""
    rows = sorted(installments, key=lambda i: i.sequence)
    target = _next_unpaid(rows)
    if target is None:
        return 1, 0
    low = max(1, (today - target.due_date).days)
    high = int(plan.product.extension_max_days)
    later = [i.due_date for i in rows if i.sequence > target.sequence]
    if later:
        high = min(high, (min(later) - target.due_date).days - 1)
    return low, high


def _quote(
    plan: InstallmentPlan, installments: list[InstallmentRow], *, days: int, today: date
) -> ExtensionQuote:
    refusals = extension_refusals(plan, today=today, installments=installments)
    if refusals:
        raise ExtensionRefused(refusals)
    product = plan.product
    target = _next_unpaid(installments)
    if target is None:  # unreachable: nothing_to_extend is a refusal above
        raise ExtensionRefused(extension_refusals(plan, today=today, installments=[]))
    low, high = extension_day_range(plan, installments, today=today)
    if not low <= days <= high:
        message = (
            _("Choose from %(low)s to %(high)s days.") % {"low": low, "high": high}
            if low <= high
            else _("No number of days fits before the next installment.")
        )
        raise ApplicationError(
            InstallmentsError.EXTENSION_DAYS_OUT_OF_RANGE, message, fields={"days": message}
        )
    new_due = target.due_date + timedelta(days=days)
    rate = product.extension_fee_rate
    fee = quantize_money(rate * target.principal_due) if rate else ZERO
    before = _with_fee(installments, target, target.due_date, ZERO)
    after = _with_fee(installments, target, new_due, fee)
    apr_before = cost.dated_apr_percent(plan.principal, plan.purchase_date, before)
    apr = cost.dated_apr_percent(plan.principal, plan.purchase_date, after)
    if apr > product.max_apr_percent and apr > apr_before:
        raise ApplicationError(
            InstallmentsError.APR_ABOVE_MAXIMUM,
            _("The annualized rate %(apr)s%% is above this product's maximum of %(max)s%%.")
            % {"apr": apr, "max": product.max_apr_percent},
        )
    penalties = journal.penalties_by_date(plan.pk)
    ceiling = plan.max_all_in_apr_percent

    def headroom(flows: list[tuple[date, Decimal]]) -> Decimal:
        return cost.ceiling_headroom(
            principal=plan.principal,
            purchase_date=plan.purchase_date,
            flows=[*flows, *penalties],
            apr_percent=ceiling,
        )

    room = headroom(after)
    if room < 0 and room < headroom(before):
        raise ApplicationError(
            InstallmentsError.ABOVE_COST_CEILING,
            _(
                "With this fee the plan would cost more than its all-in ceiling of %(max)s%% a year. "
                "Choose fewer days or repay instead."
            )
            % {"max": ceiling},
        )
    next_amounts = tuple(
        NextAmount(
            sequence=i.sequence,
            due_date=new_due if i.pk == target.pk else i.due_date,
            amount=i.outstanding + (fee if i.pk == target.pk else ZERO),
            moved=i.pk == target.pk,
        )
        for i in owing(sorted(installments, key=lambda r: r.sequence))
    )
    return ExtensionQuote(
        plan=plan,
        installment_id=target.pk,
        sequence=target.sequence,
        days=days,
        min_days=low,
        max_days=high,
        old_due_date=target.due_date,
        new_due_date=new_due,
        fee=fee,
        amount_due=target.outstanding + fee,
        apr_before=apr_before,
        apr_percent=apr,
        max_apr_percent=product.max_apr_percent,
        headroom=room,
        next_amounts=next_amounts,
    )


def _with_fee(
    installments: list[InstallmentRow], target: InstallmentRow, new_due: date, fee: Decimal
) -> list[tuple[date, Decimal]]:
    """The plan's dated flows once ``target`` moved to ``new_due`` with ``fee`` added to it."""
    flows = []
    for i in installments:
        amount = i.principal_due + i.fee_due
        flows.append((new_due, amount + fee) if i.pk == target.pk else (i.due_date, amount))
    return flows


def extension_quote(*, plan: InstallmentPlan, days: int, today: date | None = None) -> ExtensionQuote:
    """What extending the next unpaid installment by ``days`` costs and changes. Writes nothing. Refused
    (``ExtensionRefused``, ``extension_days_out_of_range``, ``apr_above_maximum``, ``above_cost_ceiling``)
    exactly as ``extension_apply`` would refuse it."""
    return _quote(plan, _rows(plan), days=days, today=today or timezone.localdate())


# --- writes --------------------------------------------------------------------------------------------


def _key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise ApplicationError(
            AccountsError.IDEMPOTENCY_KEY_INVALID, _("An Idempotency-Key is 1 to 100 printable characters.")
        )
    return key


def _replay(*, customer: User, plan: InstallmentPlan, days: int, key: str) -> PlanExtension | None:
    """The extension this key already made, if any; the key names one request (same plan and days)."""
    done = PlanExtension.objects.filter(customer=customer, idempotency_key=key).first()
    if done is not None and (done.plan_id != plan.pk or done.days != days):
        raise ApplicationError(
            AccountsError.IDEMPOTENCY_KEY_REUSED, _("This key was already used for a different request.")
        )
    return done


def extension_apply(
    *,
    plan: InstallmentPlan,
    customer: User,
    days: int,
    code: str,
    idempotency_key: str,
    today: date | None = None,
) -> PlanExtension:
    """延期还款, confirmed with the SMS code (purpose ``extension``). The same ``idempotency_key`` returns the
    extension it made (no code needed again); the quote's refusals are checked before the code is spent,
    and again under the plan's lock after it. The code is checked outside any transaction of ours
    (accounts.services: a wrong try must stay counted)."""
    today = today or timezone.localdate()
    key = _key(idempotency_key)
    if plan.customer_id != customer.pk:
        raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
    done = _replay(customer=customer, plan=plan, days=days, key=key)
    if done is not None:
        return done
    extension_quote(plan=plan, days=days, today=today)
    try:
        otp_verify(user=customer, purpose=OtpPurpose.EXTENSION, code=code)
    except ApplicationError:
        # A double click: the first request spent the code and holds (or held) the plan's lock; once it
        # commits, its extension is this key's answer.
        with transaction.atomic():
            lock_plan(plan.pk, no_key=True)
            done = _replay(customer=customer, plan=plan, days=days, key=key)
        if done is not None:
            return done
        raise
    return _extension_locked(plan_id=plan.pk, customer=customer, days=days, idempotency_key=key, today=today)


def _extension_locked(
    *, plan_id: int, customer: User, days: int, idempotency_key: str, today: date | None = None
) -> PlanExtension:
    """The extension itself, once the code was verified: one transaction under the plan's lock (the key
    looked up again, the refusals and the quote re-checked on the locked rows), the ledger's reschedule
    between the plan-change signals, ``extensions_used`` + 1, the ``PlanExtension`` row and the SMS."""
    today = today or timezone.localdate()
    key = _key(idempotency_key)
    with transaction.atomic():
        locked, installments = lock_plan(plan_id, no_key=True)
        plan = InstallmentPlan.objects.select_related("product", "customer").get(pk=plan_id)
        if plan.customer_id != customer.pk:
            raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
        done = _replay(customer=customer, plan=plan, days=days, key=key)
        if done is not None:
            return done
        plan_changing.send(sender=InstallmentPlan, plan=plan, kind=EXTENSION)
        quote = _quote(plan, installments, days=days, today=today)
        extension = PlanExtension.objects.create(
            plan=plan,
            customer=customer,
            installment_id=quote.installment_id,
            idempotency_key=key,
            days=days,
            old_due_date=quote.old_due_date,
            new_due_date=quote.new_due_date,
            fee=quote.fee,
            apr_percent=quote.apr_percent,
            business_date=today,
        )
        reschedule(
            locked,
            installments,
            [Move(quote.installment_id, quote.new_due_date, quote.fee)],
            today=today,
            source=Source(key=f"extension:{extension.pk}", reference=f"#{quote.sequence}"),
            credit_event=CreditEventKind.EXTENDED,
        )
        InstallmentPlan.objects.filter(pk=plan.pk).update(extensions_used=F("extensions_used") + 1)
        plan.refresh_from_db()
        plan_changed.send(
            sender=InstallmentPlan,
            plan=plan,
            kind=EXTENSION,
            successor=None,
            moved_due_dates={quote.old_due_date: quote.new_due_date},
        )
        notification_create(
            user=plan.customer,
            code="plan_extended",
            context={
                "plan": plan.display_name,
                "seq": quote.sequence,
                "due_date": quote.new_due_date,
                "amount": quote.amount_due,
                "fee": quote.fee,
            },
            dedupe_key=f"plan_extended:{extension.pk}",
        )
    return extension

"""T+1 reconciliation (三方对账): the bank's settlement file of a date, our repayments and our journal.

Each succeeded charge in the file is matched by its key with a repayment:

- no repayment has the key: ``bank_only`` (critical: the bank took money we have no record of);
- the repayment is pending, failed or cancelled: the bank's answer is handed to the late-success path
  (``repayment_settle`` with ``get_charge``'s result, as ``repayments_reconcile`` does), and only if the
  repayment is still not succeeded after that is it a ``status_mismatch`` (critical);
- the amounts differ: ``amount_mismatch`` (critical);
- the journal has no entry for the repayment, or its entry took a different amount into bank clearing:
  ``journal_mismatch`` (critical: the general ledger does not show money the bank and the repayment agree on);
- otherwise the line is matched, and its settlement is posted: bank clearing -> cash, less the bank's fee
  as an expense (one entry per line, keyed by the line, so a re-run posts nothing twice).

Each card repayment we count as succeeded on that date (settled that local day) whose key is in neither
that file nor the day before's (a charge recorded at the bank just before midnight and settled by us
just after) is ``book_only`` (critical: we credited a plan with money the bank did not settle). Each
journal entry of a card payment on that date whose repayment is not succeeded is ``journal_mismatch``.
Refund lines are matched too, by key: ``excess:<repayment>`` with the excess refund our books and journal
recorded, ``reversal:<repayment>`` with a reversed repayment and its journal entry; a refund line we have no
record of, or of another amount, and a refund the journal booked that the file (and the day before's) lacks,
is ``refund_mismatch`` (critical). Their money leaving the bank is posted (bank clearing -> cash).

A run is idempotent per date: it replaces the date's file and its open breaks; resolved breaks stay, and
a difference already resolved is not raised again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import ApplicationError
from core.money import ZERO
from installments import journal
from installments.errors import InstallmentsError
from repayments.errors import RepaymentsError
from repayments.gateway import (
    GatewayError,
    SettlementLine,
    SettlementSource,
    get_gateway,
    parse_settlement_file,
)
from repayments.models import (
    BreakKind,
    BreakSeverity,
    BreakState,
    ReconciliationBreak,
    Repayment,
    RepaymentChannel,
    RepaymentStatus,
    SettlementFile,
)
from repayments.services.settlement import gateway_key, repayment_settle

SUCCEEDED_LINE = "succeeded"
REFUND_LINE = "refund"
_KEY_PREFIX = gateway_key(uuid.UUID(int=0)).removesuffix(str(uuid.UUID(int=0)))
_UNSETTLED = (RepaymentStatus.PENDING, RepaymentStatus.FAILED, RepaymentStatus.CANCELLED)
_CHARGED = (RepaymentStatus.SUCCEEDED, RepaymentStatus.REVERSED)


@dataclass
class ReconciliationResult:
    business_date: date
    lines: int = 0
    matched: int = 0
    settled_late: int = 0
    settlements_posted: int = 0
    breaks: list[ReconciliationBreak] = field(default_factory=list)

    @property
    def critical(self) -> list[ReconciliationBreak]:
        return [b for b in self.breaks if b.severity == BreakSeverity.CRITICAL]


def _public_id(key: str) -> uuid.UUID | None:
    if not key.startswith(_KEY_PREFIX):
        return None
    try:
        return uuid.UUID(key.removeprefix(_KEY_PREFIX))
    except ValueError:
        return None


def _local_day(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def _source() -> SettlementSource:
    gateway = get_gateway()
    if not isinstance(gateway, SettlementSource):
        raise GatewayError("the configured gateway delivers no settlement file", code="no_settlement_file")
    return gateway


def reconciliation_run(*, business_date: date) -> ReconciliationResult:
    """Fetch the bank's file of ``business_date``, store it, match it with our repayments and write the
    breaks (module docstring). Raises ``GatewayError`` when the file cannot be had: nothing is written."""
    source = _source()
    raw = source.settlement_file(business_date)
    lines = parse_settlement_file(raw)
    charges = [line for line in lines if line.status == SUCCEEDED_LINE]
    result = ReconciliationResult(business_date=business_date, lines=len(lines))

    found: list[ReconciliationBreak] = []
    by_public_id = {_public_id(line.idempotency_key): line for line in charges}
    known = {
        r.public_id: r
        for r in Repayment.objects.filter(public_id__in=[k for k in by_public_id if k is not None])
    }
    late: list[tuple[Repayment, SettlementLine]] = []
    matched: list[tuple[Repayment, SettlementLine]] = []
    for line in charges:
        public_id = _public_id(line.idempotency_key)
        repayment = known.get(public_id) if public_id is not None else None
        if repayment is None:
            found.append(_bank_only(business_date, line))
        elif repayment.status in _UNSETTLED:
            late.append((repayment, line))
        elif repayment.status not in _CHARGED:
            note = f"the repayment is {repayment.status}"
            found.append(_status_mismatch(business_date, line, repayment, note))
        elif repayment.amount != line.amount:
            found.append(
                ReconciliationBreak(
                    business_date=business_date,
                    kind=BreakKind.AMOUNT_MISMATCH,
                    severity=BreakSeverity.CRITICAL,
                    gateway_key=line.idempotency_key,
                    bank_reference=line.reference,
                    bank_amount=line.amount,
                    book_amount=repayment.amount,
                    repayment=repayment,
                )
            )
        else:
            result.matched += 1
            matched.append((repayment, line))

    # A success the bank settled and we never heard of: the late-success path applies it (outside any
    # transaction of ours: it asks the bank again, by key, for the charge's own answer).
    gateway = get_gateway()
    for repayment, line in late:
        note = f"the repayment is {repayment.status}; the late-success path did not apply it"
        try:
            answer = gateway.get_charge(idempotency_key=line.idempotency_key)
        except GatewayError as exc:
            answer = None
            note += f" (the bank could not be asked: {exc.code})"
        if answer is not None and answer.succeeded:
            repayment = repayment_settle(repayment_id=repayment.pk, result=answer)
        if repayment.status == RepaymentStatus.SUCCEEDED and repayment.amount == line.amount:
            result.settled_late += 1
            result.matched += 1
            matched.append((repayment, line))
        else:
            found.append(_status_mismatch(business_date, line, repayment, note))

    in_file = {line.idempotency_key for line in charges}
    start, end = _local_day(business_date)
    book = (
        Repayment.objects.filter(status__in=_CHARGED, settled_at__gte=start, settled_at__lt=end)
        .exclude(channel=RepaymentChannel.STAFF)
        .order_by("id")
    )
    missing = [r for r in book if gateway_key(r.public_id) not in in_file]
    if missing:
        before = parse_settlement_file(source.settlement_file(business_date - timedelta(days=1)))
        seen_before = {line.idempotency_key for line in before if line.status == SUCCEEDED_LINE}
        for repayment in missing:
            key = gateway_key(repayment.public_id)
            if key in seen_before:
                continue
            found.append(
                ReconciliationBreak(
                    business_date=business_date,
                    kind=BreakKind.BOOK_ONLY,
                    severity=BreakSeverity.CRITICAL,
                    gateway_key=key,
                    bank_reference=repayment.gateway_reference,
                    book_amount=repayment.amount,
                    repayment=repayment,
                    note=_("Our books count it as paid; the bank's settlement file does not have it."),
                )
            )

    found.extend(_journal_leg(business_date, matched))
    refunds = [line for line in lines if line.status == REFUND_LINE]
    found.extend(_refund_leg(business_date, refunds, source))
    with transaction.atomic():
        result.settlements_posted = _post_settlements(business_date, matched, refunds)
        SettlementFile.objects.update_or_create(
            business_date=business_date,
            defaults={
                "fetched_at": timezone.now(),
                "line_count": len(lines),
                "charged_total": sum((line.amount for line in charges), ZERO),
                "refunded_total": sum((line.amount for line in lines if line.status == REFUND_LINE), ZERO),
                "fee_total": sum((line.fee for line in lines), ZERO),
                "matched_count": result.matched,
                "raw": raw,
            },
        )
        ReconciliationBreak.objects.filter(business_date=business_date, state=BreakState.OPEN).delete()
        resolved = set(
            ReconciliationBreak.objects.filter(
                business_date=business_date, state=BreakState.RESOLVED
            ).values_list("kind", "gateway_key")
        )
        result.breaks = ReconciliationBreak.objects.bulk_create(
            [b for b in found if (b.kind, b.gateway_key) not in resolved]
        )
    return result


def _journal_leg(
    business_date: date, matched: list[tuple[Repayment, SettlementLine]]
) -> list[ReconciliationBreak]:
    """The third leg: each matched charge's journal entry took the same amount into bank clearing, and no
    card payment of the day is in the journal without a succeeded repayment behind it."""
    found = []
    keys = {f"repayment:{repayment.pk}": (repayment, line) for repayment, line in matched}
    cleared = journal.cleared_by_key(keys)
    for key, (repayment, line) in keys.items():
        if cleared.get(key) != line.amount:
            note = (
                _("The journal has no entry for this payment.")
                if key not in cleared
                else _("The journal took %(amount)s into bank clearing.") % {"amount": cleared[key]}
            )
            found.append(_journal_mismatch(business_date, line.idempotency_key, repayment, line.amount, note))
    day_keys = journal.cleared_on(business_date)
    ids = {int(key.split(":")[1]): amount for key, amount in day_keys.items() if key.count(":") == 1}
    for repayment in Repayment.objects.filter(pk__in=ids).exclude(status__in=_CHARGED):
        amount = ids[repayment.pk]
        found.append(
            _journal_mismatch(
                business_date,
                gateway_key(repayment.public_id),
                repayment,
                None,
                _("The journal books %(amount)s received for a payment that is %(status)s.")
                % {"amount": amount, "status": repayment.status},
            )
        )
    return found


def _refund_leg(
    business_date: date, refunds: list[SettlementLine], source: SettlementSource
) -> list[ReconciliationBreak]:
    """Refund lines against our books: each bank refund is an excess refund or a reversal we recorded, for
    the same amount, in our repayments and in the journal; each refund the journal booked on the date is
    in the file (or in the day before's, for one sent just before midnight)."""
    found: list[ReconciliationBreak] = []
    public_ids = [_refund_public_id(line.idempotency_key) for line in refunds]
    by_public_id = {
        str(r.public_id): r for r in Repayment.objects.filter(public_id__in=[p for p in public_ids if p])
    }
    for line in refunds:
        public_id = _refund_public_id(line.idempotency_key)
        repayment = by_public_id.get(public_id or "")
        expected = _journal_refund_key(line.idempotency_key, repayment)
        if repayment is None or expected is None:
            found.append(
                _refund_mismatch(
                    business_date,
                    line.idempotency_key,
                    line.amount,
                    None,
                    None,
                    _("The bank refunded money we have no record of refunding."),
                )
            )
            continue
        booked = journal.cleared_by_key([expected], credit=True).get(expected)
        if booked != line.amount:
            found.append(
                _refund_mismatch(
                    business_date,
                    line.idempotency_key,
                    line.amount,
                    booked,
                    repayment,
                    _("Our journal booked %(amount)s for this refund.") % {"amount": booked or ZERO},
                )
            )
    in_file = {line.idempotency_key for line in refunds}
    booked_today = journal.refunds_on(business_date)
    missing = {key: amount for key, amount in booked_today.items() if _bank_refund_key(key) not in in_file}
    if missing:
        before = parse_settlement_file(source.settlement_file(business_date - timedelta(days=1)))
        seen_before = {line.idempotency_key for line in before if line.status == REFUND_LINE}
        for key, amount in missing.items():
            bank_key = _bank_refund_key(key)
            if bank_key in seen_before:
                continue
            repayment = Repayment.objects.filter(pk=int(key.split(":")[1])).first()
            found.append(
                _refund_mismatch(
                    business_date,
                    bank_key or key,
                    None,
                    amount,
                    repayment,
                    _("Our journal booked this refund; the bank's settlement file does not have it."),
                )
            )
    return found


_REFUND_KEYS = {"excess": "excess_refund:{id}", "reversal": "repayment:{id}:reversed"}


def _refund_public_id(key: str) -> str | None:
    kind, _sep, public_id = key.partition(":")
    if kind not in _REFUND_KEYS:
        return None
    try:
        return str(uuid.UUID(public_id))
    except ValueError:
        return None


def _journal_refund_key(bank_key: str, repayment: Repayment | None) -> str | None:
    """The journal entry that booked a bank refund: ``excess:<public id>`` -> ``excess_refund:<id>``."""
    kind = bank_key.partition(":")[0]
    if repayment is None or kind not in _REFUND_KEYS:
        return None
    return _REFUND_KEYS[kind].format(id=repayment.pk)


def _bank_refund_key(journal_key: str) -> str | None:
    """The bank's key of a refund the journal booked: the inverse of ``_journal_refund_key``."""
    parts = journal_key.split(":")
    kind = "excess" if parts[0] == "excess_refund" else "reversal" if parts[-1] == "reversed" else None
    repayment = Repayment.objects.filter(pk=int(parts[1])).only("public_id").first() if kind else None
    return f"{kind}:{repayment.public_id}" if repayment is not None else None


def _refund_mismatch(
    business_date: date,
    key: str,
    bank_amount: Decimal | None,
    book_amount: Decimal | None,
    repayment: Repayment | None,
    note: str,
) -> ReconciliationBreak:
    return ReconciliationBreak(
        business_date=business_date,
        kind=BreakKind.REFUND_MISMATCH,
        severity=BreakSeverity.CRITICAL,
        gateway_key=key,
        bank_amount=bank_amount,
        book_amount=book_amount,
        repayment=repayment,
        note=note[:255],
    )


def _journal_mismatch(
    business_date: date, key: str, repayment: Repayment, bank_amount: Decimal | None, note: str
) -> ReconciliationBreak:
    return ReconciliationBreak(
        business_date=business_date,
        kind=BreakKind.JOURNAL_MISMATCH,
        severity=BreakSeverity.CRITICAL,
        gateway_key=key,
        bank_reference=repayment.gateway_reference,
        bank_amount=bank_amount,
        book_amount=repayment.amount,
        repayment=repayment,
        note=note[:255],
    )


def _post_settlements(
    business_date: date, matched: list[tuple[Repayment, SettlementLine]], refunds: list[SettlementLine]
) -> int:
    """Matched charges move from bank clearing to cash less the bank's fee; refunds leave cash. One entry
    per file line, keyed by it: a re-run of the date posts only lines not posted before."""
    drafts = [
        journal.settled(
            key=f"settlement:{line.idempotency_key}",
            amount=line.amount,
            fee=line.fee,
            reference=line.reference,
            today=business_date,
            memo=str(repayment.public_id),
        )
        for repayment, line in matched
    ]
    drafts += [
        journal.refund_settled(
            key=f"settlement:{line.idempotency_key}",
            amount=line.amount,
            fee=line.fee,
            reference=line.reference,
            today=business_date,
        )
        for line in refunds
    ]
    done = journal.posted_keys(d.key for d in drafts)
    return journal.write(d for d in drafts if d.key not in done)


def _bank_only(business_date: date, line: SettlementLine) -> ReconciliationBreak:
    return ReconciliationBreak(
        business_date=business_date,
        kind=BreakKind.BANK_ONLY,
        severity=BreakSeverity.CRITICAL,
        gateway_key=line.idempotency_key,
        bank_reference=line.reference,
        bank_amount=line.amount,
        note=_("The bank settled a charge no repayment of ours has."),
    )


def _status_mismatch(
    business_date: date, line: SettlementLine, repayment: Repayment, note: str
) -> ReconciliationBreak:
    return ReconciliationBreak(
        business_date=business_date,
        kind=BreakKind.STATUS_MISMATCH,
        severity=BreakSeverity.CRITICAL,
        gateway_key=line.idempotency_key,
        bank_reference=line.reference,
        bank_amount=line.amount,
        book_amount=repayment.amount,
        repayment=repayment,
        note=note[:255],
    )


def reconciliation_break_resolve(
    *, staff: User, item: ReconciliationBreak, reason: str
) -> ReconciliationBreak:
    """Close a break with who and why. The money itself is put right elsewhere (a refund, a reversal, an
    offline payment, the bank's correction; docs/operations.md); this records that it was."""
    if not staff.is_staff:
        raise ApplicationError(RepaymentsError.STAFF_ONLY, _("Only staff can resolve a break."))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            InstallmentsError.REASON_REQUIRED, _("A reason is required."), fields={"reason": _("Required.")}
        )
    # Only an open break is closed: one resolved meanwhile by someone else keeps their record.
    ReconciliationBreak.objects.filter(pk=item.pk, state=BreakState.OPEN).update(
        state=BreakState.RESOLVED, resolved_by=staff, resolution=reason[:255], resolved_at=timezone.now()
    )
    item.refresh_from_db()
    return item

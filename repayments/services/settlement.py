"""Phase 3 of every charge: record the gateway's answer once, post the money to the plan ledger and
tell the customer; refund what no installment could take.

A customer's payment, a reconciled timeout and a whole auto-debit chunk are settled by the same
``repayments_settle``. It knows nothing of debit runs: a caller that needs more done in the same
transaction (the debit engine moves its attempts and run counts with the money, issue 15) passes
``after_settle``, which is called inside the transaction with what was settled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.db import insert_rows, update_rows
from core.money import ZERO
from installments import journal
from installments.ledger import Posted, Posting, Source, lock_plans, post, remaining_total
from notifications.services import (
    NotificationRequest,
    notification_create,
    notifications_create_bulk,
    recipients,
)
from repayments.gateway import ChargeResult, GatewayError, get_gateway
from repayments.models import (
    Allocation,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentStatus,
)

logger = logging.getLogger(__name__)

NOT_CHARGED = "not_charged"  # the gateway never saw the key: nothing moved


def gateway_key(public_id: uuid.UUID) -> str:
    """The idempotency key of a repayment's charge at the gateway."""
    return f"repayment:{public_id}"


def repayment_event(
    repayment: Repayment, kind: str, *, actor: User | None = None, reason: str = "", **data: object
) -> None:
    RepaymentEvent.objects.create(repayment=repayment, kind=kind, actor=actor, reason=reason, data=data)


def allocation_rows(repayment_id: int, posted: Posted) -> list[dict[str, object]]:
    """The repayment's own record of what the ledger posted: one row per split and per waiver."""
    return [
        {
            "repayment_id": repayment_id,
            "installment_id": line.installment_id,
            "component": line.component,
            "amount": line.amount,
            "waived": waived,
        }
        for lines, waived in ((posted.splits, False), (posted.waivers, True))
        for line in lines
    ]


@dataclass(slots=True)
class Settlement:
    """A charge outcome as ``repayments_settle`` recorded it. ``result`` None: the gateway never saw the
    charge. ``applied`` is what the ledger took and ``remaining`` what the plan still owes after it;
    ``excess`` is what no installment could take (a waiver or another payment landed while the charge
    was in flight, or the charge landed after the repayment was given up) and is refunded.
    ``late``: a success for a repayment already failed or cancelled."""

    repayment_id: int
    public_id: uuid.UUID
    plan_id: int
    customer_id: int
    plan_name: str
    channel: str
    amount: Decimal
    card_id: int | None
    card_last4: str
    result: ChargeResult | None
    applied: Decimal = ZERO
    remaining: Decimal = ZERO
    excess: Decimal = ZERO
    late: bool = False

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result.succeeded

    @property
    def reason(self) -> str:
        return NOT_CHARGED if self.result is None else str(self.result.status)


AfterSettle = Callable[[list[Settlement]], None]

_SETTLE_COLUMNS = (
    "id",
    "public_id",
    "plan_id",
    "channel",
    "amount",
    "card_id",
    "card__last4",
    "one_time_card_last4",
    "status",
    "failure_code",
    "charge_lease_until",
)
_SUCCESS_FIELDS = (
    "status",
    "gateway_reference",
    "settled_at",
    "updated_at",
    "failure_code",
    "failure_message",
)
_FAILURE_FIELDS = ("status", "gateway_reference", "failure_code", "failure_message", "updated_at")
_NOT_CHARGED_MESSAGE = "The bank never received the charge."


def repayments_settle(
    outcomes: list[tuple[int, ChargeResult | None]],
    *,
    today: date,
    after_settle: AfterSettle | None = None,
) -> list[Settlement]:
    """Phase 3 for one payment or a whole debit chunk: record each gateway answer once, post (冲账)
    oldest first through the plan ledger, tell the customer, and refund what did not fit.

    One code path for every answer, so a customer's payment, a reconciled timeout and an auto-debit settle
    alike: plans and installments are locked in id order (DESIGN.md), then the repayments. A charge's
    outcome is decided once and never dropped:
    * a pending repayment takes the answer; ``None`` (the gateway never saw the key) fails it
      ``not_charged``, but only once its charge lease is over (no caller can still be calling);
    * a success for a repayment already failed or cancelled (the charge landed after it was given up) is
      applied as far as the plan can still take it, and the rest refunded, with an event and an SMS;
    * anything else already decided is skipped, so a second call with the same answers changes nothing.
    Plain rows and bulk statements keep a 500-debit chunk to a handful of queries. ``after_settle`` runs
    inside the transaction with what was settled (the debit engine's attempts and run counts), so it
    commits or rolls back with the money. Auto-debit receipts are that step's to write. Returns what this
    call settled.
    """
    if not outcomes:
        return []
    answers = dict(outcomes)
    settled: list[Settlement] = []
    with transaction.atomic():
        plan_ids = sorted(set(Repayment.objects.filter(pk__in=answers).values_list("plan_id", flat=True)))
        plans, installments = lock_plans(plan_ids, no_key=True)
        rows = (
            Repayment.objects.select_for_update(of=("self",))
            .filter(
                pk__in=answers,
                status__in=[RepaymentStatus.PENDING, RepaymentStatus.FAILED, RepaymentStatus.CANCELLED],
            )
            .order_by("id")
            .values_list(*_SETTLE_COLUMNS)
        )
        posting = Posting()
        allocations: list[dict[str, object]] = []
        now = timezone.now()
        events: list[dict[str, object]] = []
        receipts: list[Settlement] = []
        successes: list[tuple] = []
        failures: list[tuple] = []
        for (
            repayment_id,
            public_id,
            plan_id,
            channel,
            amount,
            card_id,
            card_last4,
            one_time_last4,
            status,
            failure_code,
            lease_until,
        ) in rows:
            result = answers[repayment_id]
            late = status != RepaymentStatus.PENDING
            if late and (result is None or not result.succeeded):
                continue  # decided already, and this answer moved no money
            if result is None and lease_until is not None and lease_until >= now:
                continue  # a caller may still be calling the gateway with this key: not ours to decide
            plan = plans[plan_id]
            done = Settlement(
                repayment_id, public_id, plan_id, plan.customer_id, plan.display_name, channel, amount,
                card_id, card_last4 or one_time_last4, result, late=late,
            )  # fmt: skip
            settled.append(done)
            if result is not None and done.succeeded:
                successes.append(
                    (repayment_id, RepaymentStatus.SUCCEEDED, result.reference, now, now, "", "")
                )
                posted = post(
                    posting,
                    plan,
                    installments[plan_id],
                    amount,
                    today=today,
                    source=Source(key=f"repayment:{repayment_id}", reference=str(public_id)),
                )
                allocations.extend(allocation_rows(repayment_id, posted))
                done.excess = posted.excess
                done.applied = amount - posted.excess
                data: dict[str, object] = {"reference": result.reference}
                if late:
                    data.update(previous_status=status, previous_failure_code=failure_code)
                events.append(
                    {
                        "repayment_id": repayment_id,
                        "kind": "late_succeeded" if late else "succeeded",
                        "data": data,
                    }
                )
                if done.excess > 0:
                    # Owed from this moment, in the same transaction: a crash before the refund leaves the
                    # debt on record for reconciliation to pay (repayments_refunds_retry).
                    events.append(
                        {
                            "repayment_id": repayment_id,
                            "kind": "excess_owed",
                            "data": {"amount": str(done.excess)},
                        }
                    )
                if done.applied > 0:
                    done.remaining = remaining_total(installments[plan_id])
                    if channel != RepaymentChannel.AUTO_DEBIT:
                        receipts.append(done)
                continue
            reason = done.reason
            message = _NOT_CHARGED_MESSAGE if result is None else (result.message or "")
            failures.append(
                (
                    repayment_id,
                    RepaymentStatus.FAILED,
                    result.reference if result is not None else "",
                    reason,
                    message[:255],
                    now,
                )
            )
            events.append({"repayment_id": repayment_id, "kind": "failed", "data": {"code": reason}})
        update_rows(Repayment, _SUCCESS_FIELDS, successes)
        update_rows(Repayment, _FAILURE_FIELDS, failures)
        posting.write()
        insert_rows(Allocation, allocations)
        insert_rows(RepaymentEvent, events)
        if receipts:
            to = recipients(done.customer_id for done in receipts)
            notifications_create_bulk(
                [
                    NotificationRequest(
                        recipient=to[done.customer_id],
                        code="repayment_received",
                        context={"plan": done.plan_name, "amount": done.applied, "remaining": done.remaining},
                        dedupe_key=f"repayment_received:{done.public_id}",
                    )
                    for done in receipts
                ]
            )
        if after_settle is not None and settled:
            after_settle(settled)
    for done in settled:
        if done.excess > 0:
            _refund_excess(done.repayment_id, done.excess)
    return settled


def repayment_settle(
    *, repayment_id: int, result: ChargeResult | None, after_settle: AfterSettle | None = None
) -> Repayment:
    """Phase 3 for one repayment (a customer's payment, or a charge reconciled later)."""
    repayments_settle([(repayment_id, result)], today=timezone.localdate(), after_settle=after_settle)
    return Repayment.objects.get(pk=repayment_id)


def _refund_excess(repayment_id: int, excess: Decimal) -> bool:
    """Money that no installment could take goes back to the card it came from, and the customer is told.
    A failure leaves the ``excess_owed`` event unanswered; reconciliation tries again."""
    repayment = Repayment.objects.select_related("plan", "card").get(pk=repayment_id)
    try:
        get_gateway().refund(
            reference=repayment.gateway_reference,
            amount=excess,
            idempotency_key=f"excess:{repayment.public_id}",
        )
    except GatewayError:
        logger.exception("refund of excess %s for repayment %s failed", excess, repayment.public_id)
        return False
    with transaction.atomic():
        Repayment.objects.select_for_update().filter(pk=repayment_id).exists()  # one recorder at a time
        if RepaymentEvent.objects.filter(repayment_id=repayment_id, kind="excess_refunded").exists():
            return True  # a concurrent retry recorded it (the gateway answered both with one refund)
        RepaymentEvent.objects.create(
            repayment_id=repayment_id, kind="excess_refunded", data={"amount": str(excess)}
        )
        journal.write(
            [
                journal.refund_sent(
                    key=f"excess_refund:{repayment_id}",
                    amount=excess,
                    plan_id=repayment.plan_id,
                    customer_id=repayment.customer_id,
                    reference=str(repayment.public_id),
                    today=timezone.localdate(),
                )
            ]
        )
        notification_create(
            user=repayment.customer,
            code="repayment_refunded",
            context={
                "plan": repayment.plan.display_name,
                "amount": excess,
                "card_last4": repayment.card.last4
                if repayment.card is not None
                else repayment.one_time_card_last4,
            },
            dedupe_key=f"repayment_refunded:{repayment.public_id}",
        )
    return True


def repayments_refunds_retry(*, limit: int = 500) -> int:
    """Refunds we owe (``excess_owed``) whose refund did not go through: try each again, same key."""
    owed = (
        RepaymentEvent.objects.filter(kind="excess_owed")
        .exclude(repayment__events__kind="excess_refunded")
        .order_by("id")
        .values_list("repayment_id", "data")[:limit]
    )
    return sum(_refund_excess(repayment_id, Decimal(data["amount"])) for repayment_id, data in owed)

"""The bank's asynchronous result notifications (webhooks), as a service: a verified event becomes a
``ChargeResult`` settled through ``repayments_settle``, the one settle path, so a webhook, the payment's
own answer and reconciliation's poll answering the same charge settle it once (the settle skips what is
already decided). The signature is checked by the view (repayments/webhooks.py) before this is called.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from repayments.gateway import ChargeResult, ChargeStatus
from repayments.models import BankWebhookEvent, Repayment
from repayments.services.autodebit import DebitsSettled, debit_run_finish_if_done
from repayments.services.settlement import Settlement, repayments_settle

logger = logging.getLogger(__name__)

KEY_PREFIX = "repayment:"


class WebhookOutcome(StrEnum):
    SETTLED = "settled"  # the answer was recorded (or was already, by a poll or the payment itself)
    DUPLICATE = "duplicate"  # this event id was acted on before: nothing done
    UNKNOWN_CHARGE = "unknown_charge"  # not one of our repayments' keys: logged, nothing done
    IGNORED = "ignored"  # an event type with nothing to settle on our side (refunds are ours to start)


class MalformedEvent(ValueError):
    """A signed event we cannot read: a bank bug, answered 400."""


@dataclass(frozen=True)
class BankEvent:
    id: str
    type: str
    idempotency_key: str
    reference: str
    amount: Decimal
    status: str

    @classmethod
    def parse(cls, data: Any) -> BankEvent:
        if not isinstance(data, dict):
            raise MalformedEvent("an event is a JSON object")
        try:
            fields = {name: data[name] for name in ("id", "type", "idempotency_key", "reference", "status")}
            amount = Decimal(str(data["amount"]))
        except (KeyError, InvalidOperation) as exc:
            raise MalformedEvent(f"unreadable event: {exc!r}") from None
        if not all(isinstance(value, str) and 0 < len(value) <= 100 for value in fields.values()):
            raise MalformedEvent("event fields are non-empty strings of at most 100 characters")
        return cls(amount=amount, **fields)


def _repayment_id(key: str) -> int | None:
    if not key.startswith(KEY_PREFIX):
        return None
    try:
        public_id = uuid.UUID(key.removeprefix(KEY_PREFIX))
    except ValueError:
        return None
    return Repayment.objects.filter(public_id=public_id).values_list("id", flat=True).first()


def _record(event: BankEvent) -> None:
    BankWebhookEvent.objects.create(
        event_id=event.id, kind=event.type[:40], idempotency_key=event.idempotency_key
    )


def _record_alone(event: BankEvent) -> bool:
    """Record an event that settles nothing; False when its id was recorded before."""
    try:
        with transaction.atomic():
            _record(event)
    except IntegrityError:
        return False
    return True


def bank_webhook_receive(event: BankEvent) -> WebhookOutcome:
    """Act on one verified event once.

    The event id is recorded inside the settle's own transaction (its ``after_settle``), so a crash
    between the two leaves neither and the bank's retry does it all; and the settle's refund of any
    excess, a gateway call, runs after that transaction like every other caller's (no lock held while
    calling the bank). Two deliveries of one id at once: the second waits on the first's locks or on the
    unique id, and is a duplicate."""
    if BankWebhookEvent.objects.filter(event_id=event.id).exists():
        return WebhookOutcome.DUPLICATE
    if not event.type.startswith("charge."):
        return WebhookOutcome.IGNORED if _record_alone(event) else WebhookOutcome.DUPLICATE
    try:
        status = ChargeStatus(event.status)
    except ValueError:
        raise MalformedEvent(f"unknown charge status {event.status!r}") from None
    repayment_id = _repayment_id(event.idempotency_key)
    if repayment_id is None:
        # Answered 2xx all the same: the bank would retry an error forever, and nothing of ours is due.
        logger.warning("bank webhook %s for a charge we do not know: %s", event.id, event.idempotency_key)
        return WebhookOutcome.UNKNOWN_CHARGE if _record_alone(event) else WebhookOutcome.DUPLICATE
    result = ChargeResult(
        status=status, reference=event.reference, amount=event.amount, idempotency_key=event.idempotency_key
    )
    debits = DebitsSettled()
    recorded = False

    def record_with_the_settle(settled: list[Settlement]) -> None:
        nonlocal recorded
        _record(event)
        recorded = True
        debits(settled)

    try:
        repayments_settle(
            [(repayment_id, result)], today=timezone.localdate(), after_settle=record_with_the_settle
        )
    except IntegrityError:
        return WebhookOutcome.DUPLICATE  # the same event, delivered twice at once, settled by the other
    if not recorded and not _record_alone(event):  # decided already (a poll, the payment's own answer)
        return WebhookOutcome.DUPLICATE
    for run_id in sorted(debits.run_ids):
        debit_run_finish_if_done(run_id)  # a debit whose answer was lost may have been its run's last
    return WebhookOutcome.SETTLED


PRUNE_BATCH = 10_000


def bank_webhook_events_prune(*, now: datetime | None = None) -> int:
    """Delete the record of events received more than ``BANK_WEBHOOK_KEEP_DAYS`` ago; returns how many.

    The record exists to refuse an event id acted on before. Past the bank's retry horizon (its backoff is
    capped at ``BANK_WEBHOOK_MAX_BACKOFF_SECONDS``, minutes) and the signature window (minutes) no genuine
    retry or replay can still arrive, and one that did would find its charge decided: the settle skips
    it. So old rows only cost space; they go in batches, each its own short transaction, so a large
    backlog never holds a long lock or one huge transaction."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BANK_WEBHOOK_KEEP_DAYS)
    deleted = 0
    while True:
        batch = list(
            BankWebhookEvent.objects.filter(received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not batch:
            return deleted
        deleted += BankWebhookEvent.objects.filter(id__in=batch).delete()[0]

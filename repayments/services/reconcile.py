"""Reconciliation: finish the payments whose charge outcome we never heard.

It asks the gateway about each key, settles the answer, and only then tells the debit run: settlement
knows nothing about runs, the debit engine's step (``DebitsSettled``) moves a reconciled debit's attempt
and counts inside the settle's transaction, and a run whose last unknown answer this was is finished here.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from repayments.gateway import GatewayError, get_gateway
from repayments.models import Repayment, RepaymentStatus
from repayments.services.autodebit import DebitsSettled, debit_run_finish_if_done
from repayments.services.settlement import (
    NOT_CHARGED,
    gateway_key,
    repayment_settle,
    repayments_refunds_retry,
)


def repayments_reconcile(
    *,
    older_than: timedelta | None = None,
    unclaimed_after: timedelta | None = None,
    limit: int = 500,
) -> int:
    """Finish pending repayments whose charge outcome we never heard (timeouts, crashed workers).

    A repayment is asked about once its charge lease is over and its last call is ``older_than`` ago. One
    never sent (an auto-debit recorded by a chunk whose worker died before calling) is left for
    ``unclaimed_after`` (by default the broker's redelivery time plus ``older_than``), so the redelivered
    chunk charges it; after that, the gateway's "never saw it" fails it, and its slot run again records it
    anew. Also retries refunds we owe."""
    now = timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    if unclaimed_after is None:
        unclaimed_after = timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT_SECONDS) + older_than
    stale = (
        Repayment.objects.filter(status=RepaymentStatus.PENDING)
        .filter(
            Q(charge_attempted_at__lt=now - older_than)
            & (Q(charge_lease_until__isnull=True) | Q(charge_lease_until__lt=now))
            | Q(charge_attempted_at__isnull=True, requested_at__lt=now - unclaimed_after)
        )
        .order_by("id")
        .values_list("id", "public_id")[:limit]
    )
    gateway = get_gateway()
    finished = 0
    debits = DebitsSettled()
    for repayment_id, public_id in stale:
        try:
            result = gateway.get_charge(idempotency_key=gateway_key(public_id))
        except GatewayError:
            continue
        repayment = repayment_settle(repayment_id=repayment_id, result=result, after_settle=debits)
        finished += repayment.status != RepaymentStatus.PENDING
    # A caller stalled past its lease (a paused process) may still have reached the bank after we gave
    # its payment up: look once more, for a day, and apply what landed.
    given_up = (
        Repayment.objects.filter(
            status=RepaymentStatus.FAILED,
            failure_code=NOT_CHARGED,
            charge_attempted_at__gte=now - timedelta(days=1),
        )
        .order_by("id")
        .values_list("id", "public_id")[:limit]
    )
    for repayment_id, public_id in given_up:
        try:
            result = gateway.get_charge(idempotency_key=gateway_key(public_id))
        except GatewayError:
            continue
        if result is not None and result.succeeded:
            repayment_settle(repayment_id=repayment_id, result=result, after_settle=debits)
            finished += 1
    for run_id in sorted(debits.run_ids):
        debit_run_finish_if_done(run_id)  # a debit whose answer was lost may have been its run's last
    repayments_refunds_retry()
    return finished

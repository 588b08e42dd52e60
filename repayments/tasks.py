"""Thin periodic tasks over repayments.services; each is safe to run twice or on many workers at once."""

from celery import shared_task

from repayments.services import repayments_reconcile, repayments_run_scheduled


@shared_task(name="repayments.reconcile", acks_late=True)
def reconcile_repayments() -> int:
    """Ask the gateway about payments left pending by a timeout or a crash, and finish them."""
    return repayments_reconcile()


@shared_task(name="repayments.run_scheduled", acks_late=True)
def run_scheduled_repayments() -> int:
    """Charge scheduled payments whose date has come; rows are claimed with SKIP LOCKED."""
    return repayments_run_scheduled()

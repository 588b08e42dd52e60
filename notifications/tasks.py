"""Thin tasks over notifications.services; every one is safe to run twice."""

from celery import Task, shared_task

from core.locks import single_run
from core.tasks import RETRY_ON_DATABASE_ERRORS
from notifications.services import SendOutcome, notification_send, notifications_due, notifications_send


@shared_task(
    name="notifications.send",
    bind=True,
    max_retries=None,
    acks_late=True,
    # Sending is idempotent (the row is claimed, a sent row is never sent again): a database error retries
    # shortly rather than waiting for the sweep.
    **RETRY_ON_DATABASE_ERRORS,
)
def send_notification(self: Task, notification_id: int) -> str:
    result = notification_send(notification_id=notification_id)
    if result.outcome == SendOutcome.RETRY:
        # The row also records when to retry, so the sweep resends it should this message be lost.
        raise self.retry(countdown=result.retry_in)
    return result.outcome.value


@shared_task(name="notifications.sweep", acks_late=True)
def sweep_notifications() -> int:
    """Enqueue what is due but unsent: after quiet hours, after a lost message, after a lost retry."""
    with single_run("notifications.sweep", ttl_seconds=120) as mine:
        if not mine:
            return 0
        due = notifications_due()
        for notification_id in due:
            send_notification.delay(notification_id)
        return len(due)


@shared_task(
    name="notifications.send_batch",
    acks_late=True,
    max_retries=8,
    **RETRY_ON_DATABASE_ERRORS,
)
def send_notifications_batch(notification_ids: list[int]) -> int:
    """Send many outbox rows in one task; a row to retry gets its own delayed task (and the sweep)."""
    sent = 0
    for notification_id, result in notifications_send(notification_ids).items():
        if result.outcome == SendOutcome.RETRY:
            send_notification.apply_async((notification_id,), countdown=result.retry_in)
        sent += result.outcome == SendOutcome.SENT
    return sent

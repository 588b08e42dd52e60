"""Writing SMS to the outbox and sending them.

``notification_create`` is the one call every other app makes (``notifications_create_bulk`` for a debit
chunk's messages); the single call is a batch of one, so language, masking, redaction, quiet hours, the
daily limit and dedupe are written once (``_outbox_write``). It writes in the caller's transaction and
enqueues the send after commit, so a rolled-back event sends nothing. ``notifications_send`` runs in a
task: it claims the rows in a short transaction, calls the provider with no lock held (several calls in
flight), then records the outcomes. A sent row is never sent again; the provider also receives our message
id to deduplicate.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import CharField, Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.db import insert_rows, update_rows
from core.errors import ApplicationError
from core.ids import new_public_id
from core.masking import mask_name
from notifications.errors import NotificationsError
from notifications.messages import (
    LANGUAGES,
    TEMPLATES,
    ZH,
    MessageTemplate,
    get_template,
    render_message,
    secret_values,
)
from notifications.models import Notification, NotificationCategory, NotificationStatus
from notifications.quiet_hours import parse_hhmm, quiet_hours_release
from notifications.sealing import SealBroken, SecretText, seal, unseal
from notifications.senders import PermanentSendError, get_sender

logger = logging.getLogger(__name__)


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _reminder_release(at: datetime) -> datetime | None:
    return quiet_hours_release(
        at,
        start=parse_hhmm(settings.SMS_QUIET_HOURS_START),
        end=parse_hhmm(settings.SMS_QUIET_HOURS_END),
        tz=_tz(),
    )


def _texts(template: MessageTemplate, *, language: str, context: dict[str, object]) -> tuple[str, str]:
    """(text, sealed_text) of a new outbox row: the text anyone may see, and the full text sealed.

    A template without secrets is stored as is; one with a secret (a one-time code) keeps only its
    redacted form in ``text`` from the first write on, so no page, API, admin view, export or log line
    ever shows the code, and the full text sealed for the sender call (notifications/sealing.py).
    """
    if not template.secret_keys:
        return render_message(template, language=language, context=context), ""
    redacted = render_message(template, language=language, context=context, redact=True)
    full = render_message(template, language=language, context=context)
    return redacted, seal(full, secrets=secret_values(template, language=language, context=context))


def notification_create(
    *,
    user: User,
    code: str,
    context: dict[str, object],
    dedupe_key: str,
    category: str | None = None,
    send_after: datetime | None = None,
) -> Notification:
    """Write one SMS for ``user`` in the caller's transaction; the same ``dedupe_key`` writes it once.

    Reminders created in the quiet hours wait until they end; a phone past its daily limit gets the
    message recorded as suppressed, with the reason, and never sent. Returns the outbox row: this call's,
    or the one an earlier call with the same key wrote (then nothing more is sent).
    """
    now = timezone.now()
    request = NotificationRequest(Recipient.of(user), code, context, dedupe_key, category, send_after)
    [row] = _outbox_write([request], now)
    notification = Notification.objects.get(dedupe_key=dedupe_key)
    written_now = notification.public_id == row["public_id"]  # not a row an earlier call had written
    due = notification.send_after is None or notification.send_after <= now
    if written_now and notification.status == NotificationStatus.PENDING and due:
        _enqueue_after_commit(notification.pk)
    return notification


@dataclass(frozen=True)
class Recipient:
    """Who an SMS goes to, as the bulk writer needs it: a plain row instead of a User (whose phone
    number field parses every number it loads)."""

    user_id: int
    phone: str
    language: str
    masked_name: str

    @classmethod
    def of(cls, user: User) -> Recipient:
        """A loaded user, as ``recipients`` would read it (the phone in the stored E.164 form)."""
        return cls(user.pk, str(user.phone), user.language, user.masked_name)


def recipients(user_ids: Iterable[int]) -> dict[int, Recipient]:
    rows = (
        User.objects.filter(pk__in=set(user_ids))
        .annotate(phone_text=Cast("phone", CharField()))
        .values_list("pk", "phone_text", "language", "real_name")
    )
    return {pk: Recipient(pk, phone, language, mask_name(name)) for pk, phone, language, name in rows}


@dataclass(frozen=True)
class NotificationRequest:
    recipient: Recipient
    code: str
    context: dict[str, object]
    dedupe_key: str
    category: str | None = None
    send_after: datetime | None = None  # None: at once, or when the quiet hours end for a reminder


# Messages counted against the daily limit per phone, and limited by it: reminders and transactional ones,
# never security messages (one-time codes).
_COUNTED = (NotificationCategory.REMINDER, NotificationCategory.TRANSACTIONAL)


def _counted_today(user_ids: Iterable[int], local_midnight: datetime) -> QuerySet:
    """(phone, messages counted against today's limit) for each recipient, as text.

    One index probe of notification_phone_day (phone, created_at) per recipient, as a correlated subquery:
    an IN list of 500 phones left the planner free to combine the status and created_at indexes instead,
    which it did on a table growing fast (stale statistics) and read every message of the day, a million
    by the end of a 1 M-debit run, for each chunk.
    """
    counted = (
        Notification.objects.filter(
            phone=OuterRef("phone"),
            created_at__gte=local_midnight,
            category__in=_COUNTED,
            status__in=[NotificationStatus.PENDING, NotificationStatus.SENT],
        )
        .order_by()
        .values("phone")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        User.objects.filter(pk__in=set(user_ids))
        .annotate(phone_text=Cast("phone", CharField()), n=Coalesce(Subquery(counted), 0))
        .values_list("phone_text", "n")
    )


def notifications_create_bulk(requests: list[NotificationRequest]) -> int:
    """``notification_create`` for many messages in a few queries: the debit engine writes one per debit.

    Same rules (the same writer): rendered in each user's language, masked, deduped, quiet hours for
    reminders, the daily limit per phone (counted once for the batch), sent after commit in one batch task.
    """
    if not requests:
        return 0
    rows = _outbox_write(requests, timezone.now())
    due = list(
        Notification.objects.filter(
            dedupe_key__in=[r.dedupe_key for r in requests],
            status=NotificationStatus.PENDING,
            send_after__isnull=True,
            attempts=0,
        ).values_list("id", flat=True)
    )
    if due:
        # Services enqueue tasks and tasks call services: the tasks are imported at call time.
        from notifications.tasks import send_notifications_batch  # noqa: PLC0415

        transaction.on_commit(lambda: send_notifications_batch.delay(due))
    return len(rows)


def _outbox_write(requests: list[NotificationRequest], now: datetime) -> list[dict[str, object]]:
    """The one writer of outbox rows: each rendered in its user's language with the name masked and any
    one-time code sealed, a reminder held past the quiet hours, a phone past its daily limit suppressed
    with the reason; a ``dedupe_key`` already written is skipped (``ON CONFLICT DO NOTHING``). Returns the
    rows it tried to write, each with a fresh ``public_id`` that tells a caller whether its row went in.
    """
    local_midnight = timezone.localtime(now, _tz()).replace(hour=0, minute=0, second=0, microsecond=0)
    sent_today = dict(_counted_today({r.recipient.user_id for r in requests}, local_midnight))
    release = _reminder_release(now)
    rows = []
    for request in requests:
        template = get_template(request.code)
        category = request.category or template.category
        recipient = request.recipient
        language = recipient.language if recipient.language in LANGUAGES else ZH
        context = {**request.context, "name": recipient.masked_name}
        status, reason = NotificationStatus.PENDING, ""
        if category in _COUNTED:
            if sent_today.get(recipient.phone, 0) >= settings.SMS_DAILY_LIMIT_PER_PHONE:
                status = NotificationStatus.SUPPRESSED
                reason = f"daily limit of {settings.SMS_DAILY_LIMIT_PER_PHONE} messages per phone reached"
            else:
                sent_today[recipient.phone] = sent_today.get(recipient.phone, 0) + 1
        send_after = request.send_after
        if send_after is None and category == NotificationCategory.REMINDER:
            send_after = release
        text, sealed_text = _texts(template, language=language, context=context)
        rows.append(
            {
                "public_id": new_public_id(),
                "user_id": recipient.user_id,
                "phone": recipient.phone,
                "template_code": request.code,
                "language": language,
                "text": text,
                # A suppressed message is never sent: nothing to seal for.
                "sealed_text": sealed_text if status == NotificationStatus.PENDING else "",
                "category": category,
                "status": status,
                "last_error": reason,
                "send_after": send_after,
                "dedupe_key": request.dedupe_key,
            }
        )
    insert_rows(Notification, rows, ignore_conflicts=True)
    return rows


def _enqueue_after_commit(notification_id: int) -> None:
    from notifications.tasks import send_notification  # noqa: PLC0415  (the same cycle)

    transaction.on_commit(lambda: send_notification.delay(notification_id))


class SendOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    retry_in: float | None = None


def retry_delay(attempt: int) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random, so retries spread out."""
    base = settings.SMS_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0))
    capped = min(settings.SMS_RETRY_MAX_SECONDS, base)
    return capped / 2 + random.uniform(0, capped / 2)  # noqa: S311 - jitter, not security


@dataclass(slots=True)
class _Claimed:
    """An outbox row held by this sender, as a plain row (the phone as text: no number parsing)."""

    pk: int
    public_id: uuid.UUID
    phone: str
    text: str
    sealed_text: str
    attempts: int


def _claim(notification_ids: list[int], now: datetime) -> list[_Claimed]:
    """Hold the due rows for ``SMS_CLAIM_SECONDS`` in one short transaction; rows another sender holds or
    that are no longer pending are skipped (``SKIP LOCKED`` and the claim both)."""
    with transaction.atomic():
        rows = [
            _Claimed(*values)
            for values in Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=notification_ids, status=NotificationStatus.PENDING)
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .annotate(phone_text=Cast("phone", CharField()))
            .order_by("id")
            .values_list("pk", "public_id", "phone_text", "text", "sealed_text", "attempts")
        ]
        if rows:
            Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
                attempts=F("attempts") + 1,
                claimed_until=now + timedelta(seconds=settings.SMS_CLAIM_SECONDS),
            )
    for row in rows:
        row.attempts += 1
    return rows


def _deliver(claimed: _Claimed) -> tuple[SendResult, dict[str, object]]:
    """Call the provider with no lock held; returns the outcome and the columns that record it.

    A secret message is unsealed here and nowhere else, handed to the sender as a ``SecretText`` (which
    logs and stores only its redacted form), scrubbed from any error the provider returns, and its sealed
    copy is wiped (``sealed_text=""``) on every final outcome: sent, failed, or given up after retries.
    """
    text: str = claimed.text
    if claimed.sealed_text:
        try:
            text = unseal(claimed.sealed_text, redacted=claimed.text)
        except SealBroken as exc:
            logger.error("sms %s not sent: %s", claimed.public_id, exc)
            return SendResult(SendOutcome.FAILED), {
                "status": NotificationStatus.FAILED,
                "last_error": str(exc)[:255],
                "claimed_until": None,
                "sealed_text": "",
            }

    def scrub(exc: BaseException) -> str:
        return text.scrub(str(exc)) if isinstance(text, SecretText) else str(exc)

    try:
        provider_id = get_sender().send(claimed.phone, text, reference=str(claimed.public_id))
    except PermanentSendError as exc:
        logger.warning("sms %s failed permanently: %s", claimed.public_id, scrub(exc))
        return SendResult(SendOutcome.FAILED), {
            "status": NotificationStatus.FAILED,
            "last_error": scrub(exc)[:255],
            "claimed_until": None,
            "sealed_text": "",
        }
    except Exception as exc:  # a retryable error, or a sender bug: both are worth another try
        if claimed.attempts >= settings.SMS_MAX_ATTEMPTS:
            logger.warning("sms %s failed after %s attempts", claimed.public_id, claimed.attempts)
            return SendResult(SendOutcome.FAILED), {
                "status": NotificationStatus.FAILED,
                "last_error": f"gave up after {claimed.attempts} attempts: {scrub(exc)}"[:255],
                "claimed_until": None,
                "sealed_text": "",
            }
        delay = retry_delay(claimed.attempts)
        return SendResult(SendOutcome.RETRY, retry_in=delay), {
            "last_error": scrub(exc)[:255],
            "claimed_until": None,
            "send_after": timezone.now() + timedelta(seconds=delay),
        }
    return SendResult(SendOutcome.SENT), {
        "status": NotificationStatus.SENT,
        "sent_at": timezone.now(),
        "provider_message_id": provider_id[:100],
        "last_error": "",
        "claimed_until": None,
        "sealed_text": "",
    }


def _deliver_slice(part: list[_Claimed]) -> list[tuple[_Claimed, SendResult, dict[str, object]]]:
    try:
        return [(claimed, *_deliver(claimed)) for claimed in part]
    finally:
        connections.close_all()  # this thread's own, should the sender have opened one (``simulated``)


def _deliver_all(claimed: list[_Claimed]) -> list[tuple[_Claimed, SendResult, dict[str, object]]]:
    """Up to ``SMS_SEND_CONCURRENCY`` provider calls in flight: at 50 ms a call, one at a time would hold
    a debit chunk's 500 messages for 25 seconds. Inside a transaction (tests) they go one by one on the
    caller's connection, as the sender may read what that transaction wrote."""
    threads = min(settings.SMS_SEND_CONCURRENCY, len(claimed))
    if threads <= 1 or connection.in_atomic_block:
        return [(row, *_deliver(row)) for row in claimed]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sms") as pool:
        parts = pool.map(_deliver_slice, [claimed[i::threads] for i in range(threads)])
        return [item for part in parts for item in part]


_SENT_FIELDS = ("status", "sent_at", "provider_message_id", "last_error", "claimed_until", "sealed_text")


def notifications_send(notification_ids: list[int]) -> dict[int, SendResult]:
    """Send outbox rows that are due and held by nobody else; idempotent for every outcome.

    Claimed in one statement and the sent ones recorded in one more, so a debit chunk's 500 messages cost
    two transactions rather than a thousand; each message still goes to the provider on its own, with our
    message id for the provider to deduplicate. A row not sent (held elsewhere, not due, already sent) is
    ``SKIPPED``.
    """
    results = dict.fromkeys(notification_ids, SendResult(SendOutcome.SKIPPED))
    sent: list[tuple] = []
    for claimed, result, fields in _deliver_all(_claim(list(notification_ids), timezone.now())):
        results[claimed.pk] = result
        if result.outcome == SendOutcome.SENT:
            sent.append((claimed.pk, *(fields[name] for name in _SENT_FIELDS)))
        else:
            Notification.objects.filter(pk=claimed.pk, status=NotificationStatus.PENDING).update(**fields)
    update_rows(Notification, _SENT_FIELDS, sent)
    return results


def notification_send(*, notification_id: int) -> SendResult:
    """Send one outbox row if it is due and nobody else holds it; idempotent for every outcome."""
    return notifications_send([notification_id])[notification_id]


def notifications_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending rows that should have gone and are not held: quiet hours over, lost messages, retries.

    Rows younger than a minute are left to the message enqueued when they were written.
    """
    now = now or timezone.now()
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING)
        .filter(
            Q(send_after__isnull=True, created_at__lt=now - timedelta(minutes=1)) | Q(send_after__lte=now)
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def _is_secret(template_code: str) -> bool:
    template = TEMPLATES.get(template_code)
    return template is None or bool(template.secret_keys)  # an unknown template: assume the worst


def notification_resend(*, notification: Notification) -> Notification:
    """Staff resend a failed message: it goes back to pending with fresh attempts."""
    if notification.status != NotificationStatus.FAILED:
        raise ApplicationError(NotificationsError.NOT_FAILED, _("Only a failed message can be sent again."))
    if notification.sealed_text or _is_secret(notification.template_code):
        raise ApplicationError(
            NotificationsError.SECRET_EXPIRED,
            _("A message with a one-time code is not resent; ask for a new code."),
        )
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk, status=NotificationStatus.FAILED).update(
            status=NotificationStatus.PENDING, attempts=0, send_after=None, claimed_until=None
        )
        _enqueue_after_commit(notification.pk)
    notification.refresh_from_db()
    return notification

"""The SMS outbox: writing, rendering, masking, quiet hours, limits, sending, retries and the sweep."""

from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from config.celery import app
from core.errors import ApplicationError
from notifications.messages import SMS_LIMITS, TEMPLATES, render_message
from notifications.models import Notification, NotificationCategory, NotificationStatus
from notifications.quiet_hours import quiet_hours_release
from notifications.selectors import notification_inbox
from notifications.senders import InMemorySender
from notifications.services import (
    NotificationRequest,
    SendOutcome,
    _counted_today,
    notification_create,
    notification_resend,
    notification_send,
    notifications_create_bulk,
    notifications_due,
    notifications_send,
    recipients,
    retry_delay,
)
from notifications.tasks import sweep_notifications
from simulators.models import SimulatedSms

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 11, 28, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def memory_sender(settings):
    settings.SMS_SENDER = "memory"
    InMemorySender.reset()
    yield InMemorySender
    InMemorySender.reset()


def _create(user: User, key: str = "k1", code: str = "repayment_received", **kwargs) -> Notification:
    context = kwargs.pop(
        "context", {"plan": "手机分期", "amount": Decimal("106.00"), "remaining": Decimal("954.00")}
    )
    return notification_create(user=user, code=code, context=context, dedupe_key=key, **kwargs)


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_template_renders_in_both_languages(code: str, language: str) -> None:
    template = TEMPLATES[code]
    text = render_message(template, language=language, context={**template.sample, "name": "张*"})
    signature = "【分期还款】" if language == "zh-hans" else "【FenqiPay】"
    assert text.startswith(signature)
    assert "{" not in text
    assert "}" not in text
    assert len(text) <= SMS_LIMITS[language], (len(text), text)
    if language == "en":
        assert not re.search(r"[\u4e00-\u9fff]", template.en), template.en


def test_values_are_formatted_for_the_language() -> None:
    template = TEMPLATES["due_reminder"]
    context = {
        "name": "张*",
        "plan": "P",
        "seq": 2,
        "amount": Decimal("1234.5"),
        "due_date": date(2026, 12, 5),
    }
    zh = render_message(template, language="zh-hans", context=context)
    en = render_message(template, language="en", context=context)
    assert "¥1,234.50" in zh
    assert "12月5日" in zh
    assert "¥1,234.50" in en
    assert "5 Dec" in en


def test_failed_debit_says_why_and_what_to_do() -> None:
    template = TEMPLATES["autodebit_failed"]
    context = {"amount": Decimal("106.00"), "card_last4": "1234", "reason": "insufficient_funds"}
    zh = render_message(template, language="zh-hans", context=context)
    en = render_message(template, language="en", context=context)
    assert "余额不足" in zh
    assert "充值" in zh
    assert "insufficient balance" in en
    assert "top up" in en


def test_missing_context_and_floats_are_refused() -> None:
    with pytest.raises(KeyError):
        render_message(TEMPLATES["repayment_received"], language="zh-hans", context={"plan": "P"})
    with pytest.raises(TypeError):
        render_message(
            TEMPLATES["repayment_received"],
            language="zh-hans",
            context={"plan": "P", "amount": 1.5, "remaining": Decimal("1.00")},
        )


# --- create -------------------------------------------------------------------------------------


def test_text_is_in_the_users_language_and_masked(customer, django_capture_on_commit_callbacks) -> None:
    customer.language = "en"
    customer.save()
    with django_capture_on_commit_callbacks() as callbacks:
        n = notification_create(
            user=customer,
            code="overdue_reminder",
            context={"plan": "Order 6222021234567890123", "days": 3, "amount": Decimal("10.00")},
            dedupe_key="masking",
            send_after=timezone.now() + timedelta(hours=1),
        )
    assert n.language == "en"
    assert "Dear 张*" in n.text
    assert "张三" not in n.text
    assert "6222021234567890123" not in n.text
    assert "****0123" in n.text
    assert str(customer.phone)[3:] not in n.text
    assert callbacks == []  # send_after in the future: the sweep sends it, not an immediate task


def test_same_dedupe_key_writes_one_message(customer, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        first = _create(customer, key="repayment:42")
        second = _create(customer, key="repayment:42")
    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    assert len(callbacks) == 1


def test_rolled_back_event_writes_no_message(customer) -> None:
    def event_that_fails() -> None:
        with transaction.atomic():
            _create(customer, key="rolled-back")
            raise RuntimeError("the repayment failed")

    with pytest.raises(RuntimeError, match="the repayment failed"):
        event_that_fails()
    assert not Notification.objects.filter(dedupe_key="rolled-back").exists()


def test_one_message_and_a_batch_write_the_same_row_and_share_the_daily_limit(customer, settings) -> None:
    """One writer: ``notification_create`` is a batch of one through ``notifications_create_bulk``'s rules."""
    settings.SMS_DAILY_LIMIT_PER_PHONE = 2
    customer.language = "en"
    customer.save()
    context = {
        "plan": "Order 6222021234567890123",
        "seq": 1,
        "amount": Decimal("10.00"),
        "due_date": date(2026, 12, 1),
    }
    columns = ("phone", "template_code", "language", "text", "category", "status", "send_after", "last_error")
    with time_machine.travel(datetime(2026, 11, 28, 23, 30, tzinfo=SHANGHAI), tick=False):
        one = notification_create(user=customer, code="due_reminder", context=context, dedupe_key="one")
        request = NotificationRequest(recipients([customer.pk])[customer.pk], "due_reminder", context, "many")
        assert notifications_create_bulk([request]) == 1
        notifications_create_bulk([request])  # the key was written: skipped
        assert Notification.objects.filter(dedupe_key="many").count() == 1
        many = Notification.objects.get(dedupe_key="many")
        assert [getattr(one, c) for c in columns] == [getattr(many, c) for c in columns]
        assert one.send_after == datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)
        third = notification_create(user=customer, code="due_reminder", context=context, dedupe_key="third")
    assert third.status == NotificationStatus.SUPPRESSED  # the batch's message counted for the single call
    assert Notification.objects.count() == 3


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "release"),
    [
        (datetime(2026, 11, 28, 20, 59, tzinfo=SHANGHAI), None),
        (datetime(2026, 11, 28, 21, 0, tzinfo=SHANGHAI), datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 28, 23, 59, tzinfo=SHANGHAI), datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 12, 31, 22, 0, tzinfo=SHANGHAI), datetime(2027, 1, 1, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 29, 0, 30, tzinfo=SHANGHAI), datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 29, 7, 59, tzinfo=SHANGHAI), datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI), None),
    ],
)
def test_quiet_hours_window_crosses_midnight(local: datetime, release: datetime | None) -> None:
    got = quiet_hours_release(local, start=dtime(21), end=dtime(8), tz=SHANGHAI)
    assert got == release


def test_quiet_hours_daytime_window_and_none() -> None:
    at = datetime(2026, 11, 28, 13, 0, tzinfo=SHANGHAI)
    assert quiet_hours_release(at, start=dtime(12), end=dtime(14), tz=SHANGHAI) == at.replace(hour=14)
    assert quiet_hours_release(at, start=dtime(8), end=dtime(8), tz=SHANGHAI) is None


def test_reminder_at_night_waits_until_morning_then_sweep_sends_it(customer) -> None:
    context = {"plan": "P", "seq": 1, "amount": Decimal("106.00"), "due_date": date(2026, 12, 1)}
    with time_machine.travel(datetime(2026, 11, 28, 23, 30, tzinfo=SHANGHAI), tick=False):
        reminder = notification_create(user=customer, code="due_reminder", context=context, dedupe_key="r")
        receipt = _create(customer, key="t")
        assert reminder.send_after == datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)
        assert receipt.send_after is None
        assert notification_send(notification_id=reminder.pk).outcome == SendOutcome.SKIPPED
    with time_machine.travel(datetime(2026, 11, 29, 7, 59, tzinfo=SHANGHAI), tick=False):
        assert reminder.pk not in notifications_due()
    with time_machine.travel(datetime(2026, 11, 29, 8, 0, 1, tzinfo=SHANGHAI), tick=False):
        assert reminder.pk in notifications_due()
        assert notification_send(notification_id=reminder.pk).outcome == SendOutcome.SENT
    reminder.refresh_from_db()
    assert reminder.status == NotificationStatus.SENT
    assert reminder.sent_at >= datetime(2026, 11, 29, 8, 0, tzinfo=SHANGHAI)


# --- rate limit ---------------------------------------------------------------------------------


def test_daily_limit_suppresses_extra_messages_with_reason(customer, settings) -> None:
    settings.SMS_DAILY_LIMIT_PER_PHONE = 3
    with time_machine.travel(NOON, tick=False):
        made = [_create(customer, key=f"m{i}") for i in range(5)]
        code = notification_create(
            user=customer,
            code="otp",
            context={"code": "123456", "purpose": "bind_card", "ttl": 5},
            dedupe_key="otp-x",
        )
    assert [m.status for m in made] == ["pending"] * 3 + ["suppressed"] * 2
    assert "daily limit" in made[-1].last_error
    assert code.status == NotificationStatus.PENDING  # security messages are never suppressed
    assert notification_send(notification_id=made[-1].pk).outcome == SendOutcome.SKIPPED
    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        assert _create(customer, key="next-day").status == NotificationStatus.PENDING


# --- sending and retries ------------------------------------------------------------------------


def test_send_once_and_never_again(customer, memory_sender) -> None:
    n = _create(customer)
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SENT
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SKIPPED
    n.refresh_from_db()
    assert n.status == NotificationStatus.SENT
    assert n.attempts == 1
    assert n.provider_message_id
    assert len(memory_sender.outbox) == 1
    assert memory_sender.outbox[0][1] == n.text


def test_batch_sends_each_due_row_once_in_a_fixed_number_of_queries(
    customer, memory_sender, django_assert_max_num_queries, settings
) -> None:
    """A debit chunk's messages go in one batch: each outcome recorded as for one message, and the
    database work does not grow with the batch (claim + one UPDATE for the sent ones)."""
    settings.SMS_DAILY_LIMIT_PER_PHONE = 100
    rows = [_create(customer, key=f"batch{i}") for i in range(40)]
    held = rows[0]
    Notification.objects.filter(pk=held.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
    memory_sender.fail_next(1, retryable=False)  # the first row sent (rows[1]) fails for good
    memory_sender.fail_next(1, retryable=True)  # the next (rows[2]) is to retry
    ids = [n.pk for n in rows]
    with django_assert_max_num_queries(8):
        results = notifications_send(ids)
    outcomes = [results[pk].outcome for pk in ids]
    assert outcomes[:3] == [SendOutcome.SKIPPED, SendOutcome.FAILED, SendOutcome.RETRY]
    assert outcomes[3:] == [SendOutcome.SENT] * 37
    by_id = {n.pk: n for n in Notification.objects.filter(pk__in=ids)}
    assert by_id[held.pk].status == NotificationStatus.PENDING
    assert by_id[held.pk].attempts == 0
    assert by_id[rows[1].pk].status == NotificationStatus.FAILED
    assert by_id[rows[1].pk].last_error
    assert by_id[rows[2].pk].status == NotificationStatus.PENDING
    assert by_id[rows[2].pk].send_after
    sent = [by_id[n.pk] for n in rows[3:]]
    assert all(n.status == NotificationStatus.SENT and n.attempts == 1 and n.sent_at for n in sent)
    assert all(n.provider_message_id and n.claimed_until is None for n in sent)
    assert sorted(ref for _, _, ref, _ in memory_sender.outbox) == sorted(str(n.public_id) for n in sent)
    # Sent is final: the same batch again sends nothing.
    assert {r.outcome for pk, r in notifications_send(ids[3:]).items()} == {SendOutcome.SKIPPED}
    assert len(memory_sender.outbox) == 37


class _CountingSender:
    """A slow provider that records how many of our calls it had in flight at once."""

    lock = threading.Lock()
    in_flight = 0
    most = 0
    references: ClassVar[list[str]] = []

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        time.sleep(0.02)
        with cls.lock:
            cls.in_flight -= 1
            cls.references.append(reference)
        return f"counting-{reference}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batch_calls_the_provider_concurrently_and_leaves_no_connection_open(customer, settings) -> None:
    settings.SMS_DAILY_LIMIT_PER_PHONE = 100
    settings.SMS_SEND_CONCURRENCY = 4
    rows = [_create(customer, key=f"slow{i}") for i in range(24)]

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()
    settings.SMS_SENDER = f"{__name__}._CountingSender"
    results = notifications_send([n.pk for n in rows])
    assert {r.outcome for r in results.values()} == {SendOutcome.SENT}
    assert _CountingSender.most == 4  # four calls in flight, never more
    assert sorted(_CountingSender.references) == sorted(str(n.public_id) for n in rows)
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 24
    # The simulated provider writes through the database from the sending threads: their connections close.
    settings.SMS_SENDER = "simulated"
    more = [_create(customer, key=f"sim{i}") for i in range(8)]
    assert {r.outcome for r in notifications_send([n.pk for n in more]).values()} == {SendOutcome.SENT}
    assert SimulatedSms.objects.count() == 8
    # A closed connection's server process exits a moment after the client hangs up: wait for that (a
    # leaked connection stays open and still fails here).
    deadline = time.monotonic() + 5
    while backends() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends() == before


@pytest.mark.postgres
def test_daily_limit_of_a_batch_is_looked_up_by_phone_index(customer) -> None:
    """The bulk writer's daily-limit count must not scan the day's messages: by the end of a 1 M-debit
    run that was a million rows for every chunk of 500."""
    _create(customer)
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    query = _counted_today([customer.pk], midnight)
    assert dict(query) == {str(customer.phone): 1}
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "notification_phone_day" in plan, plan


def test_retry_then_success(customer, memory_sender) -> None:
    n = _create(customer)
    memory_sender.fail_next(2, retryable=True)
    first = notification_send(notification_id=n.pk)
    assert first.outcome == SendOutcome.RETRY
    assert first.retry_in > 0
    n.refresh_from_db()
    assert n.status == NotificationStatus.PENDING
    assert n.attempts == 1
    assert n.last_error
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SKIPPED  # backoff not over
    for _ in range(2):
        Notification.objects.filter(pk=n.pk).update(send_after=None)
        notification_send(notification_id=n.pk)
    n.refresh_from_db()
    assert n.status == NotificationStatus.SENT
    assert n.attempts == 3
    assert n.last_error == ""
    assert len(memory_sender.outbox) == 1


def test_retries_exhausted_mark_failed(customer, memory_sender, settings) -> None:
    settings.SMS_MAX_ATTEMPTS = 3
    n = _create(customer)
    memory_sender.fail_next(10, retryable=True)
    outcomes = []
    for _ in range(4):
        Notification.objects.filter(pk=n.pk).update(send_after=None)
        outcomes.append(notification_send(notification_id=n.pk).outcome)
    assert outcomes == [SendOutcome.RETRY, SendOutcome.RETRY, SendOutcome.FAILED, SendOutcome.SKIPPED]
    n.refresh_from_db()
    assert n.status == NotificationStatus.FAILED
    assert "gave up after 3" in n.last_error
    assert memory_sender.outbox == []


def test_backoff_grows_with_jitter(settings) -> None:
    settings.SMS_RETRY_BASE_SECONDS = 10
    settings.SMS_RETRY_MAX_SECONDS = 60
    delays = {attempt: [retry_delay(attempt) for _ in range(50)] for attempt in (1, 2, 3, 8)}
    assert all(5 <= d <= 10 for d in delays[1])
    assert all(10 <= d <= 20 for d in delays[2])
    assert all(30 <= d <= 60 for d in delays[8])
    assert len(set(delays[3])) > 1


def test_permanent_error_fails_at_once_and_staff_can_resend(customer, memory_sender) -> None:
    n = _create(customer)
    memory_sender.fail_next(1, retryable=False)
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.FAILED
    n.refresh_from_db()
    assert n.status == NotificationStatus.FAILED
    notification_resend(notification=n)
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SENT
    with pytest.raises(ApplicationError) as excinfo:
        notification_resend(notification=n)
    assert excinfo.value.code == "not_failed"


def test_one_time_code_is_redacted_once_sent(customer, memory_sender) -> None:
    n = notification_create(
        user=customer,
        code="otp",
        context={"code": "402913", "purpose": "bind_card", "ttl": 5},
        dedupe_key="otp-1",
    )
    assert n.category == NotificationCategory.SECURITY
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SENT
    assert "402913" in memory_sender.outbox[0][1]
    n.refresh_from_db()
    assert "402913" not in n.text
    assert "******" in n.text
    assert not Notification.objects.filter(text__contains="402913").exists()


def test_lost_message_is_found_by_the_sweep(customer) -> None:
    n = _create(customer)  # its on_commit task never ran: as if the message were lost
    assert n.pk not in notifications_due()  # a fresh row is left to its own message
    Notification.objects.filter(pk=n.pk).update(created_at=n.created_at - timedelta(minutes=2))
    assert notifications_due() == [n.pk]
    claimed = Notification.objects.filter(pk=n.pk)
    claimed.update(claimed_until=n.created_at + timedelta(hours=1))
    assert notifications_due() == []  # held by a sender


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_one_row_send_it_once(customer, memory_sender) -> None:
    n = _create(customer)
    barrier = threading.Barrier(6)
    outcomes: list[SendOutcome] = []

    def worker() -> None:
        try:
            barrier.wait()
            outcomes.append(notification_send(notification_id=n.pk).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(SendOutcome.SENT) == 1
    assert len(memory_sender.outbox) == 1


# --- inbox and admin ----------------------------------------------------------------------------


def test_inbox_is_own_newest_first_and_paginated(customer, other_customer, settings) -> None:
    settings.SMS_DAILY_LIMIT_PER_PHONE = 100
    for i in range(25):
        _create(customer, key=f"c{i}")
    _create(other_customer, key="other")
    page = notification_inbox(user=customer, per_page=20)
    assert page.paginator.count == 25
    assert len(page.object_list) == 20
    times = [n.created_at for n in page.object_list]
    assert times == sorted(times, reverse=True)
    assert all(n.pk != Notification.objects.get(dedupe_key="other").pk for n in page.object_list)
    assert len(notification_inbox(user=customer, page=2).object_list) == 5


def test_admin_lists_searches_and_resends(client, customer, memory_sender) -> None:
    staff = User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")
    n = _create(customer)
    memory_sender.fail_next(1, retryable=False)
    notification_send(notification_id=n.pk)
    client.force_login(staff)
    url = reverse("admin:notifications_notification_changelist")
    body = client.get(url, {"q": "13811112222"}).content.decode()
    assert "138****2222" in body
    assert "+8613811112222" not in body
    response = client.post(url, {"action": "resend_failed", "_selected_action": [n.pk]})
    assert response.status_code == 302
    n.refresh_from_db()
    assert n.status == NotificationStatus.PENDING
    assert n.attempts == 0
    detail = client.get(reverse("admin:notifications_notification_change", args=[n.pk])).content.decode()
    assert "已收到您的还款" in detail


# --- a real worker ------------------------------------------------------------------------------


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    """Poll while the worker writes. On SQLite the test database is one in-memory database shared with the
    worker's thread, where a read during a write fails at once ("table is locked") instead of waiting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError:
            pass
        time.sleep(0.1)
    return False


# The worker writes while the test polls: SQLite's shared-cache test database answers "table is locked".
@pytest.mark.postgres
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_sends_outbox_rows_end_to_end(customer, memory_sender) -> None:
    memory_sender.fail_next(1, retryable=True)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with transaction.atomic():
            n = _create(customer, key="e2e")
        assert _wait_for(lambda: Notification.objects.get(pk=n.pk).status == NotificationStatus.SENT)
        # A row whose message was lost goes out through the sweep.
        lost = Notification.objects.create(
            user=customer,
            phone=customer.phone,
            template_code="repayment_received",
            language="zh-hans",
            text="【分期还款】lost",
            category=NotificationCategory.TRANSACTIONAL,
            dedupe_key="lost",
        )
        Notification.objects.filter(pk=lost.pk).update(created_at=lost.created_at - timedelta(minutes=5))
        assert sweep_notifications.delay().get(timeout=20) >= 1
        assert _wait_for(lambda: Notification.objects.get(pk=lost.pk).status == NotificationStatus.SENT)
    sent = Notification.objects.get(pk=n.pk)
    assert sent.attempts == 2  # the first try failed and was retried by the task
    assert [ref for _, _, ref, _ in memory_sender.outbox].count(str(sent.public_id)) == 1


def test_bank_codes_read_in_the_customers_language() -> None:
    template = TEMPLATES["card_bound"]
    context = {"name": "张*", "bank": "CMB", "card_last4": "1234"}
    assert "招商银行尾号1234" in render_message(template, language="zh-hans", context=context)
    assert "China Merchants Bank card ending 1234" in render_message(template, language="en", context=context)

"""One-time SMS codes: issue, deliver through notifications, verify once, expire, throttle."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from accounts.models import OneTimeCode, OtpPurpose
from accounts.services import otp_request, otp_verify
from accounts.signals import otp_issued
from core.errors import ApplicationError
from notifications.models import Notification, NotificationCategory

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def issued() -> Iterator[list[dict]]:
    """The codes issued during a test, as the signal carried them."""
    seen: list[dict] = []

    def receiver(sender, **kwargs) -> None:
        seen.append(kwargs)

    otp_issued.connect(receiver, dispatch_uid="test-otp-issued")
    yield seen
    otp_issued.disconnect(dispatch_uid="test-otp-issued")


def _code(issued: list[dict]) -> str:
    return issued[-1]["code"]


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _at_once(count: int, action: Callable[[], object]) -> list[object]:
    """Run ``action`` on ``count`` threads released together; a refusal comes back as its code.

    Each thread connects before the barrier, so the calls themselves overlap rather than the connection
    setups, and closes its own connection at the end.
    """
    barrier = threading.Barrier(count)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=10)
            try:
                outcome = action()
            except ApplicationError as exc:
                outcome = exc.code
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == count, "a thread did not finish"
    return results


def _refused(error_code: str, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as excinfo:
        otp_verify(**kwargs)
    assert excinfo.value.code == error_code, excinfo.value
    return excinfo.value


def test_request_sends_an_sms_and_verifies_once(customer, issued) -> None:
    otp = otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    assert re.fullmatch(r"\d{6}", code)
    sms = Notification.objects.get(dedupe_key=f"otp:{otp.pk}")
    assert sms.category == NotificationCategory.SECURITY
    assert code not in sms.text
    assert "******" in sms.text
    otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=f" {code[:3]} {code[3:]} ")
    otp.refresh_from_db()
    assert otp.used_at is not None
    _refused("otp_not_requested", user=customer, purpose=OtpPurpose.BIND_CARD, code=code)


def test_no_plain_code_is_stored_or_logged(customer, issued, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with time_machine.travel(T0, tick=False):  # whole seconds: no 6-digit microseconds in the timestamps
        otp = otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        code = _code(issued)
        with pytest.raises(ApplicationError):
            otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=_wrong(code))
        otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=code)
    row = OneTimeCode.objects.filter(pk=otp.pk).values().get()
    assert all(code not in str(value) for value in row.values())
    assert len(row["code_hash"]) == 64
    assert code not in caplog.text
    assert "otp verified" in caplog.text  # the logging ran, so the check above means something


def test_wrong_tries_count_down_and_kill_the_code(customer, issued) -> None:
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    for left in (4, 3, 2, 1):
        error = _refused("otp_invalid", user=customer, purpose=OtpPurpose.BIND_CARD, code=_wrong(code))
        assert str(left) in error.message
    _refused("otp_too_many_attempts", user=customer, purpose=OtpPurpose.BIND_CARD, code="12ab56")
    # Five wrong tries: even the right digits are refused now.
    _refused("otp_too_many_attempts", user=customer, purpose=OtpPurpose.BIND_CARD, code=code)
    assert OneTimeCode.objects.get().attempts == 5


def test_code_expires_after_five_minutes(customer, issued) -> None:
    with time_machine.travel(T0, tick=False):
        otp_request(user=customer, purpose=OtpPurpose.LOGIN_RESET)
    code = _code(issued)
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=1), tick=False):
        _refused("otp_expired", user=customer, purpose=OtpPurpose.LOGIN_RESET, code=code)
    with time_machine.travel(T0 + timedelta(minutes=4, seconds=59), tick=False):
        otp_verify(user=customer, purpose=OtpPurpose.LOGIN_RESET, code=code)


def test_throttle_one_a_minute_and_five_an_hour(customer, issued) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        traveller.shift(timedelta(seconds=1))
        with pytest.raises(ApplicationError) as excinfo:
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        assert excinfo.value.code == "otp_too_soon"
        assert excinfo.value.status == 429
        assert "59" in excinfo.value.message
        # Another purpose has its own budget.
        otp_request(user=customer, purpose=OtpPurpose.LOGIN_RESET)
    for minute in range(1, 5):  # exactly 60 s apart is allowed
        with time_machine.travel(T0 + timedelta(minutes=minute), tick=False):
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        with pytest.raises(ApplicationError) as excinfo:
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        assert excinfo.value.code == "otp_hourly_limit"
        assert excinfo.value.status == 429
        assert "1800" in excinfo.value.message  # the first code leaves the rolling hour at T0 + 60 min
    with time_machine.travel(T0 + timedelta(minutes=60), tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    assert OneTimeCode.objects.filter(purpose=OtpPurpose.BIND_CARD).count() == 6


def test_new_code_supersedes_the_old_one(customer, issued) -> None:
    with time_machine.travel(T0, tick=False):
        first = otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    old = _code(issued)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        new = _code(issued)
        otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=new)
        # The old code is still within its 5 minutes, unused, and would be the newest left: it must not work.
        _refused("otp_not_requested", user=customer, purpose=OtpPurpose.BIND_CARD, code=old)
    first.refresh_from_db()
    assert first.superseded
    assert first.used_at is None


def test_codes_are_per_user_and_purpose(customer, other_customer, issued) -> None:
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    _refused("otp_not_requested", user=other_customer, purpose=OtpPurpose.BIND_CARD, code=code)
    _refused("otp_not_requested", user=customer, purpose=OtpPurpose.ACCEPT_NEGOTIATION, code=code)
    otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=code)


def test_bad_purpose_and_inactive_user_are_refused(customer) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        otp_request(user=customer, purpose="launch_rockets")
    assert excinfo.value.code == "otp_invalid_purpose"
    assert excinfo.value.status == 400
    customer.is_active = False
    customer.save()
    with pytest.raises(ApplicationError) as excinfo:
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    assert excinfo.value.code == "user_inactive"
    assert not OneTimeCode.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_wrong_try_is_committed_although_an_error_is_raised(customer, issued) -> None:
    # No test transaction around this one: what otp_verify commits is what the database keeps.
    otp = otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    _refused("otp_invalid", user=customer, purpose=OtpPurpose.BIND_CARD, code=_wrong(_code(issued)))
    otp.refresh_from_db()
    assert otp.attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_issue_one_code(customer, issued) -> None:
    results = _at_once(10, lambda: otp_request(user=customer, purpose=OtpPurpose.BIND_CARD))
    assert sum(isinstance(r, OneTimeCode) for r in results) == 1
    assert results.count("otp_too_soon") == 9
    assert OneTimeCode.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_verifications_succeed_once(customer, issued) -> None:
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    results = _at_once(5, lambda: otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=code))
    assert results.count(None) == 1  # otp_verify returns nothing when it accepts
    assert results.count("otp_not_requested") == 4

"""One-time SMS codes: issue, deliver through notifications, verify once, expire, throttle."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import OneTimeCode, OtpPurpose
from accounts.services import otp_request, otp_verify
from accounts.signals import otp_issued
from config.errors import ApplicationError
from notifications.models import Notification, NotificationCategory
from tests.concurrency import at_once

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def issued() -> list[dict]:
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
    assert code in sms.text and "绑定银行卡" in sms.text
    otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=f" {code[:3]} {code[3:]} ")
    otp.refresh_from_db()
    assert otp.used_at is not None
    _refused("otp_not_requested", user=customer, purpose=OtpPurpose.BIND_CARD, code=code)


def test_no_plain_code_is_stored(customer, issued) -> None:
    otp = otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    row = OneTimeCode.objects.filter(pk=otp.pk).values().get()
    assert all(code not in str(value) for value in row.values())
    assert len(row["code_hash"]) == 64


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
    with time_machine.travel(T0, tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        with pytest.raises(ApplicationError) as excinfo:
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        assert excinfo.value.code == "otp_too_soon" and excinfo.value.status == 429
        assert "60" in excinfo.value.message
        # Another purpose has its own budget.
        otp_request(user=customer, purpose=OtpPurpose.LOGIN_RESET)
    for minute in range(1, 5):
        with time_machine.travel(T0 + timedelta(minutes=minute, seconds=1), tick=False):
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        with pytest.raises(ApplicationError) as excinfo:
            otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        assert excinfo.value.code == "otp_hourly_limit"
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    assert OneTimeCode.objects.filter(purpose=OtpPurpose.BIND_CARD).count() == 6


def test_new_code_supersedes_the_old_one(customer, issued) -> None:
    with time_machine.travel(T0, tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    old = _code(issued)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
        new = _code(issued)
        if old != new:
            _refused("otp_invalid", user=customer, purpose=OtpPurpose.BIND_CARD, code=old)
        otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=new)
    assert OneTimeCode.objects.filter(superseded=True).count() == 1


def test_codes_are_per_user_and_purpose(customer, other_customer, issued) -> None:
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    _refused("otp_not_requested", user=other_customer, purpose=OtpPurpose.BIND_CARD, code=code)
    _refused("otp_not_requested", user=customer, purpose=OtpPurpose.ACCEPT_NEGOTIATION, code=code)
    otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=code)


def test_bad_purpose_and_inactive_user_are_refused(customer) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        otp_request(user=customer, purpose="launch_rockets")
    assert excinfo.value.code == "otp_invalid_purpose" and excinfo.value.status == 400
    customer.is_active = False
    customer.save()
    with pytest.raises(ApplicationError) as excinfo:
        otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    assert excinfo.value.code == "user_inactive"
    assert not OneTimeCode.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_issue_one_code(customer, issued) -> None:
    results = at_once(10, lambda i: otp_request(user=customer, purpose=OtpPurpose.BIND_CARD))
    assert sum(isinstance(r, OneTimeCode) for r in results) == 1
    assert results.count("otp_too_soon") == 9
    assert OneTimeCode.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_verifications_succeed_once(customer, issued) -> None:
    otp_request(user=customer, purpose=OtpPurpose.BIND_CARD)
    code = _code(issued)
    results = at_once(5, lambda i: otp_verify(user=customer, purpose=OtpPurpose.BIND_CARD, code=code))
    assert results.count(None) == 1  # otp_verify returns nothing when it accepts
    assert results.count("otp_not_requested") == 4

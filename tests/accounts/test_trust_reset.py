"""Password reset tells nobody who is a customer, and is limited per address, per number and site-wide
(review findings 6 and 7)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import OneTimeCode

KNOWN = "13812345678"
UNKNOWN = "13912340000"
NEW = {"new_password": "Brand-new-2026", "new_password2": "Brand-new-2026"}


@pytest.fixture
def post(eager_tasks, django_capture_on_commit_callbacks):
    """POST as the browser does, with the reset's background task run after commit."""

    def _post(client: Client, url: str, data: dict, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data, **extra)

    return _post


def _page(response) -> str:
    """The page without what differs per request (CSRF token)."""
    text = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)


def _ask(post, phone: str, times: int = 1, **extra) -> list:
    client = Client(**extra)
    return [post(client, reverse("accounts:reset_request"), {"phone": phone}) for _ in range(times)], client


def test_asking_twice_answers_alike_for_known_and_unknown_numbers(customer, post, sms_codes) -> None:
    (known, _c1), (unknown, _c2) = _ask(post, KNOWN, 2), _ask(post, UNKNOWN, 2)
    assert len(sms_codes) == 1  # the second request within the minute sends nothing, silently
    for a, b in zip(known, unknown, strict=True):
        assert (a.status_code, a.get("Location")) == (b.status_code, b.get("Location"))
        assert a.status_code == 302
        assert a["Location"] == reverse("accounts:reset")


def test_a_wrong_code_answers_alike_for_known_and_unknown_numbers(customer, post, sms_codes) -> None:
    answers = {}
    for phone in (KNOWN, UNKNOWN):
        _responses, client = _ask(post, phone)
        pages = [post(client, reverse("accounts:reset"), {"code": "000000", **NEW}) for _ in range(2)]
        answers[phone] = [(r.status_code, _page(r)) for r in pages]
    assert answers[KNOWN] == answers[UNKNOWN]
    assert answers[KNOWN][0][0] == 200
    assert 'id="id_code_error"' in answers[KNOWN][0][1]


def test_no_code_waiting_answers_like_a_wrong_code(customer, post) -> None:
    """A known number whose code was never sent (or was used) reads like any wrong code."""
    _responses, client = _ask(post, KNOWN)
    OneTimeCode.objects.all().update(superseded=True)
    no_code = post(client, reverse("accounts:reset"), {"code": "000000", **NEW})
    _responses, stranger = _ask(post, UNKNOWN)
    unknown = post(stranger, reverse("accounts:reset"), {"code": "000000", **NEW})
    assert _page(no_code) == _page(unknown)


def test_a_password_like_the_name_tells_nothing_without_the_code(customer, post) -> None:
    customer.real_name = "zhangsanfeng"
    customer.save(update_fields=["real_name"])
    weak = {"new_password": "zhangsanfeng1", "new_password2": "zhangsanfeng1"}
    pages = []
    for phone in (KNOWN, UNKNOWN):
        _responses, client = _ask(post, phone)
        pages.append(_page(post(client, reverse("accounts:reset"), {"code": "000000", **weak})))
    assert pages[0] == pages[1]


def test_requests_are_limited_per_address_for_unknown_numbers_too(db, post, settings) -> None:
    settings.PASSWORD_RESET_REQUEST_LIMITS = {"address": "3/h", "phone": "100/h", "global": "1000/h"}
    client = Client(REMOTE_ADDR="198.51.100.7")
    numbers = [f"139{n:08d}" for n in range(4)]
    answers = [post(client, reverse("accounts:reset_request"), {"phone": p}) for p in numbers]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    other = Client(REMOTE_ADDR="198.51.100.8")
    assert post(other, reverse("accounts:reset_request"), {"phone": numbers[0]}).status_code == 302


def test_requests_are_limited_per_number_across_addresses(customer, post, settings, sms_codes) -> None:
    settings.PASSWORD_RESET_REQUEST_LIMITS = {"address": "100/h", "phone": "2/h", "global": "1000/h"}
    statuses = [
        post(
            Client(REMOTE_ADDR=f"198.51.100.{n}"), reverse("accounts:reset_request"), {"phone": phone}
        ).status_code
        for phone in (KNOWN, UNKNOWN)
        for n in range(3)
    ]
    assert statuses == [302, 302, 429, 302, 302, 429]


def test_requests_are_limited_site_wide(db, post, settings) -> None:
    settings.PASSWORD_RESET_REQUEST_LIMITS = {"address": "100/h", "phone": "100/h", "global": "3/h"}
    statuses = [
        post(
            Client(REMOTE_ADDR=f"198.51.100.{n}"),
            reverse("accounts:reset_request"),
            {"phone": f"1390000{n:04d}"},
        ).status_code
        for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]


def test_code_tries_are_limited_per_address_across_numbers(customer, post, settings) -> None:
    settings.PASSWORD_RESET_CODE_LIMITS = {"address": "3/h", "phone": "100/h", "global": "1000/h"}
    statuses = []
    for phone in (KNOWN, UNKNOWN):
        _responses, client = _ask(post, phone, REMOTE_ADDR="198.51.100.9")
        statuses += [
            post(client, reverse("accounts:reset"), {"code": "000000", **NEW}).status_code for _ in range(2)
        ]
    assert statuses == [200, 200, 200, 429]


def test_code_tries_are_limited_per_number(customer, post, settings, sms_codes) -> None:
    """Beyond the code's own 5 tries: a new code each time cannot buy unlimited guesses on one number."""
    settings.PASSWORD_RESET_CODE_LIMITS = {"address": "100/h", "phone": "2/h", "global": "1000/h"}
    _responses, client = _ask(post, KNOWN)
    tries = [post(client, reverse("accounts:reset"), {"code": "000000", **NEW}).status_code for _ in range(2)]
    assert tries == [200, 200]
    right_code_too_late = post(client, reverse("accounts:reset"), {"code": sms_codes[0], **NEW})
    assert right_code_too_late.status_code == 429
    customer.refresh_from_db()
    assert customer.check_password("Right-pass-2026")


def test_reset_limits_key_on_the_trusted_client_address(db, post, settings) -> None:
    settings.PASSWORD_RESET_REQUEST_LIMITS = {"address": "2/h", "phone": "100/h", "global": "1000/h"}
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    one = Client(HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.20", **proxy)
    statuses = [
        post(one, reverse("accounts:reset_request"), {"phone": f"1390000{n:04d}"}).status_code
        for n in range(3)
    ]
    assert statuses == [302, 302, 429]
    two = Client(HTTP_X_FORWARDED_FOR="198.51.100.21", **proxy)
    assert post(two, reverse("accounts:reset_request"), {"phone": "13900009999"}).status_code == 302


def test_both_steps_run_the_same_statements_for_known_and_unknown_numbers(customer, post) -> None:
    """The work behind the answer is the same too (a proxy for the timing, which a test cannot pin)."""

    def shape(queries) -> list[str]:
        return [
            re.sub(r"'[^']*'|\"s\d+_x\d+\"|\b\d+\b", "?", q["sql"]).split(" WHERE ")[0][:60] for q in queries
        ]

    seen = {}
    for phone in (KNOWN, UNKNOWN):
        client = Client()
        with CaptureQueriesContext(connection) as step1:
            client.post(reverse("accounts:reset_request"), {"phone": phone})  # the task is not run here
            first = shape(step1.captured_queries)
        post(client, reverse("accounts:reset_request"), {"phone": phone})  # now a code exists (if known)
        with CaptureQueriesContext(connection) as step2:
            client.post(reverse("accounts:reset"), {"code": "000000", **NEW})
            second = shape(step2.captured_queries)
        seen[phone] = (first, second)
    assert seen[KNOWN] == seen[UNKNOWN]
    assert any("FOR UPDATE" in sql or "UPDATE" in sql for sql in seen[KNOWN][1])

"""Sign-in lockout and the client address (review findings 2, 18 and 8).

One account has one failure counter whatever the spelling of its number, on every sign-in surface; a
locked API sign-in answers 429 with Retry-After; the client address comes from one function that trusts
``X-Forwarded-For`` only from ``TRUSTED_PROXY_COUNT`` proxies, for the throttles and the lockout alike.
"""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.models import User
from core.client_ip import client_ip

API = "/api/v1"
STAFF_PASSWORD = "staff-demo-2026"
SPELLINGS = [
    "+86 139 0000 0001",
    "13900000001",
    "+86-139-0000-0001",
    "008613900000001",
    "+86 13900000001",
    "(+86) 139 0000 0001",
    "１３９０００００００１",
]


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("+8613900000001", STAFF_PASSWORD, real_name="客服")


def admin_login(client: Client, username: str, password: str):
    client.get("/admin/login/")
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_admin_lockout_holds_for_every_spelling_of_the_number(staff, settings, spelling) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        admin_login(client, "+8613900000001", "wrong")
    assert admin_login(client, "+8613900000001", STAFF_PASSWORD).status_code == 429
    other_spelling = admin_login(Client(), spelling, STAFF_PASSWORD)
    assert other_spelling.status_code == 429


def test_wrong_guesses_in_many_spellings_share_one_counter(staff, settings) -> None:
    client = Client()
    for spelling in SPELLINGS[: settings.AXES_FAILURE_LIMIT]:
        admin_login(client, spelling, "wrong")
    assert admin_login(client, "+8613900000001", STAFF_PASSWORD).status_code == 429


def test_api_lockout_answers_429_with_retry_after(staff, settings) -> None:
    api = APIClient()
    for spelling in SPELLINGS[: settings.AXES_FAILURE_LIMIT]:
        wrong = api.post(f"{API}/auth/token/", {"phone": spelling, "password": "wrong"}, format="json")
        assert wrong.status_code in (401, 429)
    locked = api.post(
        f"{API}/auth/token/", {"phone": "+8613900000001", "password": STAFF_PASSWORD}, format="json"
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert set(locked.json()) == {"code", "message", "fields"}
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert "access" not in locked.json()


def test_web_lockout_page_sends_retry_after(staff, settings) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "13900000001", "password": "wrong"})
    locked = client.post("/login/", {"username": "13900000001", "password": STAFF_PASSWORD})
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


# --- the client address ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, None, "10.0.0.9"),
        (0, "6.6.6.6", "10.0.0.9"),  # nobody trusted: the header is the client's own words
        (1, None, "10.0.0.9"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client wrote 6.6.6.6, our proxy appended .7
        (2, "6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"),
        (1, "not-an-ip", "10.0.0.9"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, trusted, forwarded, expected) -> None:
    settings.TRUSTED_PROXY_COUNT = trusted
    extra = {"REMOTE_ADDR": "10.0.0.9"}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(RequestFactory().get("/", **extra)) == expected


def test_a_forged_forwarded_for_does_not_escape_the_login_throttle(db, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    api = APIClient()
    statuses = [
        api.post(f"{API}/auth/token/", {"phone": "13800000000", "password": "x"}, format="json").status_code
        for _ in range(12)
    ]
    assert 429 in statuses
    forged = api.post(
        f"{API}/auth/token/",
        {"phone": "13800000000", "password": "x"},
        format="json",
        HTTP_X_FORWARDED_FOR="10.9.9.1",
    )
    assert forged.status_code == 429


def test_behind_the_proxy_one_client_cannot_lock_out_another(staff, settings) -> None:
    """With TRUSTED_PROXY_COUNT=1 every request comes from the proxy's address; the lockout must key on
    the forwarded client, so an attacker's wrong guesses do not lock the real user out."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = Client(HTTP_X_FORWARDED_FOR="198.51.100.66", **proxy)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/login/", {"username": "13900000001", "password": "wrong"})
    right = {"username": "13900000001", "password": STAFF_PASSWORD}
    assert attacker.post("/login/", right).status_code == 429
    owner = Client(HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)
    assert owner.post("/login/", right).status_code == 302


def test_behind_the_proxy_the_login_throttle_counts_per_client(db, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    noisy = APIClient(HTTP_X_FORWARDED_FOR="198.51.100.66", **proxy)
    for _ in range(12):
        noisy.post(f"{API}/auth/token/", {"phone": "13800000000", "password": "x"}, format="json")
    quiet = APIClient(HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy)
    answer = quiet.post(f"{API}/auth/token/", {"phone": "13800000000", "password": "x"}, format="json")
    assert answer.status_code == 401

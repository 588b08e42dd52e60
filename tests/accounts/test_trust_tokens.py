"""API tokens die when they should (review finding 5, and the deleted-user refresh of finding 13).

A refresh token works once (rotation blacklists it), logout ends it, and a password change on any surface
(the reset page, the admin's set-password, ``set_password`` anywhere) ends every token issued before.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import User
from accounts.signals import otp_issued
from accounts.tasks import flush_expired_tokens
from tests.concurrency import at_once

API = "/api/v1"
PASSWORD = "Api-pass-2026"


@pytest.fixture
def user(db) -> User:
    return User.objects.create_user("+8613812345678", PASSWORD, real_name="张三")


def sign_in(phone: str = "13812345678", password: str = PASSWORD) -> dict:
    response = APIClient().post(f"{API}/auth/token/", {"phone": phone, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return APIClient().post(f"{API}/auth/token/refresh/", {"refresh": token}, format="json")


def me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(f"{API}/me/")


def assert_token_refused(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == "token_not_valid"
    assert set(body) == {"code", "message", "fields"}


def test_a_rotated_refresh_token_cannot_be_used_again(user) -> None:
    tokens = sign_in()
    first = refresh(tokens["refresh"])
    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != tokens["refresh"]
    assert_token_refused(refresh(tokens["refresh"]))
    assert_token_refused(refresh(tokens["refresh"]))
    # the new one works, once
    second = refresh(first.json()["refresh"])
    assert second.status_code == 200
    assert me(second.json()["access"]).status_code == 200


def test_logout_ends_the_refresh_token(user) -> None:
    tokens = sign_in()
    out = APIClient().post(f"{API}/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert out.status_code == 204
    assert_token_refused(refresh(tokens["refresh"]))


def test_logout_everywhere_ends_every_token_of_the_account(user) -> None:
    phone_tokens, laptop_tokens = sign_in(), sign_in()
    out = APIClient().post(
        f"{API}/auth/logout/", {"refresh": phone_tokens["refresh"], "everywhere": True}, format="json"
    )
    assert out.status_code == 204
    assert_token_refused(me(laptop_tokens["access"]))
    assert_token_refused(refresh(laptop_tokens["refresh"]))
    assert me(sign_in()["access"]).status_code == 200


def test_logout_with_a_forged_token_is_refused(user) -> None:
    response = APIClient().post(f"{API}/auth/logout/", {"refresh": "not-a-token"}, format="json")
    assert_token_refused(response)


def test_set_password_anywhere_ends_every_token_issued_before(user) -> None:
    tokens = sign_in()
    assert me(tokens["access"]).status_code == 200
    user.set_password("Changed-pass-2026")
    user.save()
    assert_token_refused(me(tokens["access"]))
    assert_token_refused(refresh(tokens["refresh"]))
    fresh = sign_in(password="Changed-pass-2026")
    assert me(fresh["access"]).status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200


def test_password_reset_page_ends_every_token(
    client, user, django_capture_on_commit_callbacks, eager_tasks
) -> None:
    codes: list[str] = []

    def receive(sender, **kwargs) -> None:
        codes.append(kwargs["code"])

    otp_issued.connect(receive, dispatch_uid="test-trust-tokens")
    try:
        tokens = sign_in()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("accounts:reset_request"), {"phone": "13812345678"})
        assert len(codes) == 1
        done = client.post(
            reverse("accounts:reset"),
            {"code": codes[0], "new_password": "Brand-new-2026", "new_password2": "Brand-new-2026"},
        )
        assert done.status_code == 302
    finally:
        otp_issued.disconnect(dispatch_uid="test-trust-tokens")
    assert_token_refused(me(tokens["access"]))
    assert_token_refused(refresh(tokens["refresh"]))


def test_admin_set_password_ends_every_token(client, user) -> None:
    admin = User.objects.create_superuser("+8613900000000", "admin-pw-1234", real_name="客服")
    tokens = sign_in()
    client.force_login(admin)
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = client.post(
        url, {"password1": "Staff-set-2026!", "password2": "Staff-set-2026!", "usable_password": "true"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.check_password("Staff-set-2026!")
    assert_token_refused(me(tokens["access"]))
    assert_token_refused(refresh(tokens["refresh"]))


def test_refresh_token_of_a_deleted_user_is_401_json(user) -> None:
    tokens = sign_in()
    User.objects.filter(pk=user.pk).delete()
    response = refresh(tokens["refresh"])
    assert response.status_code == 401
    assert response.json()["code"] in {"token_not_valid", "authentication_failed"}


def test_the_database_keeps_no_usable_refresh_token(user) -> None:
    tokens = sign_in()
    rotated = refresh(tokens["refresh"]).json()
    stored = list(OutstandingToken.objects.values_list("token", flat=True))
    assert stored
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", text) for text in stored)
    assert tokens["refresh"] not in stored
    assert rotated["refresh"] not in stored


def test_logout_is_in_the_openapi_schema(client, db) -> None:
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/auth/logout/" in schema


def test_expired_refresh_tokens_leave_the_blacklist_tables(user) -> None:
    old, live = sign_in(), sign_in()
    refresh(old["refresh"])  # blacklisted, then expired below
    OutstandingToken.objects.exclude(user=None).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh = sign_in()
    assert flush_expired_tokens() >= 3
    assert OutstandingToken.objects.count() == 1
    assert refresh(fresh["refresh"]).status_code == 200
    assert live  # signed in before the cut: its row is gone and its token past its (forced) expiry


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_refreshes_with_one_token_give_one_new_pair() -> None:
    """The blacklist row decides: of four refreshes racing with one token, one wins."""
    User.objects.create_user("+8613812345678", PASSWORD, real_name="张三")
    tokens = sign_in()
    statuses = at_once(4, lambda _i: refresh(tokens["refresh"]).status_code)
    assert sorted(statuses) == [200, 401, 401, 401]


def test_staff_changing_their_own_password_ends_their_api_tokens(client, db) -> None:
    """/admin/password_change/ (the web's password change): API tokens die, this session stays."""
    staff = User.objects.create_superuser("+8613900000000", "admin-pw-1234", real_name="客服")
    tokens = sign_in("13900000000", "admin-pw-1234")
    client.force_login(staff)
    changed = client.post(
        "/admin/password_change/",
        {
            "old_password": "admin-pw-1234",
            "new_password1": "Admin-new-2026!",
            "new_password2": "Admin-new-2026!",
        },
    )
    assert changed.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert_token_refused(me(tokens["access"]))
    assert_token_refused(refresh(tokens["refresh"]))

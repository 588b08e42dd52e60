"""Sign in (with lockout), sign out and resetting the password with an SMS code, through the pages."""

from __future__ import annotations

from django.urls import reverse


def test_sign_in_and_out(client, customer) -> None:
    login = reverse("accounts:login")
    page = client.get(login).content.decode()
    assert 'autocomplete="current-password"' in page
    assert "csrfmiddlewaretoken" in page
    wrong = client.post(login, {"username": "13812345678", "password": "nope"})
    assert wrong.status_code == 200
    assert "form-errors" in wrong.content.decode()
    ok = client.post(login, {"username": "13812345678", "password": "Right-pass-2026"})
    assert ok.status_code == 302
    assert ok["Location"] == reverse("repayments:account")
    assert client.get(reverse("repayments:account")).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("repayments:account")).status_code == 302


def test_lockout_after_repeated_wrong_passwords(client, customer, settings) -> None:
    login = reverse("accounts:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(login, {"username": "13812345678", "password": "nope"})
    locked = client.post(login, {"username": "13812345678", "password": "Right-pass-2026"})
    assert locked.status_code == 429
    assert reverse("accounts:reset_request") in locked.content.decode()
    assert client.get(reverse("repayments:account")).status_code == 302  # still signed out


def test_a_wrong_password_says_how_many_tries_are_left(client, customer, settings) -> None:
    """The error speaks of a phone and a password (not "case-sensitive" usernames) and warns before the
    pause; a spelling of the same number counts against the same account."""
    login = reverse("accounts:login")
    settings.AXES_FAILURE_LIMIT = 5
    first = client.post(login, {"username": "13812345678", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en")
    text = first.content.decode()
    assert "The mobile number or the password is wrong." in text
    assert "4 more wrong tries pause sign-in for 15 minutes." in text
    assert "case-sensitive" not in text
    spelled = client.post(
        login, {"username": "+86 138 1234 5678", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "3 more wrong tries" in spelled.content.decode()
    for _ in range(2):
        last = client.post(login, {"username": "13812345678", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "1 more wrong try pauses sign-in for 15 minutes." in last.content.decode()


def test_a_bad_number_gets_a_mobile_example(client, db) -> None:
    page = client.post(
        reverse("accounts:login"), {"username": "12345", "password": "x"}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Enter a mainland mobile number, for example 138 0013 8000." in page


def test_reset_the_password_with_an_sms_code(
    client, customer, sms_codes, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        start = client.post(reverse("accounts:reset_request"), {"phone": "13812345678"})
    assert start.status_code == 302
    assert len(sms_codes) == 1
    url = reverse("accounts:reset")
    mismatch = client.post(
        url, {"code": sms_codes[0], "new_password": "Brand-new-2026", "new_password2": "x"}
    )
    assert mismatch.status_code == 200
    assert "id_new_password2_error" in mismatch.content.decode()
    wrong_code = client.post(
        url, {"code": "000000", "new_password": "Brand-new-2026", "new_password2": "Brand-new-2026"}
    )
    assert wrong_code.status_code == 200
    assert "id_code_error" in wrong_code.content.decode()
    done = client.post(
        url, {"code": sms_codes[0], "new_password": "Brand-new-2026", "new_password2": "Brand-new-2026"}
    )
    assert done.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password("Brand-new-2026")


def test_reset_says_the_same_for_unknown_numbers(
    client, db, sms_codes, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:reset_request"), {"phone": "13900001111"}, follow=True)
    assert response.status_code == 200
    assert sms_codes == []
    assert "a code is on its way" in response.content.decode() or "验证码" in response.content.decode()

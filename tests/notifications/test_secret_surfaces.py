"""A one-time code is readable on the phone and nowhere else (review findings 3, 4 and 9).

Every surface is walked for an OTP message in each state it can be in (pending, retrying, sent through
each sender, failed permanently, given up after retries): the customer's pages and API, the SMS admin's
list and change views for an agent and a superuser, the support workspace, the log, and the raw database
rows. The code must appear in none of them, while the phone (the in-memory sender) still receives it.
"""

from __future__ import annotations

import logging
from string import Formatter

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import OtpPurpose, User
from notifications.messages import TEMPLATES, render_message
from notifications.models import Notification, NotificationStatus
from notifications.sealing import REDACTED, SealBroken, SecretText, seal, shown, unseal
from notifications.senders import ConsoleSender, InMemorySender, PermanentSendError
from notifications.services import SendOutcome, notification_create, notification_send
from repayments.staff import AGENT
from simulators.models import SimulatedSms
from tests.installments.negotiation_support import staff_user
from tests.otp import CodeCatcher

SECRET_TEMPLATES = [t for t in TEMPLATES.values() if t.secret_keys]
# Placeholder names that can only hold a secret: a template using one must declare it secret.
SECRET_NAMES = {"code", "otp", "password", "pin", "token", "secret"}


@pytest.fixture
def phone(settings):
    """The customer's phone: the in-memory sender keeps the full text of what it was sent."""
    settings.SMS_SENDER = "memory"
    InMemorySender.reset()
    yield InMemorySender
    InMemorySender.reset()


@pytest.fixture
def codes():
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


def _otp_row(codes: CodeCatcher, user: User, purpose: str) -> tuple[Notification, str]:
    code = codes.request(user, purpose)
    return Notification.objects.filter(user=user, template_code="otp").order_by("-id").first(), code


def _raw_rows() -> list[str]:
    """Every column of every outbox and simulated-provider row as the database returns it (a dump, a
    replica, a support query), except the sealed column, which is checked on its own below."""
    out = []
    for table in (Notification._meta.db_table, SimulatedSms._meta.db_table):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            names = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                out += [str(v) for name, v in zip(names, row, strict=True) if name != "sealed_text"]
    return out


def test_a_code_is_readable_on_the_phone_only(
    client, customer, codes, phone, settings, caplog, tmp_path
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.SMS_MAX_ATTEMPTS = 2
    secrets: list[str] = []

    # pending: written, its SMS not sent yet (the worker is behind, or the provider is down)
    _pending, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    secrets.append(code)

    # retrying: the provider failed once, the row waits for its next try
    retrying, code = _otp_row(codes, customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    secrets.append(code)
    phone.fail_next(1, retryable=True)
    assert notification_send(notification_id=retrying.pk).outcome == SendOutcome.RETRY

    # sent to the phone, which got the code
    sent, code = _otp_row(codes, customer, OtpPurpose.ACCEPT_NEGOTIATION)
    secrets.append(code)
    assert notification_send(notification_id=sent.pk).outcome == SendOutcome.SENT
    assert code in phone.outbox[-1].text
    assert REDACTED not in phone.outbox[-1].text

    # failed at once (provider refused it) and given up on after every retry
    failed, code = _otp_row(codes, customer, OtpPurpose.PHONE_VERIFY)
    secrets.append(code)
    phone.fail_next(1, retryable=False)
    assert notification_send(notification_id=failed.pk).outcome == SendOutcome.FAILED
    gave_up, code = _otp_row(codes, customer, OtpPurpose.LOGIN_RESET)
    secrets.append(code)
    phone.fail_next(2, retryable=True)
    notification_send(notification_id=gave_up.pk)
    Notification.objects.filter(pk=gave_up.pk).update(send_after=None)
    assert notification_send(notification_id=gave_up.pk).outcome == SendOutcome.FAILED

    # sent through the console sender (development's log), the file phone (development by hand) and the
    # simulated provider (a table of ours)
    settings.SMS_SENDER = "console"
    logged, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    secrets.append(code)
    assert notification_send(notification_id=logged.pk).outcome == SendOutcome.SENT
    settings.SMS_SENDER = "file"
    settings.SMS_FILE_DIR = str(tmp_path)
    on_file, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    secrets.append(code)
    assert notification_send(notification_id=on_file.pk).outcome == SendOutcome.SENT
    phone_file = tmp_path / f"{str(customer.phone).lstrip('+')}.txt"
    assert code in phone_file.read_text(encoding="utf-8")  # the developer's phone got it
    settings.SMS_SENDER = "simulated"
    simulated, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    secrets.append(code)
    assert notification_send(notification_id=simulated.pk).outcome == SendOutcome.SENT
    assert SimulatedSms.objects.filter(text__contains=REDACTED).exists()

    rows = {n.pk: n for n in Notification.objects.filter(template_code="otp")}
    assert {n.status for n in rows.values()} == {
        NotificationStatus.PENDING,
        NotificationStatus.SENT,
        NotificationStatus.FAILED,
    }
    assert rows[retrying.pk].status == NotificationStatus.PENDING
    assert rows[retrying.pk].attempts == 1

    surfaces: dict[str, str] = {}
    # the customer's own pages and API (a stolen session or token)
    client.force_login(customer)
    surfaces["/messages/"] = client.get(reverse("notifications:inbox")).content.decode()
    api = APIClient()
    api.force_authenticate(customer)
    surfaces["api notifications"] = api.get("/api/v1/notifications/").content.decode()
    # the SMS admin and the support workspace, for an agent and a superuser
    agent = staff_user("+8613900000801", AGENT)
    boss = User.objects.create_superuser("+8613900000802", "boss-pass-2026", real_name="管理员")
    for who in (agent, boss):
        client.force_login(who)
        pages = {
            "list": reverse("admin:notifications_notification_changelist"),
            "list pending": reverse("admin:notifications_notification_changelist")
            + "?template_code__exact=otp&status__exact=pending",
            "search": reverse("admin:notifications_notification_changelist") + f"?q={customer.phone}",
            "workspace": reverse("admin:support_customer", args=[customer.pk]),
            **{f"change {pk}": reverse("admin:notifications_notification_change", args=[pk]) for pk in rows},
            **{
                f"history {pk}": reverse("admin:notifications_notification_history", args=[pk]) for pk in rows
            },
        }
        if who.is_superuser:
            pages["codes"] = reverse("admin:accounts_onetimecode_changelist")
        for name, url in pages.items():
            response = client.get(url)
            assert response.status_code == 200, (who, name)
            surfaces[f"{who.pk} {name}"] = response.content.decode()
    # the logs of everything above (web, worker, senders) and the raw rows
    surfaces["log"] = caplog.text
    surfaces["db"] = "\n".join(_raw_rows())

    for name, text in surfaces.items():
        for code in secrets:
            assert code not in text, f"code {code} readable in {name}"
    assert all(REDACTED in surfaces[f"{agent.pk} change {pk}"] for pk in rows)  # the pages show the rows

    # the sealed copy: ciphertext while the row may still be sent, wiped on every final outcome
    for row in rows.values():
        if row.status == NotificationStatus.PENDING:
            assert row.sealed_text
            assert "【" not in row.sealed_text
            assert any(code in unseal(row.sealed_text, redacted=row.text) for code in secrets)
        else:
            assert row.sealed_text == ""


def test_a_retry_sends_the_full_code_after_a_failure(customer, codes, phone) -> None:
    row, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    phone.fail_next(1, retryable=True)
    assert notification_send(notification_id=row.pk).outcome == SendOutcome.RETRY
    Notification.objects.filter(pk=row.pk).update(send_after=None)
    assert notification_send(notification_id=row.pk).outcome == SendOutcome.SENT
    assert code in phone.outbox[-1].text
    row.refresh_from_db()
    assert code not in row.text
    assert row.sealed_text == ""


@pytest.mark.parametrize("template", SECRET_TEMPLATES, ids=lambda t: t.code)
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_secret_template_is_stored_redacted(customer, phone, template, language) -> None:
    customer.language = language
    customer.save(update_fields=["language"])
    context = dict(template.sample)
    key = f"s-{template.code}"
    n = notification_create(user=customer, code=template.code, context=context, dedupe_key=key)
    full = render_message(template, language=language, context={**context, "name": customer.masked_name})
    for key in template.secret_keys:
        assert str(context[key]) in full
        assert str(context[key]) not in n.text
    assert REDACTED in n.text
    assert full not in n.sealed_text
    assert notification_send(notification_id=n.pk).outcome == SendOutcome.SENT
    assert phone.outbox[-1].text == full


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=lambda t: t.code)
def test_a_template_naming_a_secret_declares_it(template) -> None:
    """The class behind findings 3/4: a new template with a code in it cannot forget to be secret."""
    for body in (template.zh, template.en):
        names = {key for _, key, _, _ in Formatter().parse(body) if key}
        assert names & SECRET_NAMES <= set(template.secret_keys), template.code


def test_console_sender_logs_the_redacted_text(caplog) -> None:
    caplog.set_level(logging.INFO, logger="notifications.sms")
    text = SecretText(
        "验证码402913，用于绑定银行卡",
        redacted="验证码******，用于绑定银行卡",
        secrets=("402913",),
    )
    ConsoleSender().send("+8613811112222", text)
    assert "402913" not in caplog.text
    assert "验证码******" in caplog.text
    assert shown(text) == text.redacted
    assert "402913" not in repr(text)


def test_a_sealed_text_opens_after_a_key_rotation_and_not_without_its_key(settings) -> None:
    token = seal("验证码402913", secrets=["402913"])
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    assert unseal(token, redacted="验证码******") == "验证码402913"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(SealBroken):
        unseal(token, redacted="验证码******")


def test_a_provider_error_echoing_the_text_is_scrubbed(customer, codes, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings.SMS_SENDER = "tests.notifications.test_secret_surfaces.EchoingProvider"
    row, code = _otp_row(codes, customer, OtpPurpose.BIND_CARD)
    assert notification_send(notification_id=row.pk).outcome == SendOutcome.FAILED
    row.refresh_from_db()
    assert "rejected" in row.last_error
    assert code not in row.last_error
    assert code not in caplog.text


class EchoingProvider:
    """A provider whose error message quotes the text it was given."""

    def send(self, phone: str, text: str, *, reference: str = "") -> str:
        raise PermanentSendError(f"rejected: {text!s}")

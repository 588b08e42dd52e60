"""Issue 19, item 8 (readable admin): every list and detail page of the repayments, installments (outside
the negotiation workspace), notifications and accounts admin, rendered with data for a Chinese and an
English staff member, shows states, reasons and events in words and every amount as ¥1,234.56."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.audit import staff_action_record
from accounts.models import OtpPurpose, User
from core.errors import ApplicationError
from installments.models import ChargeOffUndo, ChargeOffUndoState, DelinquencyBucket
from installments.models.journal import Account
from notifications.messages import TEMPLATE_NAMES, TEMPLATES
from repayments.labels import EVENT_KINDS, REASONS, WEBHOOK_KINDS
from repayments.models import (
    BankWebhookEvent,
    BreakState,
    DebitAttempt,
    DebitRun,
    ReconciliationBreak,
    Repayment,
    SettlementFile,
)
from repayments.services import debit_run_inline, repayment_create
from simulators.bank import simulator_set_balance

D = Decimal
OWNED_APPS = {"repayments", "installments", "notifications", "accounts"}
# The negotiation workspace is another slice's (issue 19, item 4).
NOT_OURS = {"negotiationapplication", "negotiationdocument", "negotiationevent", "contactlog"}


class _Text(HTMLParser):
    """The text a person reads as data: no tag, attribute, script, style, select option (a form's
    choices) or help text (which explains a rate with "0.12 = 12%")."""

    SKIPPED = frozenset({"script", "style", "select", "textarea"})

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._skip = 0
        self._open: list[bool] = []  # per open div: whether it started a skipped part

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIPPED:
            self._skip += 1
        elif tag == "div":
            skipped = "help" in (dict(attrs).get("class") or "").split()
            self._open.append(skipped)
            self._skip += skipped

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self._skip -= 1
        elif tag == "div" and self._open:
            self._skip -= self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.nodes.append(data.strip())


def texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.nodes


BARE_AMOUNT = re.compile(r"(?<![¥\d,.])\d{1,3}(?:,?\d{3})*\.\d{2}(?![\d%])")


def bare_amounts(html: str) -> list[str]:
    return [node for node in texts(html) if BARE_AMOUNT.search(node)]


def raw_codes() -> set[str]:
    """Every stored code of the pages' models that a person should never read as is."""
    codes: set[str] = set(EVENT_KINDS) | set(WEBHOOK_KINDS) | set(REASONS) | set(TEMPLATES)
    codes |= set(OtpPurpose.values)
    for model in admin.site._registry:
        if model._meta.app_label not in OWNED_APPS:
            continue
        for field in model._meta.concrete_fields:
            if field.choices:
                codes |= {str(value) for value, _label in field.flatchoices}
    # Glossary terms staff use as they are (M0-M3+), account numbers, language codes.
    codes -= set(DelinquencyBucket.values) | set(Account.values) | {"en", "zh-hans"}
    return {code for code in codes if code and not code.isdigit()}


def codes_shown(html: str, codes: set[str], *, english: bool) -> list[str]:
    """In Chinese every code is a leak; in English a one-word code ("pending") is its own label, so only
    the compound ones ("late_succeeded", "charge.declined") count."""
    found = []
    for node in texts(html):
        if ":" in node and "_" in node and " " not in node:
            continue  # an identifier (a dedupe key such as "repayment_received:<uuid>"), not a label
        for code in codes:
            compound = "_" in code or "." in code
            if english and not compound:
                continue
            if node == code or (compound and re.search(rf"(?<![\w.]){re.escape(code)}(?![\w.])", node)):
                found.append(f"{code!r} in {node!r}")
    return found


@pytest.fixture
def zh_staff(db) -> User:
    return User.objects.create_superuser(
        "+8613900000011", "admin-pw-1234", real_name="客服", language="zh-hans"
    )


@pytest.fixture
def en_staff(db) -> User:
    return User.objects.create_superuser("+8613900000012", "admin-pw-1234", real_name="Ann", language="en")


@pytest.fixture
def workspace(customer, card, late_plan, overdue_plan, codes, zh_staff, client) -> dict[str, object]:
    """A day of the service: a payment, a failed one, a reversal (through the admin), debit runs and
    attempts, a settlement file and its break, a bank notification, SMS, a code, a charge-off undo."""
    today = timezone.localdate()
    paid = repayment_create(
        customer=customer, plan=late_plan, mode="due_now", card=card, channel="web", idempotency_key="r1"
    )
    simulator_set_balance(card.gateway_token, D("0.00"))
    try:
        repayment_create(
            customer=customer,
            plan=overdue_plan,
            mode="due_now",
            card=card,
            channel="web",
            idempotency_key="r2",
        )
    except ApplicationError:
        pass
    failed = Repayment.objects.get(idempotency_key="r2")
    client.force_login(zh_staff)
    reverse_url = reverse("admin:repayments_repayment_reverse", args=[paid.pk])
    assert client.post(reverse_url, {"reason": "重复扣款"}).status_code == 302
    client.logout()
    debit_run_inline(business_date=today, slot=1)  # nothing due
    run = DebitRun.objects.create(
        business_date=today,
        slot=2,
        status="finished",
        chunks_total=1,
        chunks_done=1,
        attempts=1,
        failed=1,
        amount_charged=D("12345.67"),
        failures_by_reason={"insufficient_funds": 1},
        finished_at=timezone.now(),
    )
    DebitAttempt.objects.create(
        run=run,
        plan=overdue_plan,
        installment=overdue_plan.installments.order_by("sequence").first(),
        business_date=today,
        attempt_number=1,
        card=card,
        amount=D("1234.56"),
        repayment=failed,
        status="failed",
        failure_code="insufficient_funds",
    )
    SettlementFile.objects.create(
        business_date=today - timedelta(days=1),
        fetched_at=timezone.now(),
        line_count=2,
        matched_count=1,
        charged_total=D("2345.67"),
        refunded_total=D("106.00"),
        fee_total=D("1.23"),
    )
    ReconciliationBreak.objects.create(
        business_date=today - timedelta(days=1),
        kind="amount_mismatch",
        severity="critical",
        gateway_key="repayment:abc",
        bank_amount=D("1234.56"),
        book_amount=D("1000.00"),
    )
    BankWebhookEvent.objects.create(event_id="evt-1", kind="charge.insufficient_funds", idempotency_key="k1")
    codes.request(customer, OtpPurpose.CHANGE_AUTODEBIT_CARD)
    ChargeOffUndo.objects.create(
        plan=overdue_plan,
        charged_off_on=today,
        amount=D("2345.67"),
        reason="客户已在网点还款",
        state=ChargeOffUndoState.PENDING_APPROVAL,
        requested_by=zh_staff,
    )
    staff_action_record(staff=zh_staff, customer=customer, action="phone_revealed")
    return {"paid": paid, "failed": failed, "run": run}


def owned_admin_pages() -> list[tuple[str, type[models.Model]]]:
    return [
        (f"{model._meta.app_label}_{model._meta.model_name}", model)
        for model in admin.site._registry
        if model._meta.app_label in OWNED_APPS and model._meta.model_name not in NOT_OURS
    ]


def page_urls(model: type[models.Model]) -> list[str]:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{name}_changelist")
    urls = [changelist, f"{changelist}?{_all_query(model)}"]
    for obj in model._default_manager.order_by("pk")[:2]:
        try:
            urls.append(reverse(f"{name}_change", args=[obj.pk]))
        except NoReverseMatch:
            pass
    return urls


def _all_query(model: type[models.Model]) -> str:
    """Past the queue defaults: every row."""
    model_admin = admin.site._registry[model]
    params = [
        f"{f.parameter_name}=all"
        for f in model_admin.list_filter
        if isinstance(f, type) and hasattr(f, "default") and getattr(f, "parameter_name", "")
    ]
    return "&".join(params)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_owned_admin_page_shows_words_and_yuan(client, workspace, zh_staff, en_staff, language) -> None:
    client.force_login(zh_staff if language == "zh-hans" else en_staff)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language  # staff pick the admin's language themselves
    codes = raw_codes()
    leaks: list[str] = []
    money: list[str] = []
    pages = 0
    for _name, model in owned_admin_pages():
        for url in page_urls(model):
            response = client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            leaks += [f"{url}: {leak}" for leak in codes_shown(html, codes, english=language == "en")]
            money += [f"{url}: {node}" for node in bare_amounts(html)]
            pages += 1
    assert pages > 30
    assert not leaks, "\n".join(leaks)
    assert not money, "\n".join(money)


def test_the_scanners_can_fail() -> None:
    assert bare_amounts("<td>473.09</td><td>¥1,234.56</td><td>12.34%</td>") == ["473.09"]
    assert bare_amounts("<td>1,234.56</td>") == ["1,234.56"]
    assert bare_amounts('<div class="help">0.12 = 12%</div><td>5.00</td>') == ["5.00"]
    assert codes_shown("<td>pending_approval</td>", {"pending_approval"}, english=True)
    assert codes_shown("<td>pending</td>", {"pending"}, english=False)
    assert not codes_shown("<td>pending</td>", {"pending"}, english=True)


def test_the_repayment_page_reads_as_words(client, workspace, zh_staff) -> None:
    client.force_login(zh_staff)
    paid = workspace["paid"]
    html = client.get(reverse("admin:repayments_repayment_change", args=[paid.pk])).content.decode()
    for words in ("事件", "操作人", "已冲正并退款", "编号"):
        assert words in html
    headers = [node.lower() for node in texts(html)]
    assert "actor" not in headers
    assert "public id" not in headers
    failed = workspace["failed"]
    html = client.get(reverse("admin:repayments_repayment_change", args=[failed.pk])).content.decode()
    assert "余额" in html  # the failure's words (insufficient funds), not the code


def test_admin_actions_log_in_words(client, workspace, zh_staff) -> None:
    entry = LogEntry.objects.get(object_id=str(workspace["paid"].pk), action_flag=2)
    assert entry.get_change_message() == "已冲正并退款：重复扣款"
    client.force_login(zh_staff)
    history = reverse("admin:repayments_repayment_history", args=[workspace["paid"].pk])
    assert "已冲正并退款：重复扣款" in client.get(history).content.decode()


def test_every_sms_template_has_a_name() -> None:
    assert set(TEMPLATES) <= set(TEMPLATE_NAMES)


def test_notification_list_names_the_message(client, workspace, zh_staff) -> None:
    client.force_login(zh_staff)
    html = client.get(reverse("admin:notifications_notification_changelist")).content.decode()
    assert "已收到还款" in html  # repayment_received
    assert "短信验证码" in html  # otp


# --- the admin's sections and title ----------------------------------------------------------------


def test_sections_and_title_in_the_staff_language(client, zh_staff, en_staff) -> None:
    client.force_login(zh_staff)
    html = client.get(reverse("admin:index")).content.decode()
    assert ">分期<" in html
    assert ">期数<" not in html
    assert "客服工作台" in html
    assert "Support workspace" not in html
    client.force_login(en_staff)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("admin:index")).content.decode()
    assert ">Installments<" in html
    assert "Support workspace" in html
    assert "客服工作台" not in html


# --- queue defaults --------------------------------------------------------------------------------


def test_repayments_open_on_the_last_seven_days_and_all_stays_reachable(client, workspace, zh_staff) -> None:
    old = workspace["failed"]
    Repayment.objects.filter(pk=old.pk).update(requested_at=timezone.now() - timedelta(days=10))
    client.force_login(zh_staff)
    url = reverse("admin:repayments_repayment_changelist")
    change = reverse("admin:repayments_repayment_change", args=[old.pk])
    assert change not in client.get(url).content.decode()
    assert change in client.get(f"{url}?requested_at_period=all").content.decode()
    listing = client.get(url).content.decode()
    assert "requested_at_period=all" in listing  # the "All" choice is on the page


def test_debit_attempts_open_on_today(client, workspace, zh_staff) -> None:
    attempt = DebitAttempt.objects.get()
    client.force_login(zh_staff)
    url = reverse("admin:repayments_debitattempt_changelist")
    change = reverse("admin:repayments_debitattempt_change", args=[attempt.pk])
    assert change in client.get(url).content.decode()
    DebitAttempt.objects.update(business_date=timezone.localdate() - timedelta(days=1))
    assert change not in client.get(url).content.decode()
    assert change in client.get(f"{url}?business_date_period=all").content.decode()


def test_breaks_open_on_the_open_ones_oldest_first_with_their_age(client, workspace, zh_staff) -> None:
    newer = ReconciliationBreak.objects.create(
        business_date=timezone.localdate(), kind="bank_only", severity="warning", gateway_key="k2"
    )
    closed = ReconciliationBreak.objects.create(
        business_date=timezone.localdate(),
        kind="book_only",
        severity="warning",
        gateway_key="k3",
        state=BreakState.RESOLVED,
        resolution="fixed",
        resolved_at=timezone.now(),
    )
    older = ReconciliationBreak.objects.exclude(pk__in=[newer.pk, closed.pk]).get()
    ReconciliationBreak.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=26))
    client.force_login(zh_staff)
    url = reverse("admin:repayments_reconciliationbreak_changelist")
    html = client.get(url).content.decode()
    older_at = html.index(reverse("admin:repayments_reconciliationbreak_change", args=[older.pk]))
    newer_at = html.index(reverse("admin:repayments_reconciliationbreak_change", args=[newer.pk]))
    assert older_at < newer_at
    assert reverse("admin:repayments_reconciliationbreak_change", args=[closed.pk]) not in html
    assert "1 天 2 小时" in html
    everything = client.get(f"{url}?state__exact=all").content.decode()
    assert reverse("admin:repayments_reconciliationbreak_change", args=[closed.pk]) in everything


def test_charge_off_undos_open_on_those_awaiting_approval(client, workspace, zh_staff) -> None:
    undo = ChargeOffUndo.objects.get()
    client.force_login(zh_staff)
    url = reverse("admin:installments_chargeoffundo_changelist")
    change = reverse("admin:installments_chargeoffundo_change", args=[undo.pk])
    assert change in client.get(url).content.decode()
    ChargeOffUndo.objects.update(
        state=ChargeOffUndoState.REJECTED, decided_by=zh_staff, decided_at=timezone.now(), decision_note="no"
    )
    assert change not in client.get(url).content.decode()
    assert change in client.get(f"{url}?state__exact=all").content.decode()


def test_a_search_or_a_date_drill_down_looks_past_the_default_period(client, workspace, zh_staff) -> None:
    """An agent searching for last month's payment finds it without first choosing "All"."""
    old = workspace["failed"]
    ten_days_ago = timezone.now() - timedelta(days=10)
    Repayment.objects.filter(pk=old.pk).update(requested_at=ten_days_ago)
    client.force_login(zh_staff)
    url = reverse("admin:repayments_repayment_changelist")
    change = reverse("admin:repayments_repayment_change", args=[old.pk])
    assert change in client.get(url, {"q": str(old.public_id)}).content.decode()
    local = timezone.localtime(ten_days_ago)
    drill = {
        "requested_at__year": local.year,
        "requested_at__month": local.month,
        "requested_at__day": local.day,
    }
    assert change in client.get(url, drill).content.decode()
    assert change not in client.get(url, {**drill, "requested_at_period": "today"}).content.decode()


def test_a_view_only_agent_reads_amounts_in_yuan_too(
    client, workspace, agent, flat_product, late_plan
) -> None:
    """With the view right only, every field of a page is read-only: editable amounts (a product's
    minimum principal) are shown as ¥ too, and the pages still open."""
    client.force_login(agent)
    pages = [
        reverse("admin:installments_installmentproduct_change", args=[flat_product.pk]),
        reverse("admin:installments_installmentplan_change", args=[late_plan.pk]),
        reverse("admin:repayments_repayment_change", args=[workspace["paid"].pk]),
        reverse("admin:repayments_debitattempt_changelist") + "?business_date_period=all",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        if url != pages[0]:  # the product page still shows its max APR as a bare "24.00" to view-only staff
            assert not bare_amounts(response.content.decode()), url
    product = client.get(pages[0]).content.decode()
    assert "¥100.00" in product  # the minimum principal, read-only for an agent

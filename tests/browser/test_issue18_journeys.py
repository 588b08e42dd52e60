"""Issue 18's journeys in a real browser, once per account language, each in a browser set to the OTHER
language (the account's ``language`` decides the pages, not the browser).

One customer per language, signed in once, walks the chapters in order; the data each chapter needs is
added just before it (so 我的账户 can show "due in N days", then "due today", then "overdue"):

1. 我的账户: 本期应还 with its deadline and one 立即还款 to step 1; the offer and application banners; per
   plan auto-debit "on · card ending 1234" or "off → turn it on" to the setting.
2. 立即还款 step 1 refuses ¥0, more than the payoff and a date after the next due date beside the field
   (no confirmation page); no ¥0 option; a scheduled payment's result says when it runs.
3. A payment the card cannot cover (the bank service's default balance is ¥60 here): the pay button's
   busy state while the request is in flight, the reason in the page's language, the next steps with the
   hotline, and "pay what the card holds" paying; the footer's hotline on every page visited.
6. 发送验证码 beside the code field: the countdown runs, the inputs stay (binding a card, moving the
   auto-debit to it).
7. 二次分期: what it costs more, and no re-staging without the SMS code; 协商: eligibility before the
   form, an uploaded file kept across a form error; the offer's first / usual / last payment and totals;
   declining asks first.
4. The language switch changes the account (a reload with the other Accept-Language and no language
   cookie still reads the chosen language).

Apart from the walk, per language: 解绑 asks on its own page first (9); the receipt, statement and
certificate downloaded from their pages and read back (8), then /verify signed out; and 发送验证码
without JavaScript keeping the inputs (6).

Screenshots: var/screenshots/j18-<language>-<screen>-<390|1280>.png.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import Browser, Page, Route, expect
from pypdf import PdfReader

from accounts.models import User
from installments.models import (
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    NegotiationApplication,
    NegotiationReason,
    PayoffCertificate,
)
from installments.schedules import add_months
from installments.services import (
    negotiation_apply,
    negotiation_start_review,
    overdue_sweep,
    plan_create,
)
from installments.templatetags.money import yuan
from repayments.models import (
    AutoDebitMandate,
    BankCard,
    Repayment,
    RepaymentChannel,
    RepaymentMode,
    RepaymentStatus,
)
from repayments.selectors import account_overview
from repayments.services import autodebit_set, card_bind_verified, repayment_create
from repayments.services.autodebit import debit_run_inline
from repayments.staff import AGENT
from tests.bank_service import BankProcess
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS
from tests.browser.sessions import sign_in
from tests.cards import CMB_DEBIT, ICBC_DEBIT
from tests.installments.negotiation_support import PDF, send_offer, staff_user
from tests.otp import CodeCatcher

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

PASSWORD = "Journey-pass-2026"
LANGUAGES = ["zh-hans", "en"]
LOCALE = {"zh-hans": "zh-CN", "en": "en-US"}
OTHER = {"zh-hans": "en", "en": "zh-hans"}
CJK = re.compile(r"[\u4e00-\u9fff]")
INSUFFICIENT = "6222020000000015"  # the bank service refuses every charge to it: insufficient funds
CARD_HOLDS = Decimal("60.00")  # every card's balance at the bank service in this walk

# What each language must say (the spec's words, not read back from the catalogue).
WORDS = {
    "zh-hans": {
        "due_label": "本期应还",
        "due_in": r"(\d+)天后到期",
        "due_today": "今天到期",
        "overdue": r"已逾期(\d+)天",
        "repay_now": "立即还款",
        "autodebit_off": "自动还款 未开启",
        "turn_on": "去开启",
        "autodebit_on": "自动还款 已开启 · 尾号{last4}",
        "scheduled": "将于{date} 09:05起（北京时间）从银行卡扣款",
        "insufficient": "余额不足",
        "processing": "处理中…",
        "send_code": "发送验证码",
        "costs_more": "比原计划多付 {amount}",
        "decline_question": "确定拒绝该方案吗",
        "hotline": "客服热线",
        "remaining": "剩余待还",
        "payoff": "提前结清金额",
    },
    "en": {
        "due_label": "Due this period",
        "due_in": r"due in (\d+) days?",
        "due_today": "due today",
        "overdue": r"(\d+) days? overdue",
        "repay_now": "Repay now",
        "autodebit_off": "Auto-debit off",
        "turn_on": "Turn it on",
        "autodebit_on": "Auto-debit on · card ending {last4}",
        "scheduled": "We will charge the card on {date} from 09:05 (Beijing time)",
        "insufficient": "balance is not enough",
        "processing": "Processing…",
        "send_code": "Send code",
        "costs_more": "You pay {amount} more than your current plan",
        "decline_question": "Decline this offer?",
        "hotline": "Customer service",
        "remaining": "Remaining to repay",
        "payoff": "Payoff amount",
    },
}


def long_date(day: date, language: str) -> str:
    """A date as the pages write it (each language's DATE_FORMAT)."""
    with translation.override(language):
        return date_format(day)


@dataclass
class Walk:
    """The customer, the signed-in page and what the walk has seen."""

    language: str
    page: Page
    base: str
    customer: User
    product: InstallmentProduct
    codes: CodeCatcher
    icbc: BankCard
    visited: set[str] = field(default_factory=set)
    remaining: dict[int, str] = field(default_factory=dict)  # 剩余待还 per plan as 我的账户 shows it
    shots: list[str] = field(default_factory=list)

    @property
    def words(self) -> dict[str, str]:
        return WORDS[self.language]

    def go(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None, path
        assert response.ok, f"{path}: {response.status}"

    def shoot(self, name: str) -> None:
        """A key screen: in the account's language, the hotline in the footer, then saved at 390 and 1280
        px (var/screenshots/j18-<language>-<name>-<width>.png)."""
        page = self.page
        expect(page.locator("html")).to_have_attribute("lang", self.language)
        expect(page.locator("footer #service-hotline")).to_have_text(settings.SERVICE_HOTLINE)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            page.screenshot(
                path=str(SCREENSHOTS / f"j18-{self.language}-{name}-{size['width']}.png"), full_page=True
            )
        page.set_viewport_size(PHONE)
        self.shots.append(name)

    def plan(self, description: str, principal: str, tenor: int, purchased: date) -> InstallmentPlan:
        return plan_create(
            customer=self.customer,
            product=self.product,
            principal=Decimal(principal),
            tenor=tenor,
            purchase_date=purchased,
            description=description,
        )

    def in_language(self, text: str) -> None:
        """Chinese text has Chinese characters; English text has none."""
        if self.language == "zh-hans":
            assert CJK.search(text), f"not Chinese: {text!r}"
        else:
            assert not CJK.search(text), f"not English: {text!r}"


def first_due(plan: InstallmentPlan) -> date:
    return Installment.objects.filter(plan=plan).order_by("sequence").values_list("due_date", flat=True)[0]


def purchase_date_due_today(today: date) -> date:
    """A purchase date whose first installment falls due today (a month after it, clipped at month end)."""
    for days in range(27, 32):
        if add_months(today - timedelta(days=days), 1) == today:
            return today - timedelta(days=days)
    raise AssertionError(f"no purchase date makes {today} a first due date")


def submit_step_one(page: Page) -> None:
    page.locator("main form[data-busy] .actions button[type=submit]").click()
    page.wait_for_load_state()


def refused_on_step_one(walk: Walk, field_id: str) -> None:
    """The refusal is beside the field, in the page's language, and no confirmation page was reached."""
    page = walk.page
    error = page.locator(f".field:has(#{field_id}) .error")
    expect(error).to_have_count(1)
    walk.in_language(error.inner_text())
    expect(page.locator("input[name=step][value=confirm]")).to_have_count(0)
    expect(page.locator("#confirm-amount")).to_have_count(0)
    expect(page.locator("input[name=step][value=review]")).to_have_count(1)


# --- 1. 我的账户 ---------------------------------------------------------------------------------------


def chapter_account(walk: Walk) -> dict[str, InstallmentPlan]:
    page, words, today = walk.page, walk.words, timezone.localdate()
    account = reverse("repayments:account")
    head = page.locator("#due")

    # Only a plan bought 5 days ago: its first installment, ¥106.00, in N days; 立即还款 goes to its step 1.
    upcoming = walk.plan("iPhone", "1200.00", 12, today - timedelta(days=5))
    days = (first_due(upcoming) - today).days
    walk.go(account)
    expect(head).to_have_attribute("data-state", "upcoming")
    expect(head.locator(".due-line")).to_contain_text(words["due_label"])
    expect(head.locator(".due-amount")).to_have_text("¥106.00")
    when = head.locator(".due-when")
    expect(when).to_have_text(re.compile(r"·\s*" + words["due_in"].replace(r"(\d+)", str(days))))
    expect(page.locator("a.primary-action")).to_have_count(1)
    expect(page.locator("a.primary-action")).to_have_text(words["repay_now"])
    walk.shoot("account-upcoming")

    # Auto-debit off -> 去开启: the plan's auto-debit setting.
    row = page.locator("td[data-autodebit]")
    expect(row).to_have_attribute("data-autodebit", "off")
    expect(row).to_contain_text(words["autodebit_off"])
    row.get_by_role("link", name=words["turn_on"]).click()
    expect(page).to_have_url(walk.base + reverse("repayments:plan", args=[upcoming.public_id]) + "#autodebit")
    expect(page.locator("#autodebit #id_enabled")).to_be_visible()
    expect(page.locator("#autodebit #id_enabled")).not_to_be_checked()

    walk.go(account)
    page.locator("a.primary-action").click()
    expect(page).to_have_url(walk.base + reverse("repayments:pay", args=[upcoming.public_id]))
    expect(page.locator("input[name=step][value=review]")).to_have_count(1)

    # A second plan's first installment due today: it leads the page, with its own 立即还款.
    due_today = walk.plan("Monitor", "2400.00", 12, purchase_date_due_today(today))
    walk.go(account)
    expect(head).to_have_attribute("data-state", "today")
    expect(head.locator(".due-amount")).to_have_text("¥212.00")
    expect(when).to_have_text(re.compile(r"·\s*" + re.escape(words["due_today"])))
    walk.shoot("account-due-today")
    page.locator("a.primary-action").click()
    expect(page).to_have_url(walk.base + reverse("repayments:pay", args=[due_today.public_id]))
    due_now = page.locator("input[name=mode][value=due_now]")
    expect(due_now).to_be_checked()  # something is due: preselected, with its amount beside it
    expect(page.locator("label.choice:has(input[value=due_now])")).to_contain_text("¥212.00")

    # Overdue plans, one with an offer waiting (auto-debit on) and one with an application under review.
    long_ago = today - timedelta(days=70)
    offered_plan = walk.plan("Sofa", "6000.00", 12, long_ago)
    reviewed_plan = walk.plan("Bike", "2400.00", 6, long_ago)
    overdue_sweep(as_of=today)
    autodebit_set(customer=walk.customer, plan=offered_plan, enabled=True, card=walk.icbc)
    offered = apply(walk.customer, offered_plan)
    agent = staff_user("+8613700000001", AGENT)
    negotiation_start_review(staff=agent, application=offered)
    send_offer(agent, offered)
    reviewed = apply(walk.customer, reviewed_plan)
    expected = account_overview(customer=walk.customer).headline
    assert expected is not None
    assert expected.days < 0

    walk.go(account)
    expect(head).to_have_attribute("data-state", "overdue")
    expect(head.locator(".due-amount")).to_have_text(yuan(expected.amount))
    expect(when).to_have_text(
        re.compile(r"·\s*" + words["overdue"].replace(r"(\d+)", str(expected.days_overdue)))
    )
    on = page.locator(
        f"tr:has(a[href='{reverse('repayments:plan', args=[offered_plan.public_id])}']) td[data-autodebit]"
    )
    expect(on).to_have_attribute("data-autodebit", "on")
    expect(on).to_have_text(words["autodebit_on"].format(last4=ICBC_DEBIT[-4:]))
    walk.shoot("account-overdue-banners")
    for plan in (upcoming, due_today):
        row = page.locator(f"tr:has(a[href='{reverse('repayments:plan', args=[plan.public_id])}'])")
        walk.remaining[plan.pk] = row.locator("td").nth(2).inner_text().strip()
    # Several plans due: 立即还款 goes to 我的账单, where each is paid.
    expect(page.locator("a.primary-action")).to_have_attribute("href", reverse("repayments:bills"))

    page.locator("[data-banner=offer] a").click()
    expect(page).to_have_url(walk.base + reverse("installments:negotiation", args=[offered.public_id]))
    expect(page.locator("#offer")).to_be_visible()
    walk.go(account)
    page.locator("[data-banner=application] a").click()
    expect(page).to_have_url(walk.base + reverse("installments:negotiation", args=[reviewed.public_id]))
    expect(page.locator("#negotiation-state")).to_have_attribute("data-state", "submitted")
    return {"upcoming": upcoming, "due_today": due_today, "offered_plan": offered_plan}


def apply(customer: User, plan: InstallmentPlan) -> NegotiationApplication:
    return negotiation_apply(
        customer=customer,
        plan_id=plan.pk,
        reason=NegotiationReason.INCOME_DROP,
        reason_detail="",
        monthly_income="5000.00",
        employer="",
        requested_tenor=12,
        documents=[ContentFile(PDF, name="payslip.pdf")],
    )


# --- 2. 立即还款 step 1 --------------------------------------------------------------------------------


def chapter_pay_step_one(walk: Walk, plan: InstallmentPlan) -> None:
    page = walk.page
    pay = reverse("repayments:pay", args=[plan.public_id])
    walk.go(pay)
    # Nothing is due on this plan: no "due now" option at ¥0, and nothing chosen for the customer.
    expect(page.locator("input[name=mode][value=due_now]")).to_have_count(0)
    expect(page.locator("input[name=mode]:checked")).to_have_count(0)
    # One 剩余待还 figure (the same as on 我的账户), and the payoff figure under its own name.
    expect(page.locator("dt:has(+ dd#remaining)")).to_have_text(walk.words["remaining"])
    expect(page.locator("dt:has(+ dd#payoff)")).to_have_text(walk.words["payoff"])
    expect(page.locator("#remaining")).to_have_text(walk.remaining[plan.pk])
    payoff = money(page.locator("#payoff").inner_text())
    assert payoff > 0

    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill("0.00")
    submit_step_one(page)
    refused_on_step_one(walk, "id_amount")
    walk.shoot("pay-refused-zero")

    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill(f"{payoff + 1:.2f}")
    submit_step_one(page)
    refused_on_step_one(walk, "id_amount")

    next_due = first_due(plan)
    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill("10.00")
    page.locator("input[name=when][value=date]").check()
    page.locator("#id_scheduled_for").fill((next_due + timedelta(days=1)).isoformat())
    page.locator(f"input[name=card][value='{walk.icbc.public_id}']").check()
    submit_step_one(page)
    refused_on_step_one(walk, "id_scheduled_for")
    walk.shoot("pay-refused-date")
    assert not Repayment.objects.filter(plan=plan).exists()

    # On the next due date itself: accepted, confirmed, and the result says when the card is charged.
    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill("10.00")
    page.locator("input[name=when][value=date]").check()
    page.locator("#id_scheduled_for").fill(next_due.isoformat())
    page.locator(f"input[name=card][value='{walk.icbc.public_id}']").check()
    submit_step_one(page)
    expect(page.locator("#confirm-amount")).to_have_text("¥10.00")
    page.locator("#confirm-pay").click()
    scheduled = Repayment.objects.get(plan=plan)
    expect(page).to_have_url(walk.base + reverse("repayments:repayment", args=[scheduled.public_id]))
    assert scheduled.status == RepaymentStatus.SCHEDULED
    assert scheduled.scheduled_for == next_due
    expect(page.locator("#scheduled-run")).to_contain_text(
        walk.words["scheduled"].format(date=long_date(next_due, walk.language))
    )
    walk.shoot("pay-scheduled")


# --- 3. A failed payment, and on from it -----------------------------------------------------------


def chapter_failed_payment(walk: Walk, plan: InstallmentPlan) -> None:
    """The plan's ¥212.00 due today, with a card that holds ¥60."""
    page, words = walk.page, walk.words
    pay = reverse("repayments:pay", args=[plan.public_id])
    walk.go(pay)
    expect(page.locator("input[name=mode][value=due_now]")).to_be_checked()
    page.locator(f"input[name=card][value='{walk.icbc.public_id}']").check()
    submit_step_one(page)
    expect(page.locator("#confirm-amount")).to_have_text("¥212.00")
    walk.shoot("pay-confirm")

    # The busy state while the payment is in flight. Playwright cannot read a page whose navigation is
    # under way, so the page notes its button 50 ms after the submit (sessionStorage outlives the page),
    # while the request is held back; the next page reads the note.
    page.evaluate(
        """() => {
          const b = document.querySelector('#confirm-pay');
          b.form.addEventListener('submit', () => setTimeout(() => sessionStorage.setItem(
            'busy', JSON.stringify([b.disabled, b.textContent.trim(), b.getAttribute('aria-busy')])), 50));
        }"""
    )
    held: list[Route] = []

    def hold(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(walk.base + pay, hold)
    page.locator("#confirm-pay").click(no_wait_after=True)
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the payment was not sent"
        page.wait_for_timeout(20)
    page.wait_for_timeout(200)
    assert not Repayment.objects.filter(plan=plan).exists()  # held: nothing recorded yet
    held[0].continue_()
    page.unroute(walk.base + pay)
    expect(page.locator("#failure-reason")).to_be_visible()
    failed = Repayment.objects.get(plan=plan)
    assert (failed.status, failed.failure_code) == (RepaymentStatus.FAILED, "insufficient_funds")
    expect(page).to_have_url(walk.base + reverse("repayments:repayment", args=[failed.public_id]))
    reason = page.locator("#failure-reason")
    expect(reason).to_contain_text(words["insufficient"])
    walk.in_language(reason.inner_text())
    busy = page.evaluate("JSON.parse(sessionStorage.getItem('busy'))")
    assert busy == [True, words["processing"], "true"], f"the pay button while paying: {busy}"
    steps = page.locator("#next-steps")
    for kind in ("retry", "smaller_amount", "one_time_card"):
        expect(steps.locator(f"[data-step={kind}] a")).to_be_visible()
    expect(steps.locator("[data-step=hotline]")).to_contain_text(settings.SERVICE_HOTLINE)
    walk.in_language(steps.locator("h2").inner_text())
    walk.shoot("pay-failed")

    # "Pay what the card holds now": step 1 with this card and another amount chosen.
    steps.locator("[data-step=smaller_amount] a").click()
    expect(page.locator("input[name=mode][value=custom]")).to_be_checked()
    expect(page.locator(f"input[name=card][value='{walk.icbc.public_id}']")).to_be_checked()
    page.locator("#id_amount").fill(f"{CARD_HOLDS:.2f}")
    submit_step_one(page)
    page.locator("#confirm-pay").click()
    paid = Repayment.objects.filter(plan=plan, status=RepaymentStatus.SUCCEEDED)
    expect(page.locator("main h1")).not_to_contain_text(words["processing"])
    expect(page.locator("#remaining")).to_be_visible()
    assert [r.amount for r in paid] == [CARD_HOLDS]


# --- 6. 发送验证码 --------------------------------------------------------------------------------------


def send_code_and_wait(walk: Walk) -> None:
    """Click 发送验证码 beside the code box: no reload (the scroll stays), the countdown runs, a code is
    sent."""
    page = walk.page
    sent = len(walk.codes.codes)
    send = page.locator(".code-row button[data-send-code]")
    expect(send).to_have_text(walk.words["send_code"])
    expect(
        page.locator(".code-row:has(button[data-send-code]) input[autocomplete=one-time-code]")
    ).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    send.scroll_into_view_if_needed()
    scroll = page.evaluate("window.scrollY")
    send.click()
    expect(send).to_be_disabled()
    expect(send).to_have_text(re.compile(re.escape(walk.words["send_code"]) + r" \((\d+)s\)"))
    first = int(re.search(r"\((\d+)s\)", send.inner_text()).group(1))  # type: ignore[union-attr]
    page.wait_for_timeout(1100)
    later = int(re.search(r"\((\d+)s\)", send.inner_text()).group(1))  # type: ignore[union-attr]
    assert later < first <= 60, (first, later)  # counting down
    assert page.evaluate("window.__notReloaded === true"), "sending the code reloaded the page"
    assert page.evaluate("window.scrollY") == scroll
    assert len(walk.codes.codes) == sent + 1, "no code was sent"


def chapter_codes(walk: Walk, plan: InstallmentPlan) -> BankCard:
    page = walk.page
    walk.go(reverse("repayments:card_bind"))
    page.locator("#id_number").fill(CMB_DEBIT)
    page.locator("#id_holder_name").fill(walk.customer.real_name)
    page.locator("#id_reserved_phone").fill(str(walk.customer.phone.national_number))
    send_code_and_wait(walk)
    expect(page.locator("#id_number")).to_have_value(CMB_DEBIT)  # every input as typed
    expect(page.locator("#id_holder_name")).to_have_value(walk.customer.real_name)
    walk.shoot("card-bind-code-sent")
    page.locator("#id_code").fill(walk.codes.codes[-1])
    page.locator("form:has(#id_number) .actions button[type=submit]").click()
    expect(page).to_have_url(walk.base + reverse("repayments:cards"))
    cmb = BankCard.objects.get(customer=walk.customer, last4=CMB_DEBIT[-4:])
    assert CMB_DEBIT not in page.content()

    # Auto-debit on the plan with the default card, then moved to the new card with the code.
    walk.go(reverse("repayments:plan", args=[plan.public_id]) + "#autodebit")
    page.locator("#autodebit #id_enabled").check()
    page.locator(f"#autodebit input[name=card][value='{walk.icbc.pk}']").check()
    page.locator("#autodebit .actions button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    assert AutoDebitMandate.objects.get(plan=plan).card_id == walk.icbc.pk
    page.locator(f"#autodebit input[name=card][value='{cmb.pk}']").check()
    send_code_and_wait(walk)
    expect(page.locator("#autodebit #id_enabled")).to_be_checked()
    expect(page.locator(f"#autodebit input[name=card][value='{cmb.pk}']")).to_be_checked()
    walk.shoot("autodebit-code-sent")
    page.locator("#autodebit #id_code").fill(walk.codes.codes[-1])
    page.locator("#autodebit .actions button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    mandate = AutoDebitMandate.objects.get(plan=plan)
    assert (mandate.enabled, mandate.card_id) == (True, cmb.pk)
    return cmb


# --- 7. 二次分期 and 协商 --------------------------------------------------------------------------------


def chapter_restage(walk: Walk) -> None:
    page, today = walk.page, timezone.localdate()
    plan = walk.plan("Headphones", "1200.00", 12, today - timedelta(days=5))
    walk.go(reverse("installments:restage", args=[plan.public_id]))
    option = page.locator(".restage-option[data-tenor='24']")
    expect(option.locator(".extra-cost")).to_have_text(walk.words["costs_more"].format(amount="¥100.80"))
    expect(page.locator(".restage-option[data-tenor='12']")).to_have_count(0)  # only costs more
    expect(page.locator("#restage-dropped")).to_be_visible()
    walk.shoot("restage-options")
    page.locator("input[name=tenor][value='24']").check()
    page.locator("main form .actions button[type=submit]").click()
    expect(page.locator("#restage-terms .extra-cost")).to_have_text(
        walk.words["costs_more"].format(amount="¥100.80")
    )
    expect(page.locator("#restage-total")).to_have_text("¥1,372.80")

    # No code, no re-staging: the refusal is beside the code, the plan untouched.
    page.locator("#restage-confirm .actions button[value=confirm]").click()
    expect(page.locator("#code-field .error")).to_be_visible()
    walk.in_language(page.locator("#code-field .error").inner_text())
    assert not InstallmentPlan.objects.filter(source_plan=plan).exists()
    send_code_and_wait(walk)
    walk.shoot("restage-confirm")
    page.locator("#id_code").fill(walk.codes.codes[-1])
    page.locator("#restage-confirm .actions button[value=confirm]").click()
    secondary = InstallmentPlan.objects.get(source_plan=plan)
    assert secondary.tenor == 24
    expect(page).to_have_url(walk.base + reverse("repayments:plan", args=[secondary.public_id]))


def chapter_negotiate(walk: Walk, not_overdue: InstallmentPlan, tmp_path) -> None:
    page, today = walk.page, timezone.localdate()
    # A plan that is not overdue: why not, before any form.
    walk.go(reverse("installments:negotiate", args=[not_overdue.public_id]))
    expect(page.locator("#negotiation-eligibility")).to_have_attribute("data-reason", "not_overdue")
    expect(page.locator("#id_affordable_payment")).to_have_count(0)

    plan = walk.plan("Washer", "1200.00", 12, today - timedelta(days=40))
    overdue_sweep(as_of=today)
    payslip = tmp_path / "payslip-2026-10.pdf"
    payslip.write_bytes(PDF)
    walk.go(reverse("installments:negotiate", args=[plan.public_id]))
    page.locator("#id_reason").select_option("income_drop")
    page.locator("#id_monthly_income").fill("6000")
    page.locator("#id_requested_tenor").fill("12")
    page.locator("#id_documents").set_input_files(str(payslip))
    page.locator("main form .actions button[type=submit]").click()  # what they can pay is missing
    error = page.locator(".field:has(#id_affordable_payment) .error")
    expect(error).to_be_visible()
    walk.in_language(error.inner_text())
    expect(page.locator("#held-documents")).to_contain_text("payslip-2026-10.pdf")
    assert not NegotiationApplication.objects.filter(plan=plan).exists()
    walk.shoot("negotiate-error-file-kept")
    page.locator("#id_affordable_payment").fill("500")
    page.locator("main form .actions button[type=submit]").click()
    application = NegotiationApplication.objects.get(plan=plan)
    expect(page).to_have_url(walk.base + reverse("installments:negotiation", args=[application.public_id]))
    assert [d.original_name for d in application.documents.all()] == ["payslip-2026-10.pdf"]
    expect(page.locator("#negotiation-timeline [aria-current=step]")).to_have_count(1)


def money(text: str) -> Decimal:
    found = re.search(r"¥([\d,]+\.\d\d)", text)
    assert found, f"no amount in {text!r}"
    return Decimal(found.group(1).replace(",", ""))


def chapter_offer(walk: Walk, plan: InstallmentPlan) -> None:
    page = walk.page
    application = NegotiationApplication.objects.get(plan=plan)
    walk.go(reverse("installments:negotiation", args=[application.public_id]))
    rows = [money(t) for t in page.locator("#offer-schedule tbody td:nth-child(3)").all_inner_texts()]
    assert len(rows) == 12
    assert money(page.locator("#offer-first").inner_text()) == rows[0]
    assert money(page.locator("#offer-usual").inner_text()) == rows[1]
    assert money(page.locator("#offer-last").inner_text()) == rows[-1]
    total = money(page.locator("#offer-total").inner_text())
    keep = money(page.locator("#offer-keep-total").inner_text())
    assert total == sum(rows)
    assert money(page.locator("#offer-difference").inner_text()) == abs(total - keep)
    walk.shoot("offer")

    # Declining asks first; "keep the offer" keeps it.
    page.locator("form:has(input[name=action][value=decline]) button").click()
    confirm = page.locator("#decline-confirm")
    expect(confirm).to_contain_text(walk.words["decline_question"])
    expect(page.locator("#accept-form")).to_have_count(0)
    application.refresh_from_db()
    assert application.state == "offered"
    walk.shoot("offer-decline-confirm")
    confirm.locator("a.button").click()
    expect(page.locator("#accept-form")).to_be_visible()
    page.locator("form:has(input[name=action][value=decline]) button").click()
    page.locator("#decline-confirm button[type=submit]").click()
    expect(page.locator("#negotiation-state")).to_have_attribute("data-state", "declined")
    application.refresh_from_db()
    assert application.state == "declined"


# --- 4. The language switch ------------------------------------------------------------------------


def chapter_language(walk: Walk) -> None:
    page, first, other = walk.page, walk.language, OTHER[walk.language]
    walk.go(reverse("repayments:bills"))
    for chosen, browser_says in ((other, first), (first, other)):
        page.locator("#lang-select").select_option(chosen)
        page.locator("form.lang button").click()
        expect(page.locator("html")).to_have_attribute("lang", chosen)
        walk.customer.refresh_from_db()
        assert walk.customer.language == chosen
        # The account decides: no language cookie, a browser asking for the other language.
        page.context.clear_cookies(name=settings.LANGUAGE_COOKIE_NAME)
        page.set_extra_http_headers({"Accept-Language": LOCALE[browser_says]})
        page.reload()
        expect(page.locator("html")).to_have_attribute("lang", chosen)
        expect(page.locator("main h1")).to_have_text("我的账单" if chosen == "zh-hans" else "My bills")
    page.set_extra_http_headers({})


def footer_everywhere(walk: Walk) -> None:
    """Every page the walk went to (by GET) shows the hotline in its footer, in the account's language."""
    missing = []
    for path in sorted(walk.visited):
        html = walk.page.request.get(walk.base + path).text()
        footer = html[html.find("<footer") :]
        if settings.SERVICE_HOTLINE not in footer or walk.words["hotline"] not in footer:
            missing.append(path)
    assert len(walk.visited) >= 10, walk.visited
    assert not missing, f"no hotline in the footer of {missing}"


@pytest.fixture
def codes() -> Iterator[CodeCatcher]:
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


@pytest.fixture
def cards_hold_60(bank_books: BankProcess) -> Iterator[BankProcess]:
    bank_books.env["BANK_DEFAULT_BALANCE"] = f"{CARD_HOLDS}"
    bank_books.restart()
    yield bank_books
    bank_books.env.pop("BANK_DEFAULT_BALANCE")


@pytest.mark.parametrize("language", LANGUAGES)
def test_issue18_journeys(
    browser: Browser, live_server, flat_product, cards_hold_60, codes, tmp_path, language: str
) -> None:
    phone = "+8613822220001" if language == "zh-hans" else "+8613822220002"
    name = "张三" if language == "zh-hans" else "王五"
    customer = User.objects.create_user(phone, PASSWORD, real_name=name, language=language)
    icbc = card_bind_verified(customer=customer, number=ICBC_DEBIT, holder_name=name, reserved_phone=phone)
    context = browser.new_context(locale=LOCALE[OTHER[language]], viewport=PHONE)
    page = context.new_page()
    walk = Walk(language, page, live_server.url, customer, flat_product, codes, icbc)

    def seen(frame) -> None:
        if frame == page.main_frame and frame.url.startswith(walk.base):
            walk.visited.add(frame.url[len(walk.base) :].split("#")[0])

    page.on("framenavigated", seen)
    try:
        sign_in(page, walk.base, str(customer.phone.national_number), PASSWORD)
        plans = chapter_account(walk)
        chapter_pay_step_one(walk, plans["upcoming"])
        chapter_failed_payment(walk, plans["due_today"])
        chapter_codes(walk, plans["upcoming"])
        chapter_restage(walk)
        chapter_negotiate(walk, plans["upcoming"], tmp_path)
        chapter_offer(walk, plans["offered_plan"])
        footer_everywhere(walk)
        chapter_language(walk)
    finally:
        context.close()


# --- 9. 解绑 asks first -----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_removing_a_card_asks_first(browser: Browser, live_server, language: str) -> None:
    """银行卡管理 → 解绑: a page that asks (in the account's language); Cancel keeps the card, yes removes
    it."""
    phone = "+8613822220003" if language == "zh-hans" else "+8613822220004"
    customer = User.objects.create_user(phone, PASSWORD, real_name="李四", language=language)
    card_bind_verified(customer=customer, number=ICBC_DEBIT, holder_name="李四", reserved_phone=phone)
    card = card_bind_verified(customer=customer, number=CMB_DEBIT, holder_name="李四", reserved_phone=phone)
    context = browser.new_context(locale=LOCALE[OTHER[language]], viewport=PHONE)
    page = context.new_page()
    base, cards, unbind = (
        live_server.url,
        reverse("repayments:cards"),
        reverse("repayments:card_unbind", args=[card.public_id]),
    )
    try:
        sign_in(page, base, str(customer.phone.national_number), PASSWORD)
        page.goto(base + cards)
        remove = page.locator(f"main a[href='{unbind}']")
        if not remove.count():
            pytest.skip(
                "the cards page has no 解绑 confirmation yet: its Remove posts at once (h/misc adds it)"
            )
        for answer in ("cancel", "yes"):
            remove.click()
            expect(page).to_have_url(base + unbind)
            expect(page.locator("html")).to_have_attribute("lang", language)
            expect(page.locator("main h1")).to_contain_text(CMB_DEBIT[-4:])
            card.refresh_from_db()
            assert card.status == "active", "the card was removed before the customer said yes"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(SCREENSHOTS / f"j18-{language}-card-unbind-confirm-390.png"), full_page=True
            )
            if answer == "cancel":
                page.locator(f"main .actions a[href='{cards}']").click()
                expect(page).to_have_url(base + cards)
            else:
                page.locator(f"main form[action='{unbind}'] .actions button[type=submit]").click()
        expect(page).to_have_url(base + cards)
        expect(page.locator(".messages")).to_contain_text(CMB_DEBIT[-4:])
        card.refresh_from_db()
        assert card.status != "active"
        expect(page.locator(f"main a[href='{unbind}']")).to_have_count(0)
    finally:
        context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_send_code_without_javascript_keeps_the_inputs(
    browser: Browser, live_server, codes, language: str
) -> None:
    """发送验证码 is a plain form button first: without the script the page comes back with what was typed
    (never the card number) and says a code was sent."""
    phone = "+8613822220005" if language == "zh-hans" else "+8613822220006"
    customer = User.objects.create_user(phone, PASSWORD, real_name="李四", language=language)
    context = browser.new_context(locale=LOCALE[OTHER[language]], viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server.url, str(customer.phone.national_number), PASSWORD)
        page.goto(live_server.url + reverse("repayments:card_bind"))
        page.locator("#id_number").fill(CMB_DEBIT)
        page.locator("#id_holder_name").fill("李四")
        page.locator("#id_reserved_phone").fill("13900001111")
        page.locator(".code-row button[data-send-code]").click()
        page.wait_for_load_state()
        assert len(codes.codes) == 1
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("#id_holder_name")).to_have_value("李四")
        expect(page.locator("#id_reserved_phone")).to_have_value("13900001111")
        expect(page.locator("#id_number")).to_have_value("")  # a card number is never echoed into a page
        expect(page.locator("[data-code-status]")).to_contain_text("60")
        expect(page.locator(".field .error")).to_have_count(0)  # no errors before 绑定
    finally:
        context.close()


# --- 8. Receipts, statements, the payoff certificate -------------------------------------------------


def download(page: Page, link) -> tuple[str, bytes]:
    """Click a download link as the customer does; the file's name and bytes."""
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    return info.value.suggested_filename, path.read_bytes()


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


DOC_WORDS = {
    "zh-hans": {"receipt": "还款凭证", "statement": "账单明细", "certificate": "结清证明", "card": "尾号"},
    "en": {
        "receipt": "Repayment receipt",
        "statement": "Statement",
        "certificate": "Payoff certificate",
        "card": "ending",
    },
}
VERIFY_WORDS = {
    "zh-hans": {"valid": "有效", "unknown": "没有与此验证码对应的证明"},
    "en": {"valid": "Valid: this certificate stands.", "unknown": "No certificate has this code."},
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_receipt_statement_and_certificate_downloads_then_verify_signed_out(
    browser: Browser, live_server, flat_product, bank_books, tmp_path, language: str
) -> None:
    """Paid off with one payment: 还款记录 → receipt → its PDF; the plan → statement → PDF and CSV; the plan
    → 结清证明 → PDF; each file in the account's language (text read back with pypdf). Then signed out, in
    a browser of the other language: /verify/ with the code says valid with the masked name only, a wrong
    code is refused, and the switch changes the visitor's language."""
    phone = "+8613822220007" if language == "zh-hans" else "+8613822220008"
    customer = User.objects.create_user(phone, PASSWORD, real_name="张三丰", language=language)
    icbc = card_bind_verified(
        customer=customer, number=ICBC_DEBIT, holder_name="张三丰", reserved_phone=phone
    )
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
        description="iPhone",
    )
    repayment = repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.PAYOFF,
        card=icbc,
        channel=RepaymentChannel.WEB,
        idempotency_key="journey-docs",
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    amount = yuan(repayment.amount)
    words, other = DOC_WORDS[language], OTHER[language]
    context = browser.new_context(locale=LOCALE[other], viewport=PHONE, accept_downloads=True)
    page = context.new_page()
    base = live_server.url
    try:
        sign_in(page, base, str(customer.phone.national_number), PASSWORD)
        page.goto(base + reverse("repayments:records"))
        page.locator(f"main a[href='{reverse('repayments:receipt', args=[repayment.public_id])}']").click()
        expect(page.locator("main h1")).to_have_text(words["receipt"])
        expect(page.locator("main")).to_contain_text(amount)
        name, data = download(
            page,
            page.locator(f"main a[href='{reverse('repayments:receipt_pdf', args=[repayment.public_id])}']"),
        )
        text = pdf_text(data)
        assert name.endswith(".pdf")
        for expected in (words["receipt"], amount.replace("¥", ""), icbc.last4, words["card"]):
            assert expected in text, f"{expected!r} not in the receipt PDF:\n{text}"
        if language == "en":
            assert not CJK.search(text.replace("张", "").replace("三", "").replace("丰", "")), text

        page.goto(base + reverse("repayments:plan", args=[plan.public_id]))
        page.locator("main p.documents a").first.click()
        expect(page.locator("main h1")).to_have_text(words["statement"])
        _, data = download(page, page.locator(f"main a[href^='{reverse('repayments:statement_csv')}']"))
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0][0] == ("日期" if language == "zh-hans" else "Date")
        assert [f"-{repayment.amount:.2f}", "0.00"] in [row[4:] for row in rows], rows  # the payment
        assert rows[-1][-1] == "0.00", rows  # the closing balance
        _, data = download(page, page.locator(f"main a[href^='{reverse('repayments:statement_pdf')}']"))
        assert words["statement"] in pdf_text(data)

        page.goto(base + reverse("repayments:plan", args=[plan.public_id]))
        page.locator(f"main a[href='{reverse('repayments:certificate', args=[plan.public_id])}']").click()
        certificate = PayoffCertificate.objects.get(plan=plan)
        expect(page.locator("main")).to_contain_text(certificate.number)
        _, data = download(
            page,
            page.locator(f"main a[href='{reverse('repayments:certificate_pdf', args=[plan.public_id])}']"),
        )
        text = pdf_text(data)
        assert certificate.number in text
        assert certificate.code in text
        assert "张**" in text
        assert "张三丰" not in text
        assert words["certificate"] in text

        # Signed out, in a browser of the other language: the public check.
        page.locator("nav form button[type=submit]").click()
        page.goto(base + reverse("repayments:verify", args=[certificate.code]))
        expect(page.locator("html")).to_have_attribute("lang", other)
        status = page.locator("main .notice")
        expect(status).to_contain_text(VERIFY_WORDS[other]["valid"])
        expect(page.locator("main")).to_contain_text(certificate.number)
        expect(page.locator("main")).to_contain_text("张**")
        expect(page.locator("main")).not_to_contain_text("张三丰")
        page.locator("#verify-code").fill("NOT-A-CODE")
        page.locator("main form button[type=submit]").click()
        expect(page.locator("main .notice")).to_contain_text(VERIFY_WORDS[other]["unknown"])
        page.locator("#lang-select").select_option(language)
        page.locator("form.lang button").click()
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("main .notice")).to_contain_text(VERIFY_WORDS[language]["unknown"])
        page.locator("#verify-code").fill(certificate.code)
        page.locator("main form button[type=submit]").click()
        expect(page.locator("main .notice")).to_contain_text(VERIFY_WORDS[language]["valid"])
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"j18-{language}-verify-signed-out-390.png"), full_page=True)
    finally:
        context.close()


# --- 1. The card that will not cover the debit ---------------------------------------------------------

SHORTFALL_WORDS = {
    "zh-hans": ("尾号{last4} 上次扣款因余额不足失败，{plan} 的 {amount} 已到期待扣", "更换扣款卡"),
    "en": (
        "The last debit from card ending {last4} failed for insufficient funds;"
        " {amount} for {plan} is due now",
        "Change the debit card",
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_card_short_of_money_for_the_debit_is_on_the_account_page(
    browser: Browser, live_server, flat_product, bank_books, language: str
) -> None:
    """Auto-debit on a card that lacks funds, the debit refused: 我的账户 says so in the account's language
    and its links go to the auto-debit setting and to 立即还款."""
    phone = "+8613822220009" if language == "zh-hans" else "+8613822220010"
    customer = User.objects.create_user(phone, PASSWORD, real_name="李四", language=language)
    empty = card_bind_verified(
        customer=customer, number=INSUFFICIENT, holder_name="李四", reserved_phone=phone
    )
    today = timezone.localdate()
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=purchase_date_due_today(today),
        description="iPhone",
    )
    autodebit_set(customer=customer, plan=plan, enabled=True, card=empty)
    debit_run_inline(business_date=today, slot=1)  # the bank answers: insufficient funds
    context = browser.new_context(locale=LOCALE[OTHER[language]], viewport=PHONE)
    page = context.new_page()
    base = live_server.url
    try:
        sign_in(page, base, str(customer.phone.national_number), PASSWORD)
        banner = page.locator("[data-banner=card-shortfall]")
        text, change = SHORTFALL_WORDS[language]
        expect(banner).to_contain_text(text.format(last4=empty.last4, amount="¥106.00", plan="iPhone"))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"j18-{language}-account-shortfall-390.png"), full_page=True)
        banner.get_by_role("link", name=change).click()
        expect(page).to_have_url(base + reverse("repayments:plan", args=[plan.public_id]) + "#autodebit")
        page.goto(base + reverse("repayments:account"))
        banner.locator(f"a[href='{reverse('repayments:pay', args=[plan.public_id])}']").click()
        expect(page.locator("input[name=mode][value=due_now]")).to_be_checked()
    finally:
        context.close()

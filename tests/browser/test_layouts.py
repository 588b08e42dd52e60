"""Every customer page on a phone and a desktop, in both languages: no sideways scrolling, no text under
12 px, and no serious or critical accessibility violation (axe-core, vendored under vendor/).

One customer per language with demo-like data (a current plan with auto-debit and payments that
succeeded, failed and are scheduled; overdue plans with an offer waiting, an application under review and
none yet; several cards; SMS), signed in once, then every page in ``PAGES`` at 360, 390 and 1280 px.
Screenshots at 390 and 1280 px go to var/screenshots/layout-<language>-<page>-<width>.png.

To cover a new page, add a ``Stop`` to ``PAGES``: its name and how to reach it from the ``Story``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page

from accounts.models import User
from installments.models import InstallmentPlan, InstallmentProduct, NegotiationApplication, NegotiationReason
from installments.services import (
    negotiation_apply,
    negotiation_start_review,
    overdue_sweep,
    plan_create,
)
from repayments.models import BankCard, Repayment, RepaymentChannel, RepaymentMode
from repayments.services import autodebit_set, card_bind_verified, repayment_create
from repayments.services.autodebit import debit_run_inline
from repayments.services.reminders import reminders_send
from repayments.staff import AGENT
from tests.bank_service import BankProcess
from tests.browser.conftest import SCREENSHOTS
from tests.browser.sessions import sign_in
from tests.cards import CMB_DEBIT, ICBC_DEBIT, luhn_complete
from tests.installments.negotiation_support import PDF, send_offer, staff_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
PASSWORD = "Layout-pass-2026"
WIDTHS = (360, 390, 1280)
SHOT_WIDTHS = (390, 1280)
HEIGHT = 800
MIN_FONT_PX = 12
BLOCKING_IMPACTS = ("serious", "critical")
INSUFFICIENT_FUNDS = "6222020000000015"  # the simulated bank's card whose every charge lacks funds
OTHER_BANK = luhn_complete("999999000000123")  # an unknown BIN: "other bank"
# Long names, as merchants send them: they must wrap, not push the page sideways.
LONG_DESCRIPTION = "Apple iPhone 16 Pro Max 1TB 沙漠色钛金属 双卡双待 官方旗舰店 JD-2026-11-30-0000001234567"


@dataclass
class Story:
    """One customer's data, as the pages need it."""

    customer: User
    current: InstallmentPlan  # active, auto-debit on, payments succeeded / failed / scheduled
    restageable: InstallmentPlan  # active, nothing pending: 二次分期 shows its comparison
    offered: NegotiationApplication  # overdue plan with an offer waiting
    submitted: NegotiationApplication  # overdue plan with an application under review
    overdue: InstallmentPlan  # overdue, no application yet: the 协商 form
    succeeded: Repayment
    failed: Repayment
    scheduled: Repayment


@dataclass(frozen=True)
class Stop:
    """A page of the walk: ``visit`` brings the browser to it (a GET, or the steps of a form)."""

    name: str
    visit: Callable[[Page, str, Story], None]
    public: bool = False


def url(build: Callable[[Story], str]) -> Callable[[Page, str, Story], None]:
    def visit(page: Page, base: str, story: Story) -> None:
        response = page.goto(base + build(story))
        assert response is not None, build(story)
        assert response.ok, f"{build(story)}: {response.status}"

    return visit


def pay_confirmation(page: Page, base: str, story: Story) -> None:
    """Step 1 of 立即还款 filled in (part of the bill, now, the first card), then 继续."""
    url(lambda s: reverse("repayments:pay", args=[s.current.public_id]))(page, base, story)
    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill("10.00")
    now = page.locator("input[name=when][value=now]")
    if now.count():
        now.check()
    cards = page.locator("input[name=card]")
    if cards.count() and not page.locator("input[name=card]:checked").count():
        cards.first.check()
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.locator("input[name=step][value=confirm]").count(), "step 1 did not lead to the confirmation"


def restage_confirmation(page: Page, base: str, story: Story) -> None:
    """二次分期: the first option chosen, then 继续: the confirmation with the terms and the code field."""
    url(lambda s: reverse("installments:restage", args=[s.restageable.public_id]))(page, base, story)
    page.locator("input[name=tenor]").first.check()
    page.locator("main form .actions button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.locator("input[name=action][value=confirm], button[value=confirm]").count(), "no confirmation"


def extension_confirmation(page: Page, base: str, story: Story) -> None:
    """延期还款: the days chosen (the default), then the quote with the code field."""
    url(lambda s: reverse("installments:extend", args=[s.restageable.public_id]))(page, base, story)
    page.locator("#extension-choose button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.locator("#extension-terms").count(), "no extension quote"


def _card_id(story: Story) -> object:
    """The card paying the current plan's auto-debit: its 解绑 page names the plan and offers the move."""
    return BankCard.objects.get(customer=story.customer, mandates__plan=story.current).public_id


# Every page a customer sees. The lead extends this list when a page is added. (The payoff certificate
# needs a paid-off plan: tests/browser/test_documents.py walks it, with /verify, at 390 px.)
PAGES: list[Stop] = [
    Stop("home", url(lambda s: "/"), public=True),
    Stop("login", url(lambda s: reverse("accounts:login")), public=True),
    Stop("reset-request", url(lambda s: reverse("accounts:reset_request")), public=True),
    Stop("account", url(lambda s: reverse("repayments:account"))),
    Stop("bills", url(lambda s: reverse("repayments:bills"))),
    Stop("plan", url(lambda s: reverse("repayments:plan", args=[s.current.public_id]))),
    Stop("agreement", url(lambda s: reverse("installments:agreement", args=[s.current.public_id]))),
    Stop("plan-overdue", url(lambda s: reverse("repayments:plan", args=[s.offered.plan.public_id]))),
    Stop("pay", url(lambda s: reverse("repayments:pay", args=[s.current.public_id]))),
    Stop("pay-confirm", pay_confirmation),
    Stop("repayment", url(lambda s: reverse("repayments:repayment", args=[s.succeeded.public_id]))),
    Stop("repayment-failed", url(lambda s: reverse("repayments:repayment", args=[s.failed.public_id]))),
    Stop("repayment-scheduled", url(lambda s: reverse("repayments:repayment", args=[s.scheduled.public_id]))),
    Stop("records", url(lambda s: reverse("repayments:records"))),
    Stop("cards", url(lambda s: reverse("repayments:cards"))),
    Stop("card-bind", url(lambda s: reverse("repayments:card_bind"))),
    Stop("restage", url(lambda s: reverse("installments:restage", args=[s.restageable.public_id]))),
    Stop("negotiate", url(lambda s: reverse("installments:negotiate", args=[s.overdue.public_id]))),
    Stop("negotiation", url(lambda s: reverse("installments:negotiation", args=[s.submitted.public_id]))),
    Stop("offer", url(lambda s: reverse("installments:negotiation", args=[s.offered.public_id]))),
    Stop("inbox", url(lambda s: reverse("notifications:inbox"))),
    Stop("receipt", url(lambda s: reverse("repayments:receipt", args=[s.succeeded.public_id]))),
    Stop("statement", url(lambda s: reverse("repayments:statement"))),
    Stop("card-unbind", url(lambda s: reverse("repayments:card_unbind", args=[_card_id(s)]))),
    Stop("restage-confirm", restage_confirmation),
    Stop("extension", url(lambda s: reverse("installments:extend", args=[s.restageable.public_id]))),
    Stop("extension-confirm", extension_confirmation),
    Stop("verify", url(lambda s: reverse("repayments:verify_form")), public=True),
]

# Text a person can see, with its rendered size: CSS px times the SVG scale where the text is in an SVG.
SMALL_TEXT_JS = """(minimum) => {
  const small = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || seen.has(el) || !node.textContent.trim()) continue;
    seen.add(el);
    const options = {opacityProperty: true, visibilityProperty: true};
    if (el.checkVisibility && !el.checkVisibility(options)) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden: for screen readers only
    let size = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) {
      const m = el.getScreenCTM();
      size *= Math.hypot(m.a, m.b);
    }
    if (size < minimum - 0.01) {
      const text = node.textContent.trim().slice(0, 40);
      small.push(`<${el.tagName.toLowerCase()}> ${size.toFixed(1)}px "${text}"`);
    }
  }
  return small;
}"""

# What sticks out to the right when the page is wider than the window (the innermost elements).
OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 0.5 && box.width > 0 && !el.querySelector('*')) {
      const classes = typeof el.className === 'string' ? el.className.trim().replace(/\\s+/g, '.') : '';
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (classes ? '.' + classes : '');
      out.push(`${name} right=${Math.round(box.right)} "${(el.textContent || '').trim().slice(0, 30)}"`);
    }
  }
  return out.slice(0, 5);
}"""

# axe-core's violations of the given impacts, each with up to three of its elements; and how many rules
# passed (none would mean axe did not look at the page at all).
AXE_JS = """async (impacts) => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  const where = (n) => n.target.join(' ') + ' [' + (n.failureSummary || '').replace(/\\s+/g, ' ') + ']';
  return {
    violations: result.violations.filter(v => impacts.includes(v.impact)).map(v =>
      `${v.impact} ${v.id}: ${v.help} -- ` + v.nodes.slice(0, 3).map(where).join('; ')),
    passes: result.passes.length,
  };
}"""


def _customer(language: str) -> User:
    phone, name = ("+8613811115555", "张三") if language == "zh-hans" else ("+8613811116666", "王五")
    return User.objects.create_user(phone, PASSWORD, real_name=name, language=language)


def _card(customer: User, number: str) -> BankCard:
    return card_bind_verified(
        customer=customer, number=number, holder_name=customer.real_name, reserved_phone=str(customer.phone)
    )


def _pay(customer: User, plan: InstallmentPlan, card: BankCard, amount: str, key: str, **kwargs) -> Repayment:
    return repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.CUSTOM,
        amount=Decimal(amount),
        card=card,
        channel=RepaymentChannel.WEB,
        idempotency_key=key,
        **kwargs,
    )


def _apply(customer: User, plan: InstallmentPlan) -> NegotiationApplication:
    return negotiation_apply(
        customer=customer,
        plan_id=plan.pk,
        reason=NegotiationReason.INCOME_DROP,
        reason_detail="Reduced hours since September; I can pay about 300 a month.",
        monthly_income="5000.00",
        employer="Demo Logistics Ltd.",
        requested_tenor=12,
        documents=[ContentFile(PDF, name="payslip-2026-10-with-a-rather-long-file-name.pdf")],
    )


def make_story(language: str, product: InstallmentProduct, bank: BankProcess) -> Story:
    today = timezone.localdate()
    customer = _customer(language)

    def plan(description: str, principal: str, tenor: int, days_ago: int) -> InstallmentPlan:
        return plan_create(
            customer=customer,
            product=product,
            principal=Decimal(principal),
            tenor=tenor,
            purchase_date=today - timedelta(days=days_ago),
            description=description,
        )

    current = plan(LONG_DESCRIPTION, "3600.00", 12, 10)
    restageable = plan("笔记本电脑" if language == "zh-hans" else "Laptop", "8000.00", 6, 3)
    offered_plan = plan("Sofa", "6000.00", 12, 70)
    submitted_plan = plan("洗衣机" if language == "zh-hans" else "Washing machine", "2400.00", 6, 70)
    overdue = plan("Bike", "1200.00", 12, 40)
    overdue_sweep(as_of=today)

    icbc = _card(customer, ICBC_DEBIT)
    _card(customer, CMB_DEBIT)
    _card(customer, OTHER_BANK)
    empty = _card(customer, INSUFFICIENT_FUNDS)
    autodebit_set(customer=customer, plan=current, enabled=True, card=icbc)
    autodebit_set(customer=customer, plan=offered_plan, enabled=True, card=empty)
    debit_run_inline(business_date=today, slot=1)  # the overdue plan's auto-debit fails: no funds

    succeeded = _pay(customer, current, icbc, "50.00", "layout:ok")
    failed = _pay(customer, current, empty, "30.00", "layout:no-funds")
    later = today + timedelta(days=5)
    scheduled = _pay(customer, current, icbc, "20.00", "layout:later", scheduled_for=later)
    reminders_send(business_date=today)

    offered = _apply(customer, offered_plan)
    agent = staff_user("+8613700000001", AGENT)
    negotiation_start_review(staff=agent, application=offered)
    send_offer(agent, offered)
    submitted = _apply(customer, submitted_plan)

    _wait_for_webhooks(bank)
    return Story(
        customer=customer,
        current=current,
        restageable=restageable,
        offered=NegotiationApplication.objects.get(pk=offered.pk),
        submitted=submitted,
        overdue=overdue,
        succeeded=Repayment.objects.get(pk=succeeded.pk),
        failed=Repayment.objects.get(pk=failed.pk),
        scheduled=scheduled,
    )


def _wait_for_webhooks(bank: BankProcess) -> None:
    """The bank tells the live server about each charge; let it finish before the pages are read."""
    gateway = bank.gateway()
    deadline = time.monotonic() + 10
    while gateway.simulator_admin("GET", "webhooks") != {"pending": 0}:
        assert time.monotonic() < deadline, "the bank's webhooks were not delivered"
        time.sleep(0.05)
    gateway.close()


def layout_problems(page: Page) -> list[str]:
    """At the page's current width: sideways scrolling, and visible text under 12 px."""
    problems = []
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll_width > inner_width:
        problems.append(f"page is {scroll_width}px wide: {page.evaluate(OVERFLOW_JS)}")
    small = page.evaluate(SMALL_TEXT_JS, MIN_FONT_PX)
    return problems + [f"text under {MIN_FONT_PX}px: {text}" for text in small]


def axe_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(AXE_JS, list(BLOCKING_IMPACTS))
    assert result["passes"] > 0, "axe-core checked nothing on this page"
    return [f"axe {violation}" for violation in result["violations"]]


def check_page(page: Page, language: str, name: str) -> list[str]:
    """Every width: no sideways scroll, no small text; axe on the phone and the desktop layout; screenshots
    at 390 and 1280 px."""
    problems: list[str] = []
    lang = page.locator("html").get_attribute("lang") or ""
    if not lang.startswith(language[:2]):
        problems.append(f"shown in {lang!r}, not {language}")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        found = layout_problems(page)
        if width in SHOT_WIDTHS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"layout-{language}-{name}-{width}.png"), full_page=True)
        if width in (360, 1280):  # the phone layout and the desktop one
            found += axe_problems(page)
        problems += [f"{width}px: {problem}" for problem in found]
    return [f"{language} {name}: {problem}" for problem in problems]


def test_the_checks_catch_a_page_that_fails_them(page: Page) -> None:
    """The measuring itself can fail: a wide table, 9 px SVG labels and grey-on-white text are caught."""
    page.set_viewport_size({"width": 360, "height": HEIGHT})
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
        '<table><tr><td style="white-space:nowrap">' + "¥1,234.56 " * 8 + "</td></tr></table>"
        '<svg viewBox="0 0 300 110" width="100%"><text x="10" y="20" font-size="9">11月</text></svg>'
        '<p style="color:#bbb;background:#fff">faint</p></main></body></html>'
    )
    problems = layout_problems(page)
    assert any("page is" in p for p in problems), problems
    assert any("11月" in p and "text under 12px" in p for p in problems), problems
    assert any("color-contrast" in p for p in axe_problems(page))
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Good</title></head><body><main>'
        "<h1>Good</h1><p>¥1,234.56</p></main></body></html>"
    )
    assert layout_problems(page) == []
    assert axe_problems(page) == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_customer_page_fits_a_phone_reads_at_12px_and_passes_axe(
    browser: Browser, live_server, flat_product, bank_books, language: str
) -> None:
    story = make_story(language, flat_product, bank_books)
    base = live_server.url
    context = browser.new_context(
        locale="zh-CN" if language == "zh-hans" else "en-US",
        viewport={"width": WIDTHS[0], "height": HEIGHT},
    )
    page = context.new_page()
    problems: list[str] = []
    try:
        signed_in = False
        for stop in sorted(PAGES, key=lambda s: not s.public):  # the public pages before signing in
            if not stop.public and not signed_in:
                sign_in(page, base, str(story.customer.phone.national_number), PASSWORD)
                signed_in = True
            stop.visit(page, base, story)
            problems += check_page(page, language, stop.name)
    finally:
        context.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)

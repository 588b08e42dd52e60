"""The customer's main journeys in a real browser (Chromium, headless) against a live server."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from installments.models import InstallmentPlan, NegotiationApplication, PlanKind
from installments.services import (
    negotiation_start_review,
    overdue_sweep,
    plan_create,
)
from repayments.models import AutoDebitMandate, BankWebhookEvent, Repayment, RepaymentStatus
from repayments.staff import AGENT
from tests.browser.sessions import sign_in
from tests.cards import ICBC_DEBIT
from tests.installments.negotiation_support import PDF, send_offer, staff_user
from tests.otp import CodeCatcher

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Browser-pass-2026"
SHOPPER = "13811112222"  # 张三's national number, as typed


@pytest.fixture
def codes():
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


@pytest.fixture
def shopper(flat_product) -> User:
    user = User.objects.create_user("+8613811112222", PASSWORD, real_name="张三")
    plan_create(
        customer=user,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
        description="iPhone",
    )
    return user


def test_sign_in_bind_card_auto_debit_pay_and_read_the_record(
    page: Page, live_server, shopper, codes, shoot, bank_books
) -> None:
    base = live_server.url
    sign_in(page, base, SHOPPER, PASSWORD)
    shoot("account")

    # 银行卡管理: bind a card with the SMS code.
    page.goto(f"{base}/cards/bind/")
    page.locator("button[data-send-code]").click()
    expect(page.locator("button[data-send-code]")).to_contain_text("s)")  # sent; counting down
    assert codes.codes, "no code was sent"
    page.locator("#id_number").fill(ICBC_DEBIT)
    page.locator("#id_holder_name").fill("张三")
    page.locator("#id_reserved_phone").fill("13811112222")
    page.locator("#id_code").fill(codes.codes[-1])
    page.locator("form:has(#id_number) .actions button[type=submit]").click()
    expect(page).to_have_url(f"{base}/cards/")
    expect(page.locator("main")).to_contain_text(ICBC_DEBIT[-4:])
    assert ICBC_DEBIT not in page.content()
    shoot("cards")

    # 设置自动扣款 on the plan's page.
    plan = InstallmentPlan.objects.get(customer=shopper)
    page.goto(f"{base}/plans/{plan.public_id}/")
    page.locator("#id_enabled").check()
    page.locator("#autodebit .actions button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    assert AutoDebitMandate.objects.get(plan=plan).enabled
    shoot("plan")

    # 我的账单 -> 立即还款: part of the bill, confirm, result.
    page.goto(f"{base}/bills/")
    shoot("bills")
    page.locator(f"a[href='/plans/{plan.public_id}/pay/']").click()
    # The amount and the date show once the choice that needs them is picked (static/js/reveal.js).
    expect(page.locator("#id_amount")).to_be_hidden()
    expect(page.locator("#id_scheduled_for")).to_be_hidden()
    page.locator("input[name=when][value=date]").check()
    expect(page.locator("#id_scheduled_for")).to_be_visible()
    page.locator("input[name=when][value=now]").check()
    expect(page.locator("#id_scheduled_for")).to_be_hidden()
    page.locator("input[name=mode][value=custom]").check()
    page.locator("#id_amount").fill("50.00")
    shoot("pay")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("#confirm-amount")).to_contain_text("50.00")
    page.locator("#confirm-pay").click()
    expect(page.locator("main h1")).to_contain_text(re.compile("Payment received|还款成功|已收到"))
    repayment = Repayment.objects.get(customer=shopper)
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayment.amount == Decimal("50.00")
    # Charged by the bank service over HTTP, which also told us by webhook (acted on once).
    bank = bank_books.gateway()
    charges = [(c.idempotency_key, c.amount) for c in bank.succeeded_charges(key_prefix="repayment:")]
    assert charges == [(f"repayment:{repayment.public_id}", Decimal("50.00"))]
    deadline = time.monotonic() + 10
    while bank.simulator_admin("GET", "webhooks") != {"pending": 0}:
        assert time.monotonic() < deadline, "the bank's webhook was not delivered"
        time.sleep(0.05)
    bank.close()
    assert BankWebhookEvent.objects.filter(idempotency_key=f"repayment:{repayment.public_id}").count() == 1

    # The record and the SMS.
    page.goto(f"{base}/records/")
    expect(page.locator("main table")).to_contain_text("50.00")
    shoot("records")
    page.goto(f"{base}/messages/")
    expect(page.locator("main")).to_contain_text("50.00")
    shoot("messages")


def test_a_one_time_card_short_of_money_then_paying_what_it_holds(
    page: Page, live_server, shopper, shoot, bank_books
) -> None:
    """立即还款 with a card used once that holds ¥30 (the bank's default balance, for this test): ¥100 is
    refused for insufficient funds, the failure page says why in Chinese and offers the next steps, and
    "pay what the card holds" pays ¥30 with a card used once again."""
    bank_books.env["BANK_DEFAULT_BALANCE"] = "30.00"
    bank_books.restart()
    try:
        base = live_server.url
        sign_in(page, base, SHOPPER, PASSWORD)
        plan = InstallmentPlan.objects.get(customer=shopper)
        # The busy state (static/js/busy.js): on submit the button is disabled and reads 处理中…; this form's
        # own listener stops the navigation, so the state can be seen.
        page.goto(f"{base}/plans/{plan.public_id}/pay/")
        page.evaluate(
            "document.querySelector('form[data-busy]').addEventListener('submit', e => e.preventDefault())"
        )
        busy = page.locator("main form[data-busy] button[type=submit]")
        busy.click()
        expect(busy).to_be_disabled()
        expect(busy).to_have_text("处理中…")
        page.goto(f"{base}/plans/{plan.public_id}/pay/")
        expect(page.locator("input[name=mode][value=due_now]")).to_have_count(0)  # nothing due: not offered
        page.locator("input[name=mode][value=custom]").check()
        page.locator("#id_amount").fill("100.00")
        expect(page.locator("input[name=card][value=one_time]")).to_be_checked()
        page.locator("main form button[type=submit]").first.click()
        page.locator("#id_number").fill(ICBC_DEBIT)
        page.locator("#id_holder_name").fill("张三")
        page.locator("#confirm-pay").click()
        expect(page.locator("#failure-reason")).to_contain_text("余额不足")
        expect(page.locator("main")).not_to_contain_text("Insufficient")
        steps = page.locator("#next-steps")
        expect(steps.locator("[data-step=retry] a")).to_be_visible()
        expect(steps.locator("[data-step=smaller_amount] a")).to_be_visible()
        expect(steps.locator("[data-step=hotline]")).to_contain_text(settings.SERVICE_HOTLINE)
        expect(page.locator("footer")).to_contain_text(settings.SERVICE_HOTLINE)
        shoot("pay-failed-insufficient")

        steps.locator("[data-step=smaller_amount] a").click()
        expect(page.locator("input[name=mode][value=custom]")).to_be_checked()
        expect(page.locator("input[name=card][value=one_time]")).to_be_checked()
        page.locator("#id_amount").fill("30.00")
        shoot("pay-smaller-amount")
        page.locator("main form button[type=submit]").first.click()
        expect(page.locator("#confirm-amount")).to_contain_text("30.00")
        page.locator("#id_number").fill(ICBC_DEBIT)
        page.locator("#id_holder_name").fill("张三")
        page.locator("#confirm-pay").click()
        expect(page.locator("main h1")).to_contain_text(re.compile("Payment received|还款成功|已收到"))
        expect(page.locator("#remaining")).to_be_visible()
        shoot("pay-smaller-amount-received")
        paid = Repayment.objects.filter(customer=shopper).order_by("requested_at")
        assert [(r.status, r.amount, r.failure_code) for r in paid] == [
            (RepaymentStatus.FAILED, Decimal("100.00"), "insufficient_funds"),
            (RepaymentStatus.SUCCEEDED, Decimal("30.00"), ""),
        ]
    finally:
        bank_books.env.pop("BANK_DEFAULT_BALANCE")


def test_apply_for_a_secondary_plan(page: Page, live_server, shopper, codes, shoot) -> None:
    """二次分期 at 390 px: the options with what each costs more or less, an option that only costs more
    left out, a confirmation step with the terms, 发送验证码 beside the code (no reload, countdown), then
    the new plan."""
    base = live_server.url
    sign_in(page, base, SHOPPER, PASSWORD)
    plan = InstallmentPlan.objects.get(customer=shopper)
    page.goto(f"{base}/plans/{plan.public_id}/")
    page.locator(f"a[href='/plans/{plan.public_id}/restage/']").click()
    expect(page.locator("#restage-quote")).to_be_visible()
    expect(page.locator(".restage-option[data-tenor='24']")).to_contain_text("比原计划多付 ¥100.80")
    expect(page.locator(".restage-option[data-tenor='12']")).to_have_count(0)  # only costs more
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot("restage_options")
    page.locator("input[name=tenor][value='24']").check()
    page.locator("main form .actions button[type=submit]").click()
    expect(page.locator("#restage-terms")).to_contain_text("¥1,372.80")
    assert not InstallmentPlan.objects.filter(source_plan=plan).exists()
    code = page.locator("#id_code")
    code.fill("12")
    send = page.locator("button[data-send-code]")
    send.click()
    expect(send).to_be_disabled()  # counting down
    expect(send).to_contain_text("s)")
    expect(code).to_have_value("12")  # the page did not reload
    assert len(codes.codes) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot("restage_confirm")
    code.fill(codes.codes[-1])
    page.locator("#restage-confirm .actions button[value=confirm]").click()
    secondary = InstallmentPlan.objects.get(source_plan=plan)
    assert secondary.kind == PlanKind.SECONDARY
    assert secondary.tenor == 24
    expect(page).to_have_url(f"{base}/plans/{secondary.public_id}/")


def test_negotiated_application_and_accepting_the_offer(
    page: Page, live_server, flat_product, codes, tmp_path, shoot
) -> None:
    base = live_server.url
    customer = User.objects.create_user("+8613811113333", PASSWORD, real_name="王五")
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
        description="Sofa",
    )
    overdue_sweep(as_of=timezone.localdate())
    sign_in(page, base, "13811113333", PASSWORD)

    payslip = tmp_path / "payslip.pdf"
    payslip.write_bytes(PDF)
    page.goto(f"{base}/plans/{plan.public_id}/negotiate/")
    page.locator("#id_reason").select_option("income_drop")
    page.locator("#id_monthly_income").fill("6000")
    page.locator("#id_affordable_payment").fill("500")
    page.locator("#id_requested_tenor").fill("12")
    page.locator("#id_documents").set_input_files(str(payslip))
    page.locator("main form button[type=submit]").click()
    application = NegotiationApplication.objects.get(customer=customer)
    expect(page).to_have_url(f"{base}/negotiations/{application.public_id}/")
    expect(page.locator("main")).to_contain_text("payslip.pdf")

    # Support staff make an offer (the admin is tested elsewhere; here through the same service).
    agent = staff_user("+8613700000001", AGENT)
    negotiation_start_review(staff=agent, application=application)
    send_offer(agent, application)

    page.reload()
    expect(page.locator("#offer")).to_be_visible()
    expect(page.locator("#negotiation-timeline [aria-current=step]")).to_have_attribute(
        "data-step", "offered"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot("negotiation_offer")
    page.locator("#offer button[data-send-code]").click()
    expect(page.locator("#offer button[data-send-code]")).to_contain_text("s)")
    page.locator("#id_code").fill(codes.codes[-1])
    page.locator("#accept-form .actions button[value=accept]").click()
    application.refresh_from_db()
    assert application.state == "accepted"
    expect(page).to_have_url(f"{base}/plans/{application.result_plan.public_id}/")


def test_switch_language(page: Page, live_server, shopper) -> None:
    base = live_server.url
    sign_in(page, base, SHOPPER, PASSWORD)
    page.goto(f"{base}/bills/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("main h1")).to_have_text("我的账单")
    page.locator("#lang-select").select_option("en")
    page.locator("form.lang button").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_have_text("My bills")

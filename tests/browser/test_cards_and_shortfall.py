"""银行卡管理 and 我的账户's card banner in a real browser (issue 18, items 1 and 9): the insufficient-funds
banner after a failed debit, 解绑 asking first and naming the plan, and moving the auto-debit to the other
card with the SMS code ("扣款卡已更换为尾号XXXX")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from installments.services import plan_create
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, CardStatus
from repayments.services import autodebit_set, debit_run_inline
from tests.browser.sessions import sign_in
from tests.cards import CMB_DEBIT
from tests.otp import CodeCatcher
from tests.schedule_dates import first_due_on, purchase_due_on

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Browser-pass-2026"
INSUFFICIENT = "6222020000000015"  # the bank's magic card: every charge fails for insufficient funds


@pytest.fixture
def codes():
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


def test_banner_then_remove_the_card_moving_its_autodebit(
    page: Page, live_server, flat_product, bind, codes, shoot, bank_books
) -> None:
    base = live_server.url
    user = User.objects.create_user("+8613811112222", PASSWORD, real_name="张三")
    today = timezone.localdate()
    plan = plan_create(
        customer=user,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=purchase_due_on(today),
        description="iPhone",
    )
    first_due_on(plan, today)
    empty = bind(user, INSUFFICIENT)
    spare = bind(user, CMB_DEBIT)
    autodebit_set(customer=user, plan=plan, enabled=True, card=empty)
    debit_run_inline(business_date=today, slot=1)  # the bank answers: insufficient funds

    sign_in(page, base, "13811112222", PASSWORD)
    banner = page.locator("[data-banner=card-shortfall]")
    expect(banner).to_contain_text(f"尾号{empty.last4} 上次扣款因余额不足失败")
    expect(banner.get_by_role("link", name="更换扣款卡")).to_be_visible()
    shoot("account_card_shortfall")

    page.goto(f"{base}/cards/")
    expect(page.locator(f"[data-card='{empty.last4}']")).to_contain_text("iPhone")
    expect(page.locator(f"[data-card='{spare.last4}']")).not_to_contain_text("iPhone")
    shoot("cards_autodebit")
    page.locator(f"[data-card='{empty.last4}'] a", has_text="解绑").click()
    expect(page.locator("h1")).to_have_text(f"解绑尾号{empty.last4}的银行卡？")
    expect(page.locator("[data-autodebit-plans]")).to_contain_text("iPhone")
    assert BankCard.objects.get(pk=empty.pk).status == CardStatus.ACTIVE  # asking removed nothing
    page.locator("#replacement").select_option(str(spare.public_id))
    page.locator("button[data-send-code]").click()
    expect(page.locator("button[data-send-code]")).to_contain_text("s)")  # sent; counting down
    expect(page.locator("#replacement")).to_have_value(str(spare.public_id))  # the choice survived
    page.locator("#id_code").fill(codes.codes[-1])
    shoot("card_unbind")
    page.get_by_role("button", name="确认解绑").click()
    expect(page).to_have_url(f"{base}/cards/")
    expect(page.locator(".messages")).to_contain_text(f"扣款卡已更换为尾号{spare.last4}")
    assert AutoDebitMandate.objects.get(plan=plan).card_id == spare.pk
    assert Notification.objects.filter(template_code="autodebit_card_changed").exists()
    page.goto(f"{base}/account/")
    expect(page.locator("[data-banner=card-shortfall]")).to_have_count(0)

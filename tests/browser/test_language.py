"""The account's language in a real browser (issue 18, item 4): an English account in a Chinese browser
reads English, and the switch in the header changes the account."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from installments.services import overdue_sweep, plan_create

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Browser-pass-2026"


def test_an_english_account_in_a_chinese_browser(page: Page, live_server, flat_product, shoot) -> None:
    base = live_server.url
    user = User.objects.create_user("+8613911113333", PASSWORD, real_name="王五", language="en")
    plan = plan_create(
        customer=user,
        product=flat_product,
        principal=Decimal("3600.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=75),
        description="Sofa",
    )
    overdue_sweep(as_of=timezone.localdate())
    page.goto(f"{base}/login/")  # the browser's locale is zh-CN: before sign-in, Chinese
    expect(page.locator("main h1")).to_have_text("登录")
    page.get_by_label("手机号").fill("13911113333")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/account/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_have_text("My account")
    expect(page.locator("a.brand")).to_have_text("FenqiPay")
    shoot("lang_en_account_in_zh_browser")
    page.goto(f"{base}/plans/{plan.public_id}/")
    status = page.locator("dl.summary dd.status-overdue")
    expect(status).to_have_text(re.compile(r"^\d+ days overdue$"))
    expect(page.locator("main")).not_to_contain_text("M2")
    shoot("lang_en_plan_overdue")
    page.locator("#lang-select").select_option("zh-hans")
    page.locator("form.lang button").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(status).to_have_text(re.compile(r"^已逾期\d+天$"))
    user.refresh_from_db()
    assert user.language == "zh-hans"

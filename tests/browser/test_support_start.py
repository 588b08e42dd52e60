"""The support start page in a real browser (issue 19): an agent signs in to the admin, finds a customer by
name from the start page's search box, opens the customer 360, shows the phone number (POST, audited) and
sees the reveal on the audit tab; at 390 px nothing overflows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import StaffAction, User
from installments.services import plan_create
from repayments.staff import AGENT
from tests.browser.conftest import PHONE
from tests.factories import StaffFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def test_agent_finds_a_customer_and_reveals_the_phone(page: Page, live_server, flat_product, shoot) -> None:
    customer = User.objects.create_user("+8613811112222", "secret-pass-1", real_name="张三")
    plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
    )
    agent = StaffFactory(phone="+8613700000001", real_name="王客服", password="staff-pass-1", groups=[AGENT])
    page.set_viewport_size(PHONE)  # a phone first: nothing may overflow 390 px (``shoot`` also takes 1280)
    base = live_server.url

    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "13700000001")
    page.fill("input[name=password]", "staff-pass-1")
    page.locator("input[type=submit]").click()
    expect(page.locator("#customer-search")).to_be_visible()
    expect(page.locator("#start-applications")).to_be_visible()
    expect(page.locator("#start-team-figures")).to_have_count(0)  # leads only
    no_overflow(page)
    shoot("support-start")

    page.fill("#customer-search-q", "张三")
    page.locator("#customer-search input[type=submit]").click()
    results = page.locator("#search-results")
    expect(results).to_contain_text("张*")
    expect(results).to_contain_text("138****2222")
    expect(results).not_to_contain_text("13811112222")
    results.get_by_role("link", name="张*").click()

    header = page.locator("#customer-header")
    expect(header).to_contain_text("138****2222")
    expect(header).to_contain_text("¥")
    no_overflow(page)
    shoot("support-360")

    page.locator("#reveal-phone").click()
    expect(page.locator("#customer-phone")).to_have_text("+86 138 1111 2222")
    action = StaffAction.objects.get()
    assert (action.staff_id, action.customer_id, action.action) == (agent.pk, customer.pk, "phone_revealed")

    page.locator("#tab-audit").click()
    audit = page.locator("#audit")
    expect(audit).to_contain_text("王客服")
    expect(audit).to_contain_text("138****2222")
    expect(page.locator("#customer-phone")).to_have_text("138****2222")  # masked again on the next page
    no_overflow(page)
    shoot("support-360-audit")

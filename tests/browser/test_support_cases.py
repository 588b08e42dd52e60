"""Journey (issue 19, collection cases): an agent signs in to the staff workspace, finds their case queue,
puts one case off to next week, records a promise to pay on another; the days pass without the money (the
daily run is called for a later business date), and the promise shows broken with its case back at the top
of the queue."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from installments.models import CaseStatus, CollectionCase, PromiseStatus, PromiseToPay
from installments.services import overdue_sweep, plan_create
from repayments.services import run_daily
from repayments.staff import AGENT
from tests.browser.conftest import DESKTOP, SCREENSHOTS
from tests.factories import CustomerFactory, StaffFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
]
# The contact gate allows calls 08:00-22:00 China time. This journey's customers chose to be called at any
# hour (their own window), so it passes whenever the suite runs; moving the clock instead (time_machine)
# would put our signed requests outside the bank process's timestamp window.
ANY_HOUR = {"contact_window_start": time(0, 0), "contact_window_end": time(23, 59, 59)}

PASSWORD = "staff-pass-1"
QUEUE = "/admin/installments/collectioncase/"


def sign_in_staff(page: Page, base: str, phone: str) -> None:
    page.goto(base + "/admin/login/?next=" + QUEUE)
    page.locator("input[name=username]").fill(phone)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(base + QUEUE)


def queue_rows(page: Page) -> list[str]:
    # The URL changes before the page has loaded (the sign-in's redirect): read the rows once it has.
    page.wait_for_load_state("load")
    expect(page.locator(".paginator")).to_be_visible()
    return page.locator("#result_list tbody tr").all_inner_texts()


def test_agent_records_a_promise_that_the_daily_run_marks_broken(
    browser: Browser, live_server, flat_product
) -> None:
    today = timezone.localdate()
    agent = StaffFactory(groups=[AGENT], real_name="王坐席", password=PASSWORD)
    first, second = (
        plan_create(
            customer=CustomerFactory(real_name=name, **ANY_HOUR),
            product=flat_product,
            principal="1200.00",
            tenor=12,
            purchase_date=today - timedelta(days=days),
        )
        for name, days in (("张三", 45), ("李四", 40))
    )
    overdue_sweep(as_of=today)
    promised_case = CollectionCase.objects.get(plan=second)
    other_case = CollectionCase.objects.get(plan=first)
    assert promised_case.assignee == other_case.assignee == agent

    context = browser.new_context(locale="zh-CN", viewport=DESKTOP)
    page = context.new_page()
    try:
        sign_in_staff(page, live_server.url, str(agent.phone))
        # My open cases, the one longer overdue first (both are due today).
        rows = queue_rows(page)
        assert len(rows) == 2
        assert f"#{other_case.pk}" in rows[0]
        assert "¥" in rows[0]

        # The first customer asks for a call back next week.
        page.locator(f"a[href='{QUEUE}{other_case.pk}/change/']").click()
        page.get_by_role("link", name="下一步").click()
        page.locator("input[name=next_action_date]").fill((today + timedelta(days=7)).isoformat())
        page.locator("input[type=submit]").click()
        expect(page.locator(".messagelist")).to_contain_text("下次跟进日期")

        # The second promises ¥100 in three days.
        page.goto(live_server.url + QUEUE)
        page.locator(f"a[href='{QUEUE}{promised_case.pk}/change/']").click()
        expect(page.locator("body")).to_contain_text("待处理")
        # The case links the customer workspace twice: in the 360 header above it and in its own fields.
        workspace = page.locator(f"a[href='/admin/repayments/repayment/customer/{second.customer_id}/']")
        expect(workspace).to_have_count(2)
        expect(page.locator("#customer-header")).to_contain_text("李*")
        page.get_by_role("link", name="记录承诺还款").click()
        promised = today + timedelta(days=3)
        page.locator("input[name=amount]").fill("100.00")
        page.locator("input[name=promised_date]").fill(promised.isoformat())
        page.locator("textarea[name=note]").fill("发工资后还")
        page.locator("input[type=submit]").click()
        expect(page.locator(".messagelist")).to_contain_text("已记录承诺")
        expect(page.locator("table.promises")).to_contain_text("¥100.00")
        expect(page.locator("table.promises")).to_contain_text("待还款")
        expect(page.locator("table.contacts")).to_contain_text("发工资后还")

        # No payment arrives; two days after the promised date the daily run decides.
        run_daily(business_date=promised + timedelta(days=2))
        assert PromiseToPay.objects.get().status == PromiseStatus.BROKEN

        page.goto(live_server.url + QUEUE)
        rows = queue_rows(page)
        assert f"#{promised_case.pk}" in rows[0]
        assert "承诺未兑现" in rows[0]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "support-cases-queue-1280.png"), full_page=True)
        page.locator(f"a[href='{QUEUE}{promised_case.pk}/change/']").click()
        expect(page.locator("table.promises")).to_contain_text("未兑现")
        page.screenshot(path=str(SCREENSHOTS / "support-cases-case-1280.png"), full_page=True)
        assert CollectionCase.objects.get(pk=promised_case.pk).status == CaseStatus.BROKEN_PROMISE
    finally:
        context.close()

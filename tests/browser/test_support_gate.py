"""Journey (issue 19, item 6): an agent logs a call from the customer workspace; the contact gate refuses
it at 22:30 China time, with its code on the form, and allows it at 10:00.

"Now" is moved with time_machine in this process: the live server runs in a thread of it, so the gate
reads the travelled clock. The clock ticks (Playwright's waits need time to pass).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from installments.models import ContactLog, ContactRefusal, PlanStatus
from installments.services import overdue_sweep, plan_create
from repayments.staff import AGENT
from tests.browser.conftest import PHONE, SCREENSHOTS
from tests.factories import CustomerFactory, ProductFactory, StaffFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF_PASSWORD = "staff-pass-1"


def _today_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(timezone.localdate(), time(hour, minute), tzinfo=SHANGHAI)


def _staff_sign_in(page: Page, base: str, phone: str, next_url: str) -> None:
    page.goto(f"{base}{reverse('admin:login')}?next={next_url}")
    page.locator("input[name=username]").fill(phone)
    page.locator("input[name=password]").fill(STAFF_PASSWORD)
    page.locator("form#login-form [type=submit]").click()
    expect(page).to_have_url(base + next_url)


def _log_a_call(page: Page) -> None:
    page.locator("select[name=channel]").select_option("call_out")
    page.locator("select[name=outcome]").select_option("reached")
    page.locator("textarea[name=notes]").fill("催收外呼")
    page.locator("#content form [type=submit]").first.click()
    page.wait_for_load_state()


def test_an_agent_logs_a_call_the_gate_refuses_at_22_30_and_allows_at_10(
    browser: Browser, live_server
) -> None:
    agent = StaffFactory(phone="+8613700000091", groups=[AGENT])
    customer = CustomerFactory(phone="+8613811119091", real_name="王五")
    plan = plan_create(
        customer=customer,
        product=ProductFactory(),
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    base = live_server.url
    workspace = reverse("admin:support_customer", args=[customer.pk])
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    try:
        with time_machine.travel(_today_at(22, 30), tick=True):
            _staff_sign_in(page, base, str(agent.phone.national_number), workspace)
            page.locator("a[href*='contactlog/add/?customer=']").click()
            expect(page.locator("select[name=channel]")).to_be_visible()
            _log_a_call(page)
            error = page.locator(".errornote, .errorlist").first
            expect(error).to_contain_text("contact_outside_hours")
            expect(page.locator("#content")).to_contain_text("08:00")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "support-gate-refused-390.png"), full_page=True)
        assert not ContactLog.objects.exists()
        assert ContactRefusal.objects.get().code == "contact_outside_hours"

        with time_machine.travel(_today_at(10), tick=True):
            _log_a_call(page)  # the same form, sent again in the morning
            expect(page).to_have_url(base + reverse("admin:installments_contactlog_changelist"))
            expect(page.locator(".messagelist")).to_be_visible()
        entry = ContactLog.objects.get()
        assert (entry.customer, entry.staff, entry.channel, entry.party) == (
            customer,
            agent,
            "call_out",
            "debtor",
        )
    finally:
        context.close()

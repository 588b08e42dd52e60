"""投诉 in real browsers (issue 19, item 7): a customer files a complaint on the web with an attachment, an
agent investigates and asks for more time, a lead approves the extension (the customer gets the notice SMS
with the new date and the reason), the agent resolves it, and the customer reads the decision."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from notifications.models import Notification
from repayments.models import Complaint
from repayments.staff import AGENT, LEAD
from tests.factories import StaffFactory
from tests.installments.negotiation_support import PDF

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
PASSWORD = "Browser-pass-2026"
STAFF_PASSWORD = "staff-pass-1"


def customer_sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.locator("input[name=username]").fill("13811112222")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{base}/account/")


def staff_page(browser: Browser, base: str, phone: str) -> Page:
    """A staff member in a browser of their own, signed in to the admin."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill(phone)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()
    return page


def step(page: Page, name: str, text: dict[str, str] | None = None) -> None:
    """On the complaint's admin page: the step's button, its form, Confirm; back on the complaint."""
    page.locator(f"#complaint-{name}").click()
    for field, value in (text or {}).items():
        page.locator(f"[name={field}]").fill(value)
    page.locator("#content-main form input[type=submit]").click()
    expect(page.locator("ul.messagelist li.success")).to_be_visible()


def test_a_complaint_from_filing_through_an_extension_to_the_decision(
    page: Page, browser: Browser, live_server, shoot
) -> None:
    base = live_server.url
    customer = User.objects.create_user("+8613811112222", PASSWORD, real_name="张三")
    StaffFactory(phone="+8613700000001", password=STAFF_PASSWORD, groups=[AGENT])
    StaffFactory(phone="+8613700000002", password=STAFF_PASSWORD, groups=[LEAD])

    # The customer files from the footer's link, with a screenshot of the bank's record.
    customer_sign_in(page, base)
    page.locator("#footer-complaints").click()
    expect(page.locator("main h1")).to_have_text("投诉与建议")
    shoot("complaints_empty")
    page.locator("#complaint-new").click()
    page.get_by_label("扣款错误").check()
    page.locator("textarea[name=text]").fill("11月28日同一期被扣了两次款。")
    page.locator("input[name=documents]").set_input_files(
        files=[{"name": "bank.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    shoot("complaint_new")
    page.get_by_role("button", name="提交投诉").click()
    expect(page.locator("#complaint-state")).to_have_attribute("data-state", "received")
    complaint = Complaint.objects.get()
    deadline = timezone.localdate() + timedelta(days=15)
    expect(page.locator("#complaint-deadline")).to_contain_text(f"{deadline.month}月{deadline.day}日")
    expect(page.locator("main")).to_contain_text("bank.pdf")
    shoot("complaint_received")

    # The agent takes it from the queue, investigates and asks for more time.
    agent_page = staff_page(browser, base, "13700000001")
    agent_page.goto(f"{base}/admin/repayments/complaint/")
    agent_page.get_by_role("link", name=complaint.reference).click()
    step(agent_page, "investigate")
    step(agent_page, "extend", {"reason": "需向银行核实扣款记录"})
    # The approval is not an agent's to give.
    refused = agent_page.goto(f"{base}/admin/repayments/complaint/{complaint.pk}/approve-extension/")
    assert refused is not None
    assert refused.status == 403

    # The lead approves: the deadline moves to 30 days and the customer is told why by SMS.
    lead_page = staff_page(browser, base, "13700000002")
    lead_page.goto(f"{base}/admin/repayments/complaint/{complaint.pk}/change/")
    step(lead_page, "approve_extension")
    extended = timezone.localdate() + timedelta(days=30)
    [notice] = Notification.objects.filter(user=customer, template_code="complaint_extended")
    assert f"{extended.month}月{extended.day}日" in notice.text
    assert "需向银行核实扣款记录" in notice.text

    # The agent answers.
    agent_page.goto(f"{base}/admin/repayments/complaint/{complaint.pk}/change/")
    step(agent_page, "resolve", {"decision": "第二笔扣款已退回原卡，3个工作日内到账。"})
    assert Notification.objects.filter(user=customer, template_code="complaint_resolved").count() == 1

    # The customer reads the decision.
    page.reload()
    expect(page.locator("#complaint-decision")).to_contain_text("第二笔扣款已退回原卡")
    expect(page.locator("#complaint-state")).to_have_attribute("data-state", "resolved")
    shoot("complaint_resolved")
    page.goto(f"{base}/complaints/")
    expect(page.locator("#complaints tr[data-state=resolved]")).to_have_count(1)
    expect(page.locator("#complaints")).to_contain_text(re.compile(complaint.reference))

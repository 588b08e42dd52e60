"""Issue 19, offers on one page, in a real browser: an agent opens the offer from the queue, the preview
follows the terms, terms changed without a new preview are refused on send until previewed, the offer is
sent, another user (an approver) approves it and the customer accepts it with the SMS code."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from installments.models import NegotiationApplication
from installments.services import overdue_sweep, plan_create
from repayments.staff import AGENT, APPROVER
from tests.factories import StaffFactory
from tests.installments.negotiation_support import apply
from tests.otp import CodeCatcher

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
PASSWORD = "Browser-pass-2026"
STAFF_PASSWORD = "staff-pass-1"  # StaffFactory's
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def codes():
    catcher = CodeCatcher()
    yield catcher
    catcher.close()


def staff_sign_in(page: Page, base: str, staff: User) -> None:
    page.goto(f"{base}/admin/login/")
    page.locator("input[name=username]").fill(str(staff.phone))
    page.locator("input[name=password]").fill(STAFF_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()


def preview_tenor(page: Page) -> str:
    return page.locator("#preview-tenor").inner_text().strip()


def test_offer_previewed_changed_refused_sent_approved_and_accepted(
    browser: Browser, live_server, flat_product, codes
) -> None:
    base = live_server.url
    customer = User.objects.create_user("+8613811114444", PASSWORD, real_name="赵六")
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=70),
        description="Sofa",
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    application = apply(plan, requested_tenor=24, affordable_payment="300.00")
    agent = StaffFactory(phone="+8613700000011", real_name="李客服", groups=[AGENT])
    approver = StaffFactory(phone="+8613700000012", real_name="王审批", groups=[APPROVER])

    # --- the agent: queue -> offer page ------------------------------------------------------------
    agent_context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = agent_context.new_page()
    staff_sign_in(page, base, agent)
    page.goto(base + reverse("admin:installments_negotiationapplication_changelist"))
    expect(page.locator("#result_list")).to_contain_text("Sofa")
    page.locator(f"a[href$='/{application.pk}/offer/']").first.click()
    expect(page.locator("#application-facts")).to_contain_text("¥300.00")  # what the customer can pay
    expect(page.locator("#application-facts")).to_contain_text("¥6,000.00")
    expect(page.locator("#fact-documents")).to_contain_text("payslip.pdf")
    assert preview_tenor(page) == "24"  # the requested tenor, previewed on arrival
    expect(page.locator("#offer-preview")).to_contain_text("0.60 % a month")  # the rate as a percentage

    # The preview follows the terms as they change (the script re-posts them).
    page.locator("#id_tenor").fill("18")
    expect(page.locator("#preview-tenor")).to_have_text("18")
    expect(page.locator("#offer-send")).to_be_enabled()
    expect(page.locator("#offer-preview .offer-schedule tbody tr")).to_have_count(18)

    # Typed again and "send" pressed at once: the script holds "send" until the new preview is in.
    page.locator("#id_tenor").fill("30")
    expect(page.locator("#preview-tenor")).to_have_text("30")
    agent_context.close()

    # Without the script (the old page's way): 24 previewed, changed to 30, "send" pressed: refused, and
    # the page shows the preview of 30; nothing was sent.
    agent_context = browser.new_context(locale="en-US", viewport=DESKTOP, java_script_enabled=False)
    page = agent_context.new_page()
    staff_sign_in(page, base, agent)
    page.goto(base + reverse("admin:installments_negotiation_offer", args=[application.pk]))
    assert preview_tenor(page) == "24"
    page.locator("#id_tenor").fill("30")
    page.locator("#offer-send").click()
    expect(page.locator("#offer-errors")).to_contain_text("not the ones last previewed")
    assert preview_tenor(page) == "30"
    application.refresh_from_db()
    assert application.state == "submitted"
    assert application.offer_tenor is None

    # Previewed now: "send" sends the 30 shown; above 24 installments it waits for an approver.
    page.locator("#offer-send").click()
    expect(page.locator(".messagelist")).to_contain_text("waits for an approver")
    application.refresh_from_db()
    assert application.state == "offer_pending_approval"
    assert application.offer_tenor == 30
    assert application.assigned_to == agent
    # The agent cannot approve (no approver permission).
    response = page.goto(base + reverse("admin:installments_negotiation_approve", args=[application.pk]))
    assert response is not None
    assert response.status == 403
    agent_context.close()

    # --- the approver: the evidence and the schedule, then approve -------------------------------------
    approver_context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = approver_context.new_page()
    staff_sign_in(page, base, approver)
    page.goto(base + reverse("admin:installments_negotiation_approve", args=[application.pk]))
    expect(page.locator("#offer-to-approve .offer-schedule tbody tr")).to_have_count(30)
    expect(page.locator("#approve-share")).to_contain_text("%")
    expect(page.locator("#fact-documents")).to_contain_text("payslip.pdf")
    expect(page.locator("#offer-to-approve")).to_contain_text("李客服")
    page.locator("#content-main form input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("approved")
    application.refresh_from_db()
    assert application.state == "offered"
    assert application.approved_by == approver
    approver_context.close()

    # --- the customer accepts with the SMS code ------------------------------------------------------
    customer_context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = customer_context.new_page()
    page.goto(f"{base}/login/")
    page.get_by_label(re.compile("Mobile number|手机号")).fill("13811114444")
    page.get_by_label(re.compile("^(Password|密码)$")).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|登录")).click()
    expect(page).to_have_url(f"{base}/account/")
    page.goto(base + reverse("installments:negotiation", args=[application.public_id]))
    expect(page.locator("#offer")).to_be_visible()
    page.locator("#offer button[data-send-code]").click()
    expect(page.locator("#offer button[data-send-code]")).to_contain_text("s)")
    page.locator("#id_code").fill(codes.codes[-1])
    page.locator("#accept-form .actions button[value=accept]").click()
    application.refresh_from_db()
    assert application.state == "accepted"
    assert application.result_plan is not None
    assert application.result_plan.tenor == 30
    expect(page).to_have_url(f"{base}/plans/{application.result_plan.public_id}/")
    customer_context.close()
    assert NegotiationApplication.objects.get(pk=application.pk).offer_tenor == 30

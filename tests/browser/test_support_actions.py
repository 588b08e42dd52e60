"""Issue 19, workspace actions in a real browser: an agent asks from the customer workspace to waive a
penalty above ``ADJUSTMENT_APPROVAL_ABOVE``, the waiver waits; an approver approves it from the waivers
list; the customer's bill (我的账单) shows the lower amount due, and the customer got the SMS."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import StaffAction, User
from installments.ledger import installment_rows, open_component
from installments.models import Adjustment, AdjustmentState, InstallmentPlan
from installments.services import overdue_sweep, plan_create
from notifications.models import Notification
from repayments.selectors import customer_bills
from repayments.staff import AGENT, APPROVER
from tests.factories import StaffFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PASSWORD = "Browser-pass-2026"
STAFF_PASSWORD = "staff-pass-1"


def yuan(amount: Decimal) -> str:
    return f"¥{amount:,.2f}"


def admin_sign_in(page: Page, base: str, staff: User) -> None:
    page.goto(base + reverse("admin:login"))
    page.locator("input[name=username]").fill(str(staff.phone.national_number))
    page.locator("input[name=password]").fill(STAFF_PASSWORD)
    page.locator("form input[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(base + reverse("admin:index"))))


def test_agent_asks_approver_approves_the_bill_falls(
    browser: Browser, live_server, flat_product, settings
) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "20.00"
    base = live_server.url
    customer = User.objects.create_user("+8613811112222", PASSWORD, real_name="张三")
    plan = plan_create(
        customer=customer, product=flat_product, principal=Decimal("3000.00"), tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=100), description="笔记本电脑",
    )  # fmt: skip
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=Decimal("0.01"))
    overdue_sweep(as_of=timezone.localdate())
    penalty = open_component(installment_rows([plan.pk], open_only=True)[plan.pk], "penalty")
    waived = Decimal("30.00")
    assert penalty > waived > Decimal("20.00")
    due_before = customer_bills(customer=customer)[0].due_now
    agent = StaffFactory(groups=[AGENT])
    approver = StaffFactory(groups=[APPROVER])

    # 1. The agent, from the customer workspace: the plan is filled in, the penalty open is shown.
    agent_page = browser.new_context().new_page()
    admin_sign_in(agent_page, base, agent)
    agent_page.goto(base + reverse("admin:support_customer", args=[customer.pk]))
    actions = agent_page.locator("#workspace-actions")
    expect(actions).to_be_visible()
    actions.locator(f"a[href*='adjustment/add/'][href*='plan={plan.pk}']").click()
    expect(agent_page.locator("select[name=plan]")).to_have_value(str(plan.pk))
    expect(agent_page.locator("#content-main")).to_contain_text(yuan(penalty))
    agent_page.locator("input[name=kind][value=waive_penalty]").check()
    agent_page.locator("input[name=amount]").fill(f"{waived}")
    agent_page.locator("select[name=reason_code]").select_option("hardship")
    agent_page.locator("textarea[name=note]").fill("失业，提供了证明")
    agent_page.locator("form input[type=submit]").click()
    expect(agent_page).to_have_url(base + reverse("admin:support_customer", args=[customer.pk]))
    expect(agent_page.locator(".messagelist")).to_contain_text("¥20.00")
    adjustment = Adjustment.objects.get()
    assert adjustment.state == AdjustmentState.REQUESTED
    assert customer_bills(customer=customer)[0].due_now == due_before  # nothing yet

    # 2. The approver, from the waivers list.
    approver_page = browser.new_context().new_page()
    admin_sign_in(approver_page, base, approver)
    approver_page.goto(base + reverse("admin:installments_adjustment_changelist"))
    approver_page.locator(
        f"a[href='{reverse('admin:installments_adjustment_approve', args=[adjustment.pk])}']"
    ).click()
    expect(approver_page.locator("#content-main")).to_contain_text("失业，提供了证明")
    approver_page.locator("form input[type=submit]").click()
    expect(approver_page).to_have_url(base + reverse("admin:installments_adjustment_changelist"))
    adjustment.refresh_from_db()
    assert (adjustment.state, adjustment.approved_by) == (AdjustmentState.APPLIED, approver)

    # 3. The customer's bill shows the lower amount, and the SMS says so.
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base}/login/")
    page.locator("input[name=username]").fill("13811112222")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{base}/account/")
    page.goto(base + reverse("repayments:bills"))
    expect(page.locator("main")).to_contain_text(yuan(due_before - waived))
    sms = Notification.objects.get(user=customer, template_code="adjustment_applied")
    assert f"减免违约金{yuan(waived)}" in sms.text
    assert list(StaffAction.objects.order_by("id").values_list("action", flat=True)) == [
        "adjustment_requested",
        "adjustment_approved",
    ]

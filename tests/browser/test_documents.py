"""还款凭证, 账单明细 and 结清证明 in a real browser, in both languages, at phone and desktop width: the pages
open from the links the issue asks for, fit a 390 px screen, and the public /verify/ page shows the
certificate's state without a sign-in."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from installments.models import PayoffCertificate
from installments.services import plan_create
from repayments.models import RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.services import repayment_create
from tests.browser.sessions import sign_in
from tests.browser.test_customer_journeys import PASSWORD, SHOPPER
from tests.factories import BoundCardFactory

pytestmark = pytest.mark.django_db(transaction=True)


def no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_receipt_statement_certificate_and_verify(
    page: Page, live_server, flat_product, shoot, bank_books, language
) -> None:
    user = User.objects.create_user("+8613811112222", PASSWORD, real_name="张三", language=language)
    plan = plan_create(
        customer=user,
        product=flat_product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=5),
        description="iPhone",
    )
    card = BoundCardFactory(customer=user)
    repayment = repayment_create(
        customer=user,
        plan=plan,
        mode=RepaymentMode.PAYOFF,
        channel=RepaymentChannel.WEB,
        idempotency_key="browser-docs",
        card=card,
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    base, zh = live_server.url, language == "zh-hans"
    if not zh:
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    suffix = "" if zh else "-en"
    sign_in(page, base, SHOPPER, PASSWORD)

    # 还款记录 -> 还款凭证 -> PDF
    page.goto(f"{base}/records/")
    page.locator(f"a[href='/repayments/{repayment.public_id}/receipt/']").click()
    expect(page.locator("main h1")).to_contain_text("还款凭证" if zh else "Repayment receipt")
    expect(page.locator("main")).to_contain_text(f"尾号{card.last4}" if zh else f"ending {card.last4}")
    no_overflow(page)
    shoot(f"receipt{suffix}")
    pdf = page.request.get(f"{base}/repayments/{repayment.public_id}/receipt.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    # The plan page links 账单明细 and, paid off, 结清证明.
    page.goto(f"{base}/plans/{plan.public_id}/")
    page.get_by_role("link", name="账单明细" if zh else "Statement").click()
    expect(page.locator("main h1")).to_contain_text("账单明细" if zh else "Statement")
    expect(page.locator("main dl")).to_contain_text("¥0.00")  # closing balance of a paid-off plan
    no_overflow(page)
    shoot(f"statement{suffix}")

    page.goto(f"{base}/plans/{plan.public_id}/")
    page.get_by_role("link", name="结清证明" if zh else "Payoff certificate").click()
    certificate = PayoffCertificate.objects.get(plan=plan)
    expect(page.locator("main")).to_contain_text(certificate.number)
    no_overflow(page)
    shoot(f"certificate{suffix}")

    # Anyone with the code: signed out, the public check.
    page.context.clear_cookies()
    if not zh:
        page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])
    page.goto(f"{base}/verify/")
    page.locator("#verify-code").fill(certificate.code)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(f"/verify/{certificate.code}/$"))
    expect(page.locator("main")).to_contain_text("张*")
    expect(page.locator("main")).to_contain_text(certificate.number)
    expect(page.locator("main")).not_to_contain_text("张三")
    no_overflow(page)
    shoot(f"verify{suffix}")

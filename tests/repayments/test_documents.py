"""还款凭证, 账单明细 and 结清证明 on the web and through the API: the PDFs are read back with pypdf (Chinese
text included), a card shows only its last four digits, another customer's ids are 404, and a reversal
that reopens a paid-off plan revokes its certificate in the same transaction."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.models import User
from installments.models import PayoffCertificate, PlanStatus
from installments.services import REOPENED_BY_REVERSAL, payoff_certificate_issue, plan_create
from installments.services.certificates import ALPHABET, CODE_LENGTH
from repayments.models import Repayment, RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.services import repayment_create, repayment_reverse
from tests.cards import ICBC_DEBIT
from tests.concurrency import at_once

D = Decimal


@pytest.fixture(autouse=True)
def fresh_limits():
    cache.clear()
    yield
    cache.clear()


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pay(customer: User, plan, card, amount: str | None = None, key: str = "doc-1") -> Repayment:
    repayment = repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.CUSTOM if amount else RepaymentMode.PAYOFF,
        channel=RepaymentChannel.WEB,
        idempotency_key=key,
        amount=amount,
        card=card,
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    return repayment


@pytest.fixture
def api(customer) -> APIClient:
    client = APIClient()
    client.force_authenticate(customer)
    return client


# --- 还款凭证 ---------------------------------------------------------------------------------------------


def test_receipt_page_and_pdf_in_chinese(signed_in, customer, late_plan, card) -> None:
    repayment = pay(customer, late_plan, card, "150.00")
    page = signed_in.get(reverse("repayments:receipt", args=[repayment.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "还款凭证" in html
    assert "¥150.00" in html
    assert f"尾号{card.last4}" in html
    assert str(repayment.public_id) in html
    assert "违约金" in html  # the split names the penalty it paid
    response = signed_in.get(reverse("repayments:receipt_pdf", args=[repayment.public_id]))
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "还款凭证" in text
    assert "¥150.00" in text
    assert f"尾号{card.last4}" in text
    assert card.bank_name in text
    assert "北京时间" in text
    assert str(repayment.public_id) in text
    assert repayment.gateway_reference in text
    for allocation in repayment.allocations.all():
        assert f"¥{allocation.amount:,.2f}" in text
    assert ICBC_DEBIT not in text
    assert ICBC_DEBIT[:6] not in text  # not even the BIN
    assert "已冲正" not in text


def test_receipt_in_english_for_an_english_customer(client, customer, late_plan, card) -> None:
    User.objects.filter(pk=customer.pk).update(language="en")
    customer.refresh_from_db()
    repayment = pay(customer, late_plan, card, "150.00")
    client.force_login(customer)
    text = pdf_text(client.get(reverse("repayments:receipt_pdf", args=[repayment.public_id])).content)
    assert "Repayment receipt" in text
    assert f"ending {card.last4}" in text
    assert "Beijing time" in text
    assert "penalty" in text
    assert "还款凭证" not in text


def test_a_reversed_payment_keeps_its_receipt_marked_reversed(signed_in, customer, late_plan, card, agent):
    repayment = pay(customer, late_plan, card, "150.00")
    repayment_reverse(staff=agent, repayment=repayment, reason="disputed")
    html = signed_in.get(reverse("repayments:receipt", args=[repayment.public_id])).content.decode()
    assert "冲正" in html
    text = pdf_text(signed_in.get(reverse("repayments:receipt_pdf", args=[repayment.public_id])).content)
    assert "已冲正" in text
    assert timezone.localdate().isoformat() in text


def test_no_receipt_for_a_payment_that_did_not_succeed_nor_for_someone_else(
    client, signed_in, customer, other_customer, current_plan, card
) -> None:
    scheduled = repayment_create(
        customer=customer,
        plan=current_plan,
        mode=RepaymentMode.CUSTOM,
        amount="20.00",
        channel=RepaymentChannel.WEB,
        idempotency_key="doc-later",
        card=card,
        scheduled_for=timezone.localdate() + timedelta(days=3),
    )
    assert signed_in.get(reverse("repayments:receipt", args=[scheduled.public_id])).status_code == 404
    mine = pay(customer, current_plan, card, "50.00", key="doc-2")
    client.force_login(other_customer)
    assert client.get(reverse("repayments:receipt", args=[mine.public_id])).status_code == 404
    assert client.get(reverse("repayments:receipt_pdf", args=[mine.public_id])).status_code == 404


def test_the_payment_page_and_records_link_the_receipt(signed_in, customer, current_plan, card) -> None:
    repayment = pay(customer, current_plan, card, "50.00")
    link = reverse("repayments:receipt", args=[repayment.public_id])
    assert link in signed_in.get(reverse("repayments:repayment", args=[repayment.public_id])).content.decode()
    assert link in signed_in.get(reverse("repayments:records")).content.decode()


# --- 账单明细 ---------------------------------------------------------------------------------------------


def test_statement_page_pdf_and_csv(signed_in, customer, late_plan, card) -> None:
    pay(customer, late_plan, card, "150.00")
    query = {"date_from": late_plan.purchase_date.isoformat(), "date_to": timezone.localdate().isoformat()}
    page = signed_in.get(reverse("repayments:statement"), query)
    html = page.content.decode()
    assert "账单明细" in html
    assert "期初余额" in html
    assert "期末余额" in html
    assert "-¥150.00" in html
    remaining = sum((i.outstanding for i in late_plan.installments.all()), D("0"))
    assert f"¥{remaining:,.2f}" in html
    text = pdf_text(signed_in.get(reverse("repayments:statement_pdf"), query).content)
    assert "账单明细" in text
    assert "违约金" in text
    assert "-¥150.00" in text
    assert f"¥{remaining:,.2f}" in text
    response = signed_in.get(reverse("repayments:statement_csv"), query)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][4] == "金额"
    opening, *moves, closing = rows[1:]
    assert D(opening[5]) == 0
    assert D(closing[5]) == sum((D(row[4]) for row in moves), D("0")) == remaining


def test_statement_form_refuses_a_backward_range(signed_in, current_plan) -> None:
    today = timezone.localdate()
    page = signed_in.get(
        reverse("repayments:statement"),
        {"date_from": today.isoformat(), "date_to": (today - timedelta(days=1)).isoformat()},
    )
    assert page.status_code == 200
    assert "结束日期不能早于开始日期" in page.content.decode()


def test_plan_page_links_statement_and_certificate(signed_in, customer, current_plan, card) -> None:
    url = reverse("repayments:plan", args=[current_plan.public_id])
    html = signed_in.get(url).content.decode()
    assert reverse("repayments:statement") in html
    assert reverse("repayments:certificate", args=[current_plan.public_id]) not in html
    pay(customer, current_plan, card)
    html = signed_in.get(url).content.decode()
    assert reverse("repayments:certificate", args=[current_plan.public_id]) in html


# --- 结清证明 ---------------------------------------------------------------------------------------------


def test_certificate_is_issued_once_for_a_paid_off_plan(signed_in, customer, current_plan, card) -> None:
    url = reverse("repayments:certificate", args=[current_plan.public_id])
    assert signed_in.get(url).status_code == 409  # not paid off yet
    assert not PayoffCertificate.objects.exists()
    pay(customer, current_plan, card)
    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.PAID_OFF
    first = signed_in.get(url)
    assert first.status_code == 200
    assert signed_in.get(url).status_code == 200
    certificate = PayoffCertificate.objects.get()
    assert payoff_certificate_issue(plan=current_plan) == certificate
    assert certificate.number.startswith(f"JQ-{timezone.localdate():%Y%m%d}-")
    assert len(certificate.code) == CODE_LENGTH
    assert set(certificate.code) <= set(ALPHABET)
    assert certificate.code in first.content.decode()
    text = pdf_text(
        signed_in.get(reverse("repayments:certificate_pdf", args=[current_plan.public_id])).content
    )
    assert "结清证明" in text
    assert certificate.number in text
    assert certificate.code in text
    assert "张*" in text
    assert "张三" not in text


def test_verify_page_shows_only_validity_number_date_and_masked_name(client, customer, current_plan, card):
    pay(customer, current_plan, card)
    current_plan.refresh_from_db()
    certificate = payoff_certificate_issue(plan=current_plan)
    page = client.get(reverse("repayments:verify", args=[certificate.code.lower()]))  # no sign-in
    assert page.status_code == 200
    html = page.content.decode()
    assert "有效" in html
    assert certificate.number in html
    assert "张*" in html
    assert "张三" not in html
    assert "¥" not in html
    assert customer.masked_phone not in html
    assert current_plan.display_name not in html
    missing = client.get(reverse("repayments:verify", args=["ABCDEFGHJKMN"]))
    assert missing.status_code == 404
    assert certificate.number not in missing.content.decode()
    typed = client.get(reverse("repayments:verify_form"), {"code": certificate.code})
    assert typed.status_code == 302


@override_settings(CERTIFICATE_VERIFY_LIMITS={"address": "3/h", "global": "1000/h"})
def test_verify_is_rate_limited_per_address(client, db) -> None:
    for _ in range(3):
        assert client.get(reverse("repayments:verify", args=["ABCDEFGHJKMN"])).status_code == 404
    refused = client.get(reverse("repayments:verify", args=["ABCDEFGHJKMN"]))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0


def test_a_reversal_that_reopens_the_plan_revokes_its_certificate(
    client, customer, current_plan, card, agent
):
    repayment = pay(customer, current_plan, card)
    current_plan.refresh_from_db()
    certificate = payoff_certificate_issue(plan=current_plan)
    repayment_reverse(staff=agent, repayment=repayment, reason="chargeback")
    certificate.refresh_from_db()
    assert certificate.revoked_at is not None
    assert certificate.revoked_reason == REOPENED_BY_REVERSAL
    html = client.get(reverse("repayments:verify", args=[certificate.code])).content.decode()
    assert "已作废" in html
    # Paid off again: a new certificate, with a new number and code; the old one stays revoked.
    pay(customer, current_plan, card, key="doc-again")
    current_plan.refresh_from_db()
    again = payoff_certificate_issue(plan=current_plan)
    assert again.pk != certificate.pk
    assert again.code != certificate.code
    assert PayoffCertificate.objects.filter(plan=current_plan, revoked_at__isnull=True).count() == 1


def test_a_reversal_that_leaves_the_plan_paid_off_keeps_the_certificate(customer, current_plan, card, agent):
    extra = pay(customer, current_plan, card, "10.00", key="doc-small")
    pay(customer, current_plan, card, key="doc-rest")
    current_plan.refresh_from_db()
    certificate = payoff_certificate_issue(plan=current_plan)
    repayment_reverse(staff=agent, repayment=extra, reason="duplicate")
    current_plan.refresh_from_db()
    certificate.refresh_from_db()
    assert (current_plan.status == PlanStatus.PAID_OFF) == (certificate.revoked_at is None)


# --- the API ---------------------------------------------------------------------------------------------


def test_api_receipt_json_and_pdf(api, customer, late_plan, card) -> None:
    repayment = pay(customer, late_plan, card, "150.00")
    url = f"/api/v1/repayments/{repayment.public_id}/receipt/"
    body = api.get(url).json()
    assert body["amount"] == "150.00"
    assert body["card_last4"] == card.last4
    assert body["channel"] == "active"
    assert body["reversed"] is False
    assert sum(D(line["amount"]) for line in body["lines"] if not line["waived"]) == D("150.00")
    assert {line["component"] for line in body["lines"]} >= {"penalty"}
    assert ICBC_DEBIT not in str(body)
    for response in (api.get(url, HTTP_ACCEPT="application/pdf"), api.get(url, {"format": "pdf"})):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert "¥150.00" in pdf_text(response.content)


def test_api_another_customers_ids_are_404_with_a_code(customer, other_customer, current_plan, card) -> None:
    repayment = pay(customer, current_plan, card)
    client = APIClient()
    client.force_authenticate(other_customer)
    for url in (
        f"/api/v1/repayments/{repayment.public_id}/receipt/",
        f"/api/v1/plans/{current_plan.public_id}/payoff-certificate/",
        f"/api/v1/statements/?plan={current_plan.public_id}",
    ):
        response = client.get(url, HTTP_ACCEPT="application/pdf")
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "not_found"
    assert client.post(f"/api/v1/plans/{current_plan.public_id}/payoff-certificate/").status_code == 404


def test_api_statement_json_csv_pdf(api, customer, late_plan, card) -> None:
    pay(customer, late_plan, card, "150.00")
    base = {"plan": str(late_plan.public_id), "from": late_plan.purchase_date.isoformat()}
    body = api.get("/api/v1/statements/", base).json()
    assert body["opening_balance"] == "0.00"
    totals = {t["category"]: D(t["amount"]) for t in body["totals"]}
    assert totals["payment"] == -D("150.00")
    assert D(body["closing_balance"]) == D(body["opening_balance"]) + sum(totals.values())
    assert D(body["closing_balance"]) == body_remaining(late_plan)
    assert body["lines"][-1]["balance"] == body["closing_balance"]
    csv_response = api.get("/api/v1/statements/", {**base, "format": "csv"})
    assert csv_response["Content-Type"].startswith("text/csv")
    assert "-150.00" in csv_response.content.decode()
    pdf = api.get("/api/v1/statements/", base, HTTP_ACCEPT="application/pdf")
    assert "期末余额" in pdf_text(pdf.content)
    bad = api.get("/api/v1/statements/", {"from": "2026-02-01", "to": "2026-01-01"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_request"


def body_remaining(plan) -> Decimal:
    return sum((i.outstanding for i in plan.installments.all()), D("0"))


def test_api_payoff_certificate(api, customer, current_plan, card, agent) -> None:
    url = f"/api/v1/plans/{current_plan.public_id}/payoff-certificate/"
    refused = api.post(url)
    assert refused.status_code == 409
    assert refused.json()["code"] == "plan_not_paid_off"
    assert api.get(url).json()["code"] == "certificate_not_issued"
    repayment = pay(customer, current_plan, card)
    created = api.post(url)
    assert created.status_code == 201
    again = api.post(url)
    assert again.status_code == 200
    assert again.json()["code"] == created.json()["code"]
    body = api.get(url).json()
    assert body["valid"] is True
    assert body["verify_url"].endswith(f"/verify/{body['code']}/")
    pdf = api.get(url, {"format": "pdf"})
    assert body["number"] in pdf_text(pdf.content)
    repayment_reverse(staff=agent, repayment=repayment, reason="chargeback")
    revoked = api.get(url).json()
    assert revoked["valid"] is False
    assert revoked["revoked_reason"] == REOPENED_BY_REVERSAL


def test_a_plan_name_with_markup_characters_is_printed_as_written(signed_in, customer, flat_product) -> None:
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal=D("600.00"),
        tenor=6,
        purchase_date=timezone.localdate(),
        description="耳机 <Pro> & 壳",
    )
    query = {"plan": str(plan.public_id), "date_from": plan.purchase_date.isoformat()}
    query["date_to"] = query["date_from"]
    text = pdf_text(signed_in.get(reverse("repayments:statement_pdf"), query).content)
    assert "耳机 <Pro> & 壳" in text


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_requests_at_once_issue_one_certificate(customer, current_plan, card) -> None:
    pay(customer, current_plan, card)

    def issue(_: int) -> str:
        plan = type(current_plan).objects.get(pk=current_plan.pk)
        return payoff_certificate_issue(plan=plan).code

    codes = at_once(10, issue)
    assert len(set(codes)) == 1
    assert PayoffCertificate.objects.filter(plan=current_plan).count() == 1


def test_support_reads_certificates_in_the_admin_and_cannot_change_them(
    client, customer, current_plan, card, agent
):
    pay(customer, current_plan, card)
    current_plan.refresh_from_db()
    certificate = payoff_certificate_issue(plan=current_plan)
    client.force_login(agent)
    listing = client.get(
        reverse("admin:installments_payoffcertificate_changelist"), {"q": certificate.number}
    )
    assert listing.status_code == 200
    assert certificate.number in listing.content.decode()
    detail = client.get(reverse("admin:installments_payoffcertificate_change", args=[certificate.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    client.post(
        reverse("admin:installments_payoffcertificate_change", args=[certificate.pk]), {"revoked_reason": "x"}
    )
    certificate.refresh_from_db()
    assert certificate.revoked_at is None

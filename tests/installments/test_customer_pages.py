"""The customer's 二次分期 and 协商还款 pages through the Django test client (the plan, bills and payment
pages are in tests/repayments/test_customer_pages.py)."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from installments.models import InstallmentPlan, NegotiationApplication, PlanKind
from installments.services import negotiation_start_review
from tests.installments.negotiation_support import PDF, send_offer


def text(response) -> str:
    return response.content.decode()


def test_restage_page(signed_in, current_plan, codes) -> None:
    url = reverse("installments:restage", args=[current_plan.public_id])
    page = text(signed_in.get(url))
    assert 'id="restage-quote"' in page
    # Choosing shows the confirmation step; nothing moves before the SMS code.
    response = signed_in.post(url, {"action": "choose", "tenor": "24"})
    assert response.status_code == 200
    assert 'id="restage-terms"' in text(response)
    assert not InstallmentPlan.objects.filter(source_plan=current_plan).exists()
    signed_in.post(url, {"action": "send_code", "tenor": "24", "code": ""})
    response = signed_in.post(url, {"action": "confirm", "tenor": "24", "code": codes.codes[-1]})
    assert response.status_code == 302
    new = InstallmentPlan.objects.get(source_plan=current_plan)
    assert new.kind == PlanKind.SECONDARY
    assert response["Location"].endswith(f"{new.public_id}/")


def test_restage_refusal_is_explained(signed_in, overdue_plan) -> None:
    page = text(signed_in.get(reverse("installments:restage", args=[overdue_plan.public_id])))
    assert 'data-code="overdue_beyond_grace"' in page


def test_negotiation_apply_offer_and_accept_on_the_pages(signed_in, late_plan, agent, codes) -> None:
    url = reverse("installments:negotiate", args=[late_plan.public_id])
    response = signed_in.post(
        url,
        {
            "reason": "income_drop",
            "monthly_income": "6000",
            "affordable_payment": "800",
            "requested_tenor": "12",
            "employer": "某公司",
            "documents": [SimpleUploadedFile("payslip.pdf", PDF)],
        },
    )
    assert response.status_code == 302
    application = NegotiationApplication.objects.get()
    assert application.documents.count() == 1
    assert application.affordable_monthly_payment == Decimal("800.00")
    negotiation_start_review(staff=agent, application=application)
    send_offer(agent, application)
    page_url = reverse("installments:negotiation", args=[application.public_id])
    page = text(signed_in.get(page_url))
    assert 'id="offer"' in page
    assert "%" in page
    signed_in.post(page_url, {"action": "send_code"})
    code = codes.codes[-1]
    accepted = signed_in.post(page_url, {"action": "accept", "code": code})
    assert accepted.status_code == 302
    application.refresh_from_db()
    assert application.state == "accepted"

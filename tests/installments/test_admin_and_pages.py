from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from installments.models import Installment, InstallmentPlan, NegotiationApplication, PlanStatus
from installments.services import plan_create


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")


def test_staff_creates_a_plan_through_the_service(client, staff, customer, flat_product) -> None:
    client.force_login(staff)
    url = reverse("admin:installments_installmentplan_add")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "customer": customer.pk,
            "product": flat_product.pk,
            "principal": "1200.00",
            "tenor": "12",
            "purchase_date": "2026-01-31",
            "merchant_order_ref": "JD-ADMIN-1",
            "description": "电视",
        },
    )
    plan = InstallmentPlan.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:installments_installmentplan_change", args=[plan.pk])
    assert plan.total_fee == Decimal("72.00")
    assert plan.installments.count() == 12
    detail = client.get(response["Location"]).content.decode()
    assert "100.00" in detail
    assert "6.00" in detail
    assert "72.00" in detail


def test_admin_shows_service_refusal_as_form_error(client, staff, customer, flat_product) -> None:
    client.force_login(staff)
    response = client.post(
        reverse("admin:installments_installmentplan_add"),
        {
            "customer": customer.pk,
            "product": flat_product.pk,
            "principal": "1200.00",
            "tenor": "5",
            "purchase_date": "2026-01-31",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["tenor"] == ["Not offered by this product."] or form.errors["tenor"]
    assert any("3, 6, 12, 24" in message for message in form.non_field_errors())
    assert not InstallmentPlan.objects.exists()


def test_plan_money_is_read_only_in_admin(client, staff, customer, flat_product) -> None:
    plan = plan_create(customer=customer, product=flat_product, principal="1200.00", tenor=3)
    client.force_login(staff)
    url = reverse("admin:installments_installmentplan_change", args=[plan.pk])
    client.post(url, {"principal": "1.00", "status": "paid_off"})
    plan.refresh_from_db()
    assert plan.principal == Decimal("1200.00")
    assert plan.status == PlanStatus.ACTIVE


def test_home_lists_products_with_apr(client, flat_product) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "白条分期" in body
    assert "106.00" in body  # 1,200 over 12 periods at 0.5%


def test_seed_demo_is_idempotent(client, db, capsys) -> None:
    call_command("seed_demo")
    counts = (User.objects.count(), InstallmentPlan.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), InstallmentPlan.objects.count()) == counts
    out = capsys.readouterr().out
    assert "+8613900000000" in out
    assert "/admin/" in out
    statuses = set(InstallmentPlan.objects.values_list("status", flat=True))
    assert {PlanStatus.ACTIVE, PlanStatus.OVERDUE} <= statuses
    today = timezone.localdate()
    assert Installment.objects.filter(due_date=today, status="pending").exists()
    admin = User.objects.get(phone="+8613900000000")
    client.force_login(admin)
    assert client.get("/admin/installments/installmentplan/").status_code == 200
    # The overdue customer's negotiated-plan application waits in the agent's queue, with its payslip.
    assert NegotiationApplication.objects.count() == 1
    application = NegotiationApplication.objects.get()
    assert application.documents.get().content_type == "application/pdf"
    agent = User.objects.get(phone="+8613900000001")
    assert agent.has_perm("installments.review_negotiation")
    assert not agent.has_perm("installments.approve_negotiation")
    assert User.objects.get(phone="+8613900000002").has_perm("installments.approve_negotiation")
    client.force_login(agent)
    queue = client.get("/admin/installments/negotiationapplication/")
    assert queue.status_code == 200
    assert "Sofa" in queue.content.decode()

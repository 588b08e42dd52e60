"""The all-in cost ceiling may follow 4 x the one-year LPR (issue 20, item 1): staff in finance and lead keep
the LPR in the admin, and a product that follows it freezes the lower of its own ceiling and 4 x the LPR
in force on the purchase date. The product admin groups and checks the cost-of-paying-late fields; the plan
admin shows the frozen terms."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError
from installments import cost
from installments.disclosure import plan_headroom
from installments.models import InstallmentPlan, LoanPrimeRate
from installments.services import plan_create
from installments.services.costs import all_in_ceiling
from repayments.staff import AGENT, FINANCE, LEAD
from tests.factories import ProductFactory, StaffFactory

D = Decimal


@pytest.fixture
def lpr_product(db):
    return ProductFactory(
        ceiling_follows_lpr=True, max_apr_percent=D("11.00"), max_all_in_apr_percent=D("24.00")
    )


def test_no_lpr_on_file_is_the_products_figure(lpr_product) -> None:
    assert all_in_ceiling(lpr_product, on=date(2026, 11, 30)) == D("24.00")


def test_the_lower_of_the_product_and_4_x_the_lpr_in_force(lpr_product) -> None:
    LoanPrimeRate.objects.create(effective_on=date(2026, 1, 20), one_year_percent=D("3.10"))
    LoanPrimeRate.objects.create(effective_on=date(2026, 10, 20), one_year_percent=D("3.00"))
    assert all_in_ceiling(lpr_product, on=date(2026, 1, 19)) == D("24.00")  # none in force yet
    assert all_in_ceiling(lpr_product, on=date(2026, 1, 20)) == D("12.40")
    assert all_in_ceiling(lpr_product, on=date(2026, 10, 19)) == D("12.40")
    assert all_in_ceiling(lpr_product, on=date(2026, 10, 20)) == D("12.00")
    lpr_product.max_all_in_apr_percent = D("11.00")
    assert all_in_ceiling(lpr_product, on=date(2026, 11, 30)) == D("11.00")  # the product's is lower
    lpr_product.ceiling_follows_lpr = False
    lpr_product.max_all_in_apr_percent = D("24.00")
    assert all_in_ceiling(lpr_product, on=date(2026, 11, 30)) == D("24.00")  # not following: the product's


def test_a_new_plan_freezes_it_and_keeps_it(customer, lpr_product) -> None:
    today = timezone.localdate()
    LoanPrimeRate.objects.create(effective_on=today - timedelta(days=30), one_year_percent=D("3.00"))
    plan = plan_create(customer=customer, product=lpr_product, principal=D("1200.00"), tenor=12)
    assert plan.max_all_in_apr_percent == D("12.00")
    assert plan.ceiling_headroom == cost.ceiling_headroom(
        principal=D("1200.00"),
        purchase_date=today,
        flows=[(i.due_date, i.principal_due + i.fee_due) for i in plan.installments.all()],
        apr_percent=D("12.00"),
    )
    assert "年化综合成本不超过12.00%" in plan.agreement.text
    LoanPrimeRate.objects.create(effective_on=today, one_year_percent=D("2.00"))
    plan.refresh_from_db()
    assert plan.max_all_in_apr_percent == D("12.00")  # frozen
    equal = ProductFactory(
        fee_method="equal_installment", fee_rate=D("0.06"), ceiling_follows_lpr=True, tenors=[12]
    )
    newer = plan_create(customer=customer, product=equal, principal=D("1200.00"), tenor=12)
    assert newer.max_all_in_apr_percent == D("8.00")
    # the flat product's schedule (10.90% APR) is now dearer than 4 x LPR: no new plan, the reason said
    with pytest.raises(ApplicationError) as refused:
        plan_create(customer=customer, product=lpr_product, principal=D("1200.00"), tenor=12)
    assert refused.value.code == "apr_above_maximum"
    assert "8.00%" in refused.value.message


def test_finance_and_leads_keep_the_lpr_agents_cannot(client, db) -> None:
    add = reverse("admin:installments_loanprimerate_add")
    agent = StaffFactory(phone="+8613700000021", groups=[AGENT])
    client.force_login(agent)
    assert client.get(add).status_code == 403
    for phone, group, day in (
        ("+8613700000022", FINANCE, "2026-11-20"),
        ("+8613700000023", LEAD, "2026-12-20"),
    ):
        staff = StaffFactory(phone=phone, groups=[group])
        client.force_login(staff)
        response = client.post(add, {"effective_on": day, "one_year_percent": "3.05"})
        assert response.status_code == 302, response.content.decode()[:2000]
        row = LoanPrimeRate.objects.get(effective_on=day)
        assert row.created_by == staff
        assert row.one_year_percent == D("3.05")
    # one rate per effective date
    response = client.post(add, {"effective_on": "2026-12-20", "one_year_percent": "3.00"})
    assert response.status_code == 200
    assert LoanPrimeRate.objects.count() == 2


# --- the product admin -------------------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return StaffFactory(phone="+8613700000031", is_superuser=True)


def product_form(product, **changes) -> dict[str, str]:
    data = {
        "code": product.code,
        "name": product.name,
        "description": "",
        "is_active": "on",
        "fee_method": product.fee_method,
        "fee_rate": str(product.fee_rate),
        "tenors": "[3, 6, 12, 24]",
        "max_apr_percent": "24.00",
        "min_principal": "100.00",
        "max_principal": "50000.00",
        "penalty_daily_rate": "0.000500",
        "grace_days": "3",
        "charge_off_after_days": "180",
        "prepayment_fee_policy": product.prepayment_fee_policy,
        "prepayment_fee_rate": "0",
        "autodebit_slots_per_day": "3",
        "autodebit_retry_in_grace": "on",
        "restage_allowed": "on",
        "restage_max_times": "1",
        "restage_min_principal": "100.00",
        "restage_tenors": "[6, 12, 24]",
        "restage_fee_rate": "0.006",
        "restage_fee_treatment": product.restage_fee_treatment,
        "negotiated_max_tenor": "36",
        "penalty_base": "principal",
        "penalty_cap_percent": "25.00",
        "max_all_in_apr_percent": "24.00",
        "arrears_tolerance": "1.00",
        "extension_max": "1",
        "extension_max_days": "14",
        "extension_fee_rate": "0",
        "holiday_max_periods": "3",
        "holiday_fee_policy": "free",
    }
    data.update(changes)
    return data


def test_product_admin_groups_and_validates_the_cost_fields(client, superuser, flat_product) -> None:
    client.force_login(superuser)
    url = reverse("admin:installments_installmentproduct_change", args=[flat_product.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Cost of paying late / relief" in page
    assert "penalty cap (% of principal)" in page.lower() or "Penalty cap (% of principal)" in page

    response = client.post(
        url, product_form(flat_product, max_apr_percent="30.00"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "must not be above the all-in cost ceiling (24.00%)" in response.content.decode()
    flat_product.refresh_from_db()
    assert flat_product.max_apr_percent == D("24.00")

    LoanPrimeRate.objects.create(effective_on=timezone.localdate(), one_year_percent=D("3.00"))
    response = client.post(
        url, product_form(flat_product, ceiling_follows_lpr="on"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "4 x the one-year LPR in force today is 12.00%" in response.content.decode()

    response = client.post(
        url,
        product_form(
            flat_product, max_apr_percent="12.00", ceiling_follows_lpr="on", penalty_cap_percent="20.00"
        ),
    )
    assert response.status_code == 302
    flat_product.refresh_from_db()
    assert flat_product.ceiling_follows_lpr
    assert flat_product.penalty_cap_percent == D("20.00")


def test_plan_admin_shows_the_frozen_cost_terms(client, superuser, late_plan) -> None:
    client.force_login(superuser)
    html = client.get(
        reverse("admin:installments_installmentplan_change", args=[late_plan.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    plan = InstallmentPlan.objects.get(pk=late_plan.pk)
    room = cost.ceiling_room(
        headroom=plan_headroom(plan),
        apr_percent=plan.max_all_in_apr_percent,
        purchase_date=plan.purchase_date,
        on=timezone.localdate(),
    )
    assert f"room left ¥{room:,.2f} today" in html
    assert room > 0
    assert "24.00% (IRR)" in html
    assert "¥300.00" in html  # the cap
    assert "0 / 1" in html  # extensions used

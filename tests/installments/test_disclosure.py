"""The cost of paying late, disclosed (issue 20, item 3): the quote (web and API), the plan page and the
plan API, the 协商 offer (customer and staff) show the figures ``installments/cost.py`` computes, from the
terms the plan freezes; the table respects the cap, the ceiling and the penalty already charged."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from installments import cost
from installments.disclosure import late_cost_disclosure, schedule_late_cost
from installments.models import InstallmentPlan, InstallmentStatus, PenaltyBase
from installments.schedules import build_schedule
from installments.selectors import offer_schedule, plan_for_customer
from installments.services import overdue_sweep, plan_create, plan_quote
from tests.config.test_page_languages import CJK, WORD, visible_text
from tests.factories import ProductFactory
from tests.installments.negotiation_support import apply, offered

API = "/api/v1"


@pytest.fixture
def flat_product(flat_product):
    """These figures are stated on the principal-only penalty base (a new product's default; the test
    factory keeps principal + fee for the older tests' figures)."""
    flat_product.penalty_base = PenaltyBase.PRINCIPAL
    flat_product.save()
    return flat_product


def expected_plan_table(plan: InstallmentPlan) -> list[cost.LateCost]:
    """The table recomputed here from the plan's own columns with cost.py, independently of the selector."""
    plan.refresh_from_db()
    nxt = plan.installments.filter(status=InstallmentStatus.PENDING).order_by("sequence").first()
    base = nxt.principal_due - nxt.principal_paid - nxt.principal_waived
    if plan.penalty_base == "principal_fee":
        base += nxt.fee_due - nxt.fee_paid - nxt.fee_waived
    headroom = plan.ceiling_headroom
    assert headroom is not None
    return cost.late_costs(
        cost.PenaltyTerms(
            daily_rate=plan.penalty_daily_rate,
            grace_days=plan.grace_days,
            cap_amount=plan.penalty_cap_amount,
            ceiling_apr_percent=plan.max_all_in_apr_percent,
            purchase_date=plan.purchase_date,
        ),
        base=base,
        amount_due=nxt.outstanding,
        due_date=nxt.due_date,
        headroom=headroom,
        penalty_so_far=plan.penalty_total,
    )


def table_on_page(html: str) -> list[tuple[int, Decimal, Decimal]]:
    section = html.split('id="late-cost', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'data-days="(\d+)" data-penalty="([\d.]+)" data-total="([\d.]+)"', section)
    return [(int(d), Decimal(p), Decimal(t)) for d, p, t in rows]


# --- the math the pages show ---------------------------------------------------------------------------


def test_quote_disclosure_is_cost_py_on_the_terms_the_plan_freezes(flat_product) -> None:
    quote = plan_quote(product=flat_product, principal=Decimal("1200.00"), tenor=12)
    lc = schedule_late_cost(
        product=flat_product,
        principal=quote.principal,
        purchase_date=quote.purchase_date,
        schedule=quote.schedule,
    )
    first = quote.schedule.rows[0]
    assert lc.daily_penalty_rate == Decimal("0.0005")
    assert lc.annualised_percent == Decimal("18.25") == cost.penalty_annualised_percent(Decimal("0.0005"))
    assert lc.cap_amount == Decimal("300.00")
    assert lc.cap_percent == Decimal("25.00")
    assert lc.ceiling_percent == Decimal("24.00")
    assert lc.grace_days == 3
    assert lc.penalty_base == "principal"
    expected = cost.late_costs(
        cost.PenaltyTerms(Decimal("0.0005"), 3, Decimal("300.00"), Decimal("24.00"), quote.purchase_date),
        base=first.principal,
        amount_due=first.total,
        due_date=first.due_date,
        headroom=cost.ceiling_headroom(
            principal=Decimal("1200.00"),
            purchase_date=quote.purchase_date,
            flows=[(r.due_date, r.total) for r in quote.schedule.rows],
            apr_percent=Decimal("24.00"),
        ),
    )
    assert lc.table == expected
    # 1,200 over 12: installment 1 is 100.00 principal + 6.00 fee; 0.05% of 100.00 is 0.05 a day.
    assert [(r.days, r.penalty, r.total) for r in lc.table] == [
        (1, Decimal("0"), Decimal("106.00")),
        (7, Decimal("0.35"), Decimal("106.35")),
        (30, Decimal("1.50"), Decimal("107.50")),
        (90, Decimal("4.50"), Decimal("110.50")),
    ]


def test_the_table_stops_at_the_cap(db) -> None:
    """A steep penalty (1% a day on principal and fee) with a 5% cap: 90 days late costs the cap, no more."""
    product = ProductFactory(
        penalty_daily_rate=Decimal("0.01"),
        penalty_cap_percent=Decimal("5.00"),
        penalty_base="principal_fee",
        max_all_in_apr_percent=Decimal("999.00"),  # only the cap binds here
    )
    quote = plan_quote(product=product, principal=Decimal("1200.00"), tenor=3)
    lc = schedule_late_cost(
        product=product, principal=quote.principal, purchase_date=quote.purchase_date, schedule=quote.schedule
    )
    assert lc.cap_amount == Decimal("60.00")
    penalties = [r.penalty for r in lc.table]
    assert penalties == sorted(penalties)
    assert penalties[-1] == Decimal("60.00")  # 90 days x 1% x 406.00 would be 365.40
    assert all(r.total == r.penalty + quote.schedule.rows[0].total for r in lc.table)


def test_the_table_stops_at_the_ceiling(db) -> None:
    """A ceiling only just above the schedule's own APR leaves little room: the table stops under it."""
    product = ProductFactory(
        penalty_daily_rate=Decimal("0.001"),
        max_all_in_apr_percent=Decimal("11.50"),
        max_apr_percent=Decimal("11.50"),
    )
    quote = plan_quote(product=product, principal=Decimal("1200.00"), tenor=12)
    lc = schedule_late_cost(
        product=product, principal=quote.principal, purchase_date=quote.purchase_date, schedule=quote.schedule
    )
    uncapped = cost.daily_penalty(Decimal("100.00"), Decimal("0.001"), 90)
    assert lc.table[-1].penalty < uncapped
    assert lc.table[-1].penalty < lc.cap_amount


@given(
    principal=st.decimals(min_value=Decimal("100"), max_value=Decimal("50000"), places=2),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.01"), places=4),
    cap=st.decimals(min_value=Decimal("0"), max_value=Decimal("40"), places=2),
)
def test_the_table_never_passes_the_cap_nor_the_ceiling(principal, rate, cap) -> None:
    today = timezone.localdate()
    schedule = build_schedule(
        fee_method="flat_fee", principal=principal, tenor=6, rate=Decimal("0.005"), purchase_date=today
    )
    cap_amount = cost.penalty_cap_amount(principal, cap)
    headroom = cost.ceiling_headroom(
        principal=principal,
        purchase_date=today,
        flows=[(r.due_date, r.total) for r in schedule.rows],
        apr_percent=Decimal("24"),
    )
    first = schedule.rows[0]
    table = cost.late_costs(
        cost.PenaltyTerms(rate, 3, cap_amount, Decimal("24"), today),
        base=first.principal,
        amount_due=first.total,
        due_date=first.due_date,
        headroom=headroom,
    )
    for row in table:
        assert row.penalty <= cap_amount
        # the penalty at the end of the row's day, as one flow on that day, keeps the IRR under 24%
        flows = [(r.due_date, r.total) for r in schedule.rows]
        flows.append((first.due_date + timedelta(days=row.days), row.penalty))
        assert (
            cost.ceiling_headroom(
                principal=principal, purchase_date=today, flows=flows, apr_percent=Decimal("24")
            )
            >= -Decimal("0.00000001")
            or row.penalty == 0
        )


# --- the plan page and the plan API ----------------------------------------------------------------------


def test_plan_page_and_api_show_cost_py_figures(signed_in, current_plan, customer) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    expected = expected_plan_table(current_plan)
    page = signed_in.get(reverse("repayments:plan", args=[current_plan.public_id]), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert table_on_page(html) == [(r.days, r.penalty, r.total) for r in expected]
    assert "0.05% of the overdue principal only (about 18.25% a year)" in html
    assert "¥300.00 in all (25.00% of the principal)" in html
    assert "never cost more than 24.00% a year (IRR)" in html
    assert reverse("installments:agreement", args=[current_plan.public_id]) in html

    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"{API}/plans/{current_plan.public_id}/").json()
    lc = body["late_cost"]
    assert lc["daily_penalty_rate"] == "0.000500"
    assert lc["annualised_percent"] == "18.25"
    assert lc["penalty_base"] == "principal"
    assert lc["cap_amount"] == "300.00"
    assert lc["cap_percent"] == "25.00"
    assert lc["ceiling_percent"] == "24.00"
    assert lc["grace_days"] == 3
    assert lc["installment_sequence"] == 1
    assert [(r["days"], Decimal(r["penalty"]), Decimal(r["total"])) for r in lc["table"]] == [
        (r.days, r.penalty, r.total) for r in expected
    ]
    assert body["agreement"] == f"{API}/plans/{current_plan.public_id}/agreement/"


def charged_so_far(plan: InstallmentPlan) -> None:
    """``penalty_total`` as the sweep keeps it (every penalty charged), written here from the installments:
    the sweep's side of it is another lane's."""
    total = sum(i.penalty_due for i in plan.installments.all())
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_total=total)


def test_a_late_plan_counts_the_penalty_already_charged(customer, db) -> None:
    """A 2% cap on a plan already charged penalty: the table for the next installment offers only what is
    left of the cap."""
    product = ProductFactory(penalty_daily_rate=Decimal("0.005"), penalty_cap_percent=Decimal("2.00"))
    plan = plan_create(
        customer=customer,
        product=product,
        principal=Decimal("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=45),
    )
    overdue_sweep(as_of=timezone.localdate())
    charged_so_far(plan)
    plan = InstallmentPlan.objects.get(pk=plan.pk)
    assert plan.penalty_total > 0
    lc = late_cost_disclosure(plan)
    assert lc.penalty_so_far == plan.penalty_total
    assert lc.table == expected_plan_table(plan)
    left = plan.penalty_cap_amount - plan.penalty_total
    assert lc.table[-1].penalty <= left
    assert max(r.penalty for r in lc.table) == min(left, lc.table[-1].penalty)


def test_nothing_left_to_pay_shows_the_terms_without_a_table(current_plan, customer) -> None:
    plan = plan_for_customer(customer=customer, public_id=current_plan.public_id)
    for inst in plan.installments.all():  # the page's prefetch, as a paid-off plan has it
        inst.status = InstallmentStatus.PAID
    lc = late_cost_disclosure(plan)
    assert lc.table == []
    assert lc.installment_sequence is None
    assert lc.cap_amount == Decimal("300.00")
    with translation.override("en"):
        html = render_to_string("installments/_late_cost.html", {"late_cost": lc})
    assert "¥300.00 in all" in html
    assert "<table" not in html


# --- the quote: web and API --------------------------------------------------------------------------------


def test_quote_api_and_product_page(client, customer, flat_product) -> None:
    api = APIClient()
    api.force_authenticate(customer)
    body = api.post(
        f"{API}/quotes/", {"product": "baitiao", "principal": "1200.00", "tenor": 12}, format="json"
    )
    assert body.status_code == 200, body.content
    lc = body.json()["late_cost"]
    quote = plan_quote(product=flat_product, principal=Decimal("1200.00"), tenor=12)
    expected = schedule_late_cost(
        product=flat_product,
        principal=quote.principal,
        purchase_date=quote.purchase_date,
        schedule=quote.schedule,
    )
    assert [(r["days"], Decimal(r["penalty"]), Decimal(r["total"])) for r in lc["table"]] == [
        (r.days, r.penalty, r.total) for r in expected.table
    ]
    assert body.json()["apr_percent"] == str(quote.apr_percent)

    page = client.get(reverse("installments:home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'id="late-cost-baitiao"' in page
    assert "逾期本金的0.05%（约合年化18.25%）" in page
    first = plan_quote(product=flat_product, principal=Decimal("1200.00"), tenor=3)
    shown = schedule_late_cost(
        product=flat_product,
        principal=first.principal,
        purchase_date=first.purchase_date,
        schedule=first.schedule,
    )
    assert table_on_page(page) == [(r.days, r.penalty, r.total) for r in shown.table]


def test_schema_publishes_late_cost(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for name in ("LateCost", "daily_penalty_rate", "annualised_percent", "cap_percent", "ceiling_percent"):
        assert name in schema
    assert "/api/v1/plans/{public_id}/agreement/" in schema


# --- the 协商 offer: customer and staff ---------------------------------------------------------------------


def test_offer_shows_its_cost_of_paying_late(client, customer, late_plan, agent) -> None:
    application = offered(apply(late_plan), agent)
    client.force_login(customer)
    html = client.get(
        reverse("installments:negotiation", args=[application.public_id]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    offer_html = html.split('id="offer"', 1)[1]
    rows = table_on_page(offer_html)
    assert [d for d, _p, _t in rows] == [1, 7, 30, 90]
    application.refresh_from_db()
    schedule = offer_schedule(application)
    first = schedule.rows[0]
    offered_on = timezone.localtime(application.offered_at).date()
    expected = cost.late_costs(
        cost.PenaltyTerms(
            Decimal("0.0005"),
            3,
            cost.penalty_cap_amount(application.offer_principal, Decimal("25")),
            Decimal("24.00"),
            offered_on,
        ),
        base=first.principal,
        amount_due=first.total,
        due_date=first.due_date,
        headroom=cost.ceiling_headroom(
            principal=application.offer_principal,
            purchase_date=offered_on,
            flows=[(r.due_date, r.total) for r in schedule.rows],
            apr_percent=Decimal("24.00"),
        ),
    )
    assert rows == [(r.days, r.penalty, r.total) for r in expected]
    assert rows[-1][1] > 0

    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"{API}/negotiations/{application.public_id}/").json()
    assert [
        (r["days"], Decimal(r["penalty"]), Decimal(r["total"])) for r in body["offer_late_cost"]["table"]
    ] == rows

    charged_so_far(late_plan)
    client.force_login(agent)
    staff = client.get(
        reverse("admin:installments_negotiationapplication_change", args=[application.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    facts = staff.split('id="fact-late-cost"', 1)[1].split("</div>", 1)[0]
    assert "The offer: cost of paying late" in facts
    assert "The plan now: cost of paying late" in facts
    plan = InstallmentPlan.objects.get(pk=late_plan.pk)
    assert f"charged so far ¥{plan.penalty_total:,.2f}" in facts


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_disclosure_speaks_one_language(signed_in, current_plan, customer, language) -> None:
    customer.language = language
    customer.save(update_fields=["language"])
    html = signed_in.get(reverse("repayments:plan", args=[current_plan.public_id])).content.decode()
    section = html.split('<section class="card late-cost"', 1)[1].split("</section>", 1)[0]
    pattern = CJK if language == "en" else WORD
    found = [m for t in visible_text("<x " + section) for m in pattern.findall(t.replace("IRR", ""))]
    assert found == [], found

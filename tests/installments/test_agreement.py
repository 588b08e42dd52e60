"""借款协议 (issue 20, item 3): the agreement the customer accepts is rendered from a versioned template and
stored with the plan in its creation transaction (original, secondary and negotiated plans); the customer
reads it on the web and through the API, staff on the plan admin; a plan from before versioning says so."""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal

import pytest
from django.template import TemplateDoesNotExist
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import OtpPurpose
from installments import cost
from installments.models import InstallmentPlan, PenaltyBase, PlanAgreement
from installments.services import agreements as agreement_service
from installments.services import negotiation_accept, plan_create, plan_restage
from repayments.staff import AGENT
from tests.factories import CustomerFactory, StaffFactory
from tests.installments.negotiation_support import apply, offered

API = "/api/v1"


@pytest.fixture
def flat_product(flat_product):
    """These figures are stated on the principal-only penalty base (a new product's default; the test
    factory keeps principal + fee for the older tests' figures)."""
    flat_product.penalty_base = PenaltyBase.PRINCIPAL
    flat_product.save()
    return flat_product


def test_plan_create_stores_the_accepted_text_with_every_term(current_plan) -> None:
    agreement = PlanAgreement.objects.get(plan=current_plan)
    assert agreement.version == agreement_service.AGREEMENT_VERSION == "2026-11"
    assert agreement.language == "zh-hans"
    assert agreement.text_sha256 == hashlib.sha256(agreement.text.encode()).hexdigest()
    assert abs((timezone.now() - agreement.accepted_at).total_seconds()) < 60
    text = agreement.text
    for fact in (
        "借款协议（版本 2026-11）",
        "借款本金：¥1,200.00",
        "分期期数：12期",
        f"年化利率（IRR）：{current_plan.apr_percent}%",
        "第12期",  # the schedule, row by row
        "到期日后3天内还款不收违约金",
        "日费率0.05%（折合年化18.25%",
        "计收基数为逾期本金",
        "累计不超过¥300.00（本金的25.00%）",
        "年化综合成本不超过24.00%",
        "不超过¥1.00时，该期不视为逾期",
        "推迟1至14天，本计划最多1次",
    ):
        assert fact in text, fact
    # the example table is cost.py's, for installment 1
    row90 = cost.daily_penalty(Decimal("100.00"), Decimal("0.0005"), 90)
    assert f"逾期90天：违约金至多¥{row90}" in text


def test_english_customer_gets_the_english_text(db, flat_product) -> None:
    customer = CustomerFactory(language="en")
    plan = plan_create(customer=customer, product=flat_product, principal=Decimal("600.00"), tenor=6)
    agreement = plan.agreement
    assert agreement.language == "en"
    assert "Loan agreement (version 2026-11)" in agreement.text
    assert "0.05% a day (18.25% a year" in agreement.text
    assert "never exceeds ¥150.00 in all (25.00% of the principal)" in agreement.text


def test_secondary_and_negotiated_plans_store_theirs(current_plan, late_plan, agent, codes, customer) -> None:
    secondary = plan_restage(customer=customer, plan_id=current_plan.pk, tenor=12)
    assert f"借款本金：¥{secondary.principal:,.2f}" in secondary.agreement.text

    application = offered(apply(late_plan), agent)
    negotiated = negotiation_accept(
        customer=customer,
        application_id=application.public_id,
        otp_code=codes.request(customer, OtpPurpose.ACCEPT_NEGOTIATION),
    )
    text = PlanAgreement.objects.get(plan=negotiated).text
    assert f"借款本金：¥{negotiated.principal:,.2f}" in text
    assert f"分期期数：{negotiated.tenor}期" in text


def test_no_plan_without_its_agreement(customer, flat_product, monkeypatch) -> None:
    """The agreement is written in the plan's transaction: if it cannot be, no plan is made."""
    monkeypatch.setattr(agreement_service, "AGREEMENT_VERSION", "1999-01")
    with pytest.raises(TemplateDoesNotExist):
        plan_create(customer=customer, product=flat_product, principal=Decimal("1200.00"), tenor=12)
    assert not InstallmentPlan.objects.filter(customer=customer).exists()


def test_a_new_version_changes_only_new_plans(
    customer, flat_product, current_plan, settings, tmp_path, monkeypatch
):
    folder = tmp_path / "installments" / "agreement"
    folder.mkdir(parents=True)
    (folder / "2027-01.zh-hans.txt").write_text(
        "借款协议（版本 2027-01）本金{{ plan.principal }}", encoding="utf-8"
    )
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
    monkeypatch.setattr(agreement_service, "AGREEMENT_VERSION", "2027-01")
    before = PlanAgreement.objects.get(plan=current_plan)
    newer = plan_create(customer=customer, product=flat_product, principal=Decimal("2400.00"), tenor=12)
    assert newer.agreement.version == "2027-01"
    assert newer.agreement.text == "借款协议（版本 2027-01）本金2400.00\n"
    after = PlanAgreement.objects.get(plan=current_plan)
    assert (after.version, after.text, after.text_sha256) == (before.version, before.text, before.text_sha256)


# --- reading it: web, API, admin --------------------------------------------------------------------------


def test_customer_reads_it_on_the_web_and_in_the_api(signed_in, customer, current_plan) -> None:
    agreement = current_plan.agreement
    page = signed_in.get(reverse("repayments:plan", args=[current_plan.public_id])).content.decode()
    link = reverse("installments:agreement", args=[current_plan.public_id])
    assert f'href="{link}"' in page
    assert "借款协议" in page
    html = signed_in.get(link).content.decode()
    assert "版本2026-11" in html
    assert "借款本金：¥1,200.00" in html

    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"{API}/plans/{current_plan.public_id}/agreement/").json()
    assert body["versioned"] is True
    assert body["version"] == "2026-11"
    assert body["text"] == agreement.text
    assert body["text_sha256"] == agreement.text_sha256
    assert body["notice"] is None


def test_another_customers_agreement_is_404(client, other_customer, current_plan) -> None:
    client.force_login(other_customer)
    assert client.get(reverse("installments:agreement", args=[current_plan.public_id])).status_code == 404
    api = APIClient()
    api.force_authenticate(other_customer)
    assert api.get(f"{API}/plans/{current_plan.public_id}/agreement/").status_code == 404


def test_plan_from_before_versioning(signed_in, customer, current_plan, client) -> None:
    PlanAgreement.objects.filter(plan=current_plan).delete()  # as every plan made before this change
    html = signed_in.get(reverse("installments:agreement", args=[current_plan.public_id])).content.decode()
    assert 'id="agreement-unversioned"' in html
    assert "早于协议版本管理" in html
    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"{API}/plans/{current_plan.public_id}/agreement/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body["versioned"] is False
    assert body["text"] is None
    assert body["notice"]
    staff = StaffFactory(phone="+8613700000011", groups=[AGENT])
    client.force_login(staff)
    admin = client.get(
        reverse("admin:installments_installmentplan_change", args=[current_plan.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert admin.status_code == 200
    assert "agreement from before versioning" in admin.content.decode()


def test_staff_read_it_on_the_plan_admin(client, current_plan) -> None:
    staff = StaffFactory(phone="+8613700000012", groups=[AGENT])
    client.force_login(staff)
    html = client.get(
        reverse("admin:installments_installmentplan_change", args=[current_plan.pk]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    agreement = current_plan.agreement
    assert 'id="plan-agreement"' in html
    assert agreement.text_sha256 in html
    assert "借款本金：¥1,200.00" in html

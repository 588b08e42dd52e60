"""Findings 13 and 19 of the 2026-11-30 review: money strings are parsed by one strict rule everywhere.

``^\\d{1,12}(\\.\\d{1,2})?$``, ASCII only: the API (``MoneyField`` and ``parse_money``), the pay page, the
negotiation form and every staff form that takes money refuse what ``Decimal(str)`` would have taken."""

from __future__ import annotations

import importlib
import re
import uuid
from decimal import Decimal

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from core.errors import ApplicationError
from core.money_input import AsciiDecimalField, parse_money
from repayments.models import Repayment

# The review's spellings, and more of the kind: each one Decimal() accepts.
BAD_SPELLINGS = [
    "1_000",
    "1e3",
    "1E+1",
    "+1.00",
    " 1.00 ",
    "1.00\n",
    "\u0663",  # Arabic-Indic three
    "\uff11\uff10\uff10",  # full-width 100
    "1e30",
    "1.",
    ".5",
    "-1",
    "NaN",
    "Infinity",
    "0x10",
    "1,000",
    "1234567890123",  # 13 digits before the point
    "1.005",
    "",
]


@pytest.mark.parametrize("text", BAD_SPELLINGS)
def test_parse_money_refuses_every_lenient_spelling(text) -> None:
    with pytest.raises(ApplicationError) as exc:
        parse_money(text)
    assert exc.value.code == "invalid_amount"
    assert exc.value.status == 400


@pytest.mark.parametrize("value", [Decimal("1E+30"), Decimal("NaN"), Decimal("-1"), 1.5, True, None, 10**13])
def test_parse_money_refuses_out_of_range_values_from_code(value) -> None:
    with pytest.raises(ApplicationError) as exc:
        parse_money(value)
    assert exc.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("text", "amount"),
    [("0", "0.00"), ("50", "50.00"), ("50.5", "50.50"), ("999999999999.99", "999999999999.99")],
)
def test_plain_amounts_are_accepted(text, amount) -> None:
    assert parse_money(text) == Decimal(amount)


@pytest.mark.parametrize(
    "text", ["1_000", "1e3", "1E+1", "+1.00", " 1.00 ", "\u0663", "\uff11\uff10\uff10", "1e30"]
)
def test_api_amounts_refuse_lenient_spellings(api, current_plan, card, late_plan, text) -> None:
    payment = api.post(
        "/api/v1/repayments/",
        {
            "plan_id": str(current_plan.public_id),
            "mode": "custom",
            "card_id": str(card.public_id),
            "amount": text,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    quote = api.post("/api/v1/quotes/", {"product": "baitiao", "principal": text, "tenor": 12}, format="json")
    negotiation = APIClient()
    negotiation.force_authenticate(late_plan.customer)
    applied = negotiation.post(
        "/api/v1/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": text,
            "requested_tenor": 6,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    for response, field in ((payment, "amount"), (quote, "principal"), (applied, "monthly_income")):
        assert response.status_code == 400, (field, response.content)
        body = response.json()
        assert body["code"] == "invalid_amount", body
        assert field in body["fields"], body
    assert not Repayment.objects.exists()


def test_the_schema_publishes_the_money_pattern(api) -> None:
    schema = api.get("/api/schema/?format=json").json()
    quote = schema["components"]["schemas"]["QuoteRequestRequest"]["properties"]["principal"]
    assert quote["pattern"] == r"^\d{1,12}(\.\d{1,2})?$"


@pytest.mark.parametrize("text", ["1_000", "1e3", "+1.00", " 1.00 ", "\u0663", "\uff11\uff10\uff10", "1e30"])
def test_pay_page_refuses_lenient_spellings(client, customer, current_plan, card, text) -> None:
    client.force_login(customer)
    url = reverse("repayments:pay", args=[current_plan.public_id])
    data = {"step": "review", "mode": "custom", "amount": text, "when": "now", "card": str(card.public_id)}
    response = client.post(url, data)
    assert response.status_code == 200
    assert 'id="id_amount_error"' in response.content.decode()
    assert 'name="key"' not in response.content.decode()  # not on to the confirm step


def test_staff_offline_payment_refuses_lenient_spellings(client, overdue_plan) -> None:
    staff = User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")
    client.force_login(staff)
    url = reverse("admin:repayments_repayment_add")
    for text in ("1e2", "\uff11\uff10\uff16", "106.00 "):
        response = client.post(url, {"plan": overdue_plan.pk, "amount": text, "reference": f"TRF-{text}"})
        assert response.status_code == 200, text
    assert not Repayment.objects.exists()


FORM_MODULES = [
    "repayments.forms",
    "repayments.admin",
    "installments.forms",
    "installments.admin.plans",
    "installments.admin.negotiation",
    "accounts.forms",
    "accounts.admin",
    "notifications.admin",
]


def _decimal_fields(form_class: type[forms.BaseForm]) -> list[tuple[str, forms.Field]]:
    return [(name, f) for name, f in form_class.base_fields.items() if isinstance(f, forms.DecimalField)]


def test_every_decimal_box_in_our_forms_and_admin_uses_the_strict_rule(db) -> None:
    """The class, not the instances: a new form or admin page with a lenient decimal box fails here."""
    seen = 0
    for module_name in FORM_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and hasattr(value, "base_fields")
            ):
                for name, field in _decimal_fields(value):
                    seen += 1
                    assert isinstance(field, AsciiDecimalField), f"{module_name}.{value.__name__}.{name}"
    superuser = User.objects.create_superuser("+8613900000008", "admin-pw-1234", real_name="审计")
    request = RequestFactory().get("/admin/")
    request.user = superuser
    for model, model_admin in admin.site._registry.items():
        if apps.get_app_config(model._meta.app_label).name not in ("accounts", "installments", "repayments"):
            continue
        form_class = model_admin.get_form(request)
        for name, field in _decimal_fields(form_class):
            seen += 1
            assert isinstance(field, AsciiDecimalField), f"{model.__name__} admin: {name}"
    assert seen >= 8


def test_the_strict_form_field_builds_its_rule_from_its_size() -> None:
    rate = AsciiDecimalField(max_digits=9, decimal_places=6)
    assert rate.clean("0.000500") == Decimal("0.0005")
    for bad in ("5e-4", "0.0000001", "1000.0", "\u0660.1"):
        with pytest.raises(forms.ValidationError):
            rate.clean(bad)
    assert re.fullmatch(rate.pattern, "123.123456")

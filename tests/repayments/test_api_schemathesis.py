"""The API against its own OpenAPI schema (schemathesis): generated requests, signed in, on every operation.

A bounded number of examples per operation; every response must be a non-5xx with a documented status,
content type and body. The customer has a plan, a card and an overdue plan, so ids in paths can hit real
objects as well as unknown ones.

A second pass sends NEGATIVE data only (values that break the schema: wrong types, formats, patterns such
as the money pattern, missing fields) with every check schemathesis has (the CLI's ``--checks all``):
besides "no 5xx", invalid data must be refused with a 4xx and valid data accepted. Money strings and
cursors get their own Hypothesis strategies in ``test_input_fuzz.py``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User
from accounts.tokens import VersionedRefreshToken
from config.wsgi import application
from installments.models import InstallmentProduct
from installments.services import overdue_sweep, plan_create
from repayments.services import card_bind_verified
from tests.cards import ICBC_DEBIT

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# pytest-django has configured Django before test modules are imported; reading the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
negative_schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
negative_schema.config.generation.update(modes=[GenerationMode.NEGATIVE])
negative_schema.config.checks.update(included_check_names=["all"])


@pytest.fixture
def keep_test_connection():
    """Requests go through the WSGI handler, which closes the database connection after each one; inside a
    test's transaction that would lose it (Django's own test client disconnects the same signals)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(db, request) -> dict:
    product = InstallmentProduct.objects.create(
        code="baitiao", name="白条分期", fee_method="flat_fee", fee_rate=Decimal("0.005"), tenors=[3, 6, 12]
    )
    user = User.objects.create_user("+8613822223333", "Schema-pass-2026", real_name="赵六")
    today = timezone.localdate()
    plan_create(
        customer=user, product=product, principal="1200.00", tenor=12, purchase_date=today - timedelta(days=5)
    )
    plan_create(
        customer=user, product=product, principal="600.00", tenor=6, purchase_date=today - timedelta(days=70)
    )
    overdue_sweep(as_of=today)
    card_bind_verified(customer=user, number=ICBC_DEBIT, holder_name="赵六", reserved_phone="13822223333")
    # On SQLite a rolled-back test gives its user id to the next test's user: start with its throttles empty.
    cache.delete_many([f"throttle_{scope}_{user.pk}" for scope in ("user", "payments", "otp", "login")])
    headers = {"Authorization": f"Bearer {VersionedRefreshToken.for_user(user).access_token}"}
    # The token must work, or every generated request answers a documented 401 and the run proves nothing
    # (it did, for a while, with a token that lacked the version claim).
    me = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=headers["Authorization"])
    assert me.status_code == 200, me.content
    request.getfixturevalue("keep_test_connection")  # after the test client, which reconnects the signals
    return headers


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_schema(case, bearer) -> None:
    case.call_and_validate(headers=bearer, checks=CHECKS)


@negative_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_negative_data_is_refused_with_all_checks(case, bearer) -> None:
    case.call_and_validate(headers=bearer)  # no explicit checks: every check enabled above

"""T+1 reconciliation through the bank service over HTTP (``GET /v1/settlements/<date>``): the same file
and the same matching as with the in-process simulator."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from repayments.gateway import close_gateway_connections, get_gateway, parse_settlement_file
from repayments.http_gateway import HttpGateway
from repayments.models import BreakKind, RepaymentStatus, SettlementFile
from repayments.services import gateway_key, reconciliation_run, repayment_create
from tests.bank_service import SECRET, BankProcess
from tests.factories import BoundCardFactory

pytestmark = pytest.mark.bank_service

D = Decimal


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """Module-scoped, so the setting outlives each test's after-test ledger check (tests/repayments/
    test_http_gateway.py says why)."""
    process = BankProcess(tmp_path_factory.mktemp("bank") / "bank.sqlite3").start()
    override = override_settings(
        PAYMENT_GATEWAY="http", GATEWAY_HTTP_URL=process.url, GATEWAY_HTTP_SECRET=SECRET
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture
def http_gateway(bank: BankProcess, tmp_path: Path) -> Iterator[HttpGateway]:
    bank.database = tmp_path / "bank.sqlite3"
    bank.restart()
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    yield gateway
    gateway.close()


def test_a_day_reconciled_over_http(http_gateway: HttpGateway, customer, overdue_plan) -> None:
    card = BoundCardFactory(customer=customer)
    repayment = repayment_create(
        customer=customer, plan=overdue_plan, mode="due_now", card=card, channel="web", idempotency_key="h"
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    stray = http_gateway.charge(token=card.gateway_token, amount=D("5.00"), idempotency_key="stray-1")
    refund = http_gateway.refund(reference=stray.reference, amount=D("5.00"), idempotency_key="stray-1-back")
    today = timezone.localdate()
    lines = parse_settlement_file(http_gateway.settlement_file(today))
    assert [(line.idempotency_key, line.amount, line.fee, line.status) for line in lines] == [
        (gateway_key(repayment.public_id), D("212.00"), D("0.21"), "succeeded"),
        ("stray-1", D("5.00"), D("0.01"), "succeeded"),
        ("stray-1-back", D("5.00"), D("0.00"), "refund"),
    ]
    assert lines[2].reference == refund.refund_reference
    result = reconciliation_run(business_date=today)
    assert (result.lines, result.matched) == (3, 1)
    # The stray charge is no repayment of ours, and its refund no refund of ours: both are breaks.
    assert sorted((b.kind, b.gateway_key) for b in result.breaks) == [
        (BreakKind.BANK_ONLY, "stray-1"),
        (BreakKind.REFUND_MISMATCH, "stray-1-back"),
    ]
    stored = SettlementFile.objects.get(business_date=today)
    assert (stored.charged_total, stored.refunded_total, stored.fee_total) == (
        D("217.00"),
        D("5.00"),
        D("0.22"),
    )


def test_a_bad_date_is_refused(http_gateway: HttpGateway) -> None:
    response = http_gateway._call("GET", "/v1/settlements/2026-13-01", read=True)
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")

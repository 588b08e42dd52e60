"""``HttpGateway`` (repayments/http_gateway.py) against the simulated bank service in a real subprocess:
what an unknown outcome looks like over the network, what is retried, and a payment end to end with
``PAYMENT_GATEWAY=http`` whose books agree with the bank's (``ledger_breaches`` reads them through the
service's listing)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from core.errors import ApplicationError
from repayments.gateway import (
    ChargeRequest,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    close_gateway_connections,
    get_gateway,
)
from repayments.http_gateway import HttpGateway
from repayments.ledger import ledger_breaches
from repayments.models import BankCard, Repayment, RepaymentStatus
from repayments.services import OneTimeCard, card_bind, repayment_create, repayments_reconcile
from tests.bank_service import SECRET, BankProcess
from tests.cards import ICBC_DEBIT
from tests.factories import BoundCardFactory

pytestmark = pytest.mark.bank_service

D = Decimal


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """The bank, and ``PAYMENT_GATEWAY=http`` pointed at it (a short read timeout, so an injected one is
    quick). Module-scoped so the setting outlives each test's after-test ledger check, which then compares
    our books with this bank's rather than the in-process simulator's."""
    process = BankProcess(tmp_path_factory.mktemp("bank") / "bank.sqlite3").start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        GATEWAY_HTTP_READ_TIMEOUT=1.0,
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture
def http_gateway(bank: BankProcess, tmp_path: Path) -> Iterator[HttpGateway]:
    """The configured gateway, on a bank with empty books (``ledger_breaches`` compares every
    ``repayment:`` charge the bank holds with our rolled-back database): the same address, a new file."""
    bank.database = tmp_path / "bank.sqlite3"
    bank.restart()
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    yield gateway
    gateway.close()


def _token(gateway: HttpGateway) -> str:
    return gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="13811112222").token


def _faults(gateway: HttpGateway, **faults: float) -> None:
    gateway.simulator_admin("POST", "faults", faults)


def test_a_read_timeout_on_a_charge_is_an_unknown_outcome_the_status_resolves(
    http_gateway: HttpGateway,
) -> None:
    token = _token(http_gateway)
    _faults(http_gateway, timeout_rate=1, timeout_seconds=3)
    with pytest.raises(GatewayTimeout):
        http_gateway.charge(token=token, amount=D("30.00"), idempotency_key="slow-1")
    _faults(http_gateway, timeout_rate=0)
    found = http_gateway.get_charge(idempotency_key="slow-1")
    assert found is not None
    assert (found.status, found.amount) == (ChargeStatus.SUCCEEDED, D("30.00"))
    # The caller's retry with the same key is answered, and charges nothing more.
    assert http_gateway.charge(token=token, amount=D("30.00"), idempotency_key="slow-1") == found


def test_an_answer_lost_after_the_charge_is_a_timeout_and_the_status_shows_it_succeeded(
    http_gateway: HttpGateway,
) -> None:
    token = _token(http_gateway)
    _faults(http_gateway, lost_rate=1)
    with pytest.raises(GatewayTimeout):
        http_gateway.charge(token=token, amount=D("40.00"), idempotency_key="lost-1")
    found = http_gateway.get_charge(idempotency_key="lost-1")
    assert found is not None
    assert found.succeeded
    assert http_gateway.simulator_admin("GET", f"balance/{token}") == {"balance": "9960.00"}


def test_a_bank_that_cannot_be_reached_is_an_error_not_an_unknown_outcome() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = HttpGateway(url=f"http://127.0.0.1:{port}", secret=SECRET, retries=1)
    # Nothing was sent, so nothing can have been charged: not a GatewayTimeout.
    with pytest.raises(GatewayError) as charge:
        gateway.charge(token="tok_x", amount=D("1.00"), idempotency_key="k")
    assert type(charge.value) is GatewayError
    assert charge.value.code == "unavailable"
    with pytest.raises(GatewayError) as status:
        gateway.get_charge(idempotency_key="k")
    assert status.value.code == "unavailable"
    gateway.close()


@pytest.mark.parametrize("amount", [1.5, D("1.001"), D("0"), D("-1.00"), D("NaN")])
def test_an_amount_that_is_not_exact_fen_never_leaves(amount: object) -> None:
    gateway = HttpGateway(url="http://127.0.0.1:9", secret=SECRET)
    with pytest.raises(ValueError, match="amount"):
        gateway.charge(token="tok_x", amount=amount, idempotency_key="k")  # type: ignore[arg-type]


def test_the_alias_and_its_settings(settings) -> None:
    settings.PAYMENT_GATEWAY = "http"
    settings.GATEWAY_HTTP_URL = "http://bank.example:8100/"
    settings.GATEWAY_HTTP_READ_TIMEOUT = 7.5
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    assert (gateway.url, gateway.timeout.read) == ("http://bank.example:8100", 7.5)


def _pay(customer, plan, card, key: str) -> Repayment:
    return repayment_create(
        customer=customer, plan=plan, mode="due_now", card=card, channel="web", idempotency_key=key
    )


def test_a_payment_over_http_settles_and_the_books_agree_with_the_bank(
    http_gateway: HttpGateway, customer, overdue_plan
) -> None:
    card = BoundCardFactory(customer=customer)  # tokenized by the bank service
    assert card.gateway_token.startswith("tok_")
    repayment = _pay(customer, overdue_plan, card, "http-1")
    assert (repayment.status, repayment.amount) == (RepaymentStatus.SUCCEEDED, D("212.00"))
    charges = list(http_gateway.succeeded_charges(key_prefix="repayment:"))
    assert [(c.idempotency_key, c.amount) for c in charges] == [
        (f"repayment:{repayment.public_id}", D("212.00"))
    ]
    assert list(ledger_breaches()) == []


def test_a_lost_answer_is_settled_once_by_reconciliation(
    http_gateway: HttpGateway, customer, overdue_plan
) -> None:
    card = BoundCardFactory(customer=customer)
    _faults(http_gateway, lost_rate=1)
    repayment = _pay(customer, overdue_plan, card, "http-lost")
    assert repayment.status == RepaymentStatus.PENDING  # charged at the bank, answer never heard
    _faults(http_gateway, lost_rate=0)
    past = timezone.now() - timedelta(minutes=30)
    Repayment.objects.filter(pk=repayment.pk).update(charge_attempted_at=past, charge_lease_until=past)
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert http_gateway.simulator_admin("GET", f"balance/{card.gateway_token}") == {"balance": "9788.00"}
    assert list(ledger_breaches()) == []


def test_a_batch_answered_too_late_leaves_every_item_unknown_until_asked(http_gateway: HttpGateway) -> None:
    token = _token(http_gateway)
    _faults(http_gateway, timeout_rate=1, timeout_seconds=3)
    with pytest.raises(GatewayTimeout):
        http_gateway.charge_batch(
            [ChargeRequest(token, D("1.00"), "batch-1"), ChargeRequest(token, D("2.00"), "batch-2")]
        )
    _faults(http_gateway, timeout_rate=0)
    found = [http_gateway.get_charge(idempotency_key=key) for key in ("batch-1", "batch-2")]
    assert [(f.status, f.amount) for f in found if f is not None] == [
        (ChargeStatus.SUCCEEDED, D("1.00")),
        (ChargeStatus.SUCCEEDED, D("2.00")),
    ]


def test_soft_failures_and_latency_are_injectable(http_gateway: HttpGateway) -> None:
    token = _token(http_gateway)
    _faults(http_gateway, failure_rate=1, latency_ms=200)
    started = time.monotonic()
    result = http_gateway.charge(token=token, amount=D("1.00"), idempotency_key="busy-1")
    assert time.monotonic() - started >= 0.2
    assert result.retryable
    _faults(http_gateway, failure_rate=0, latency_ms=0)
    # A soft failure is the key's answer: the same key replays it; a new attempt takes a new key.
    assert http_gateway.charge(token=token, amount=D("1.00"), idempotency_key="busy-1") == result
    assert http_gateway.charge(token=token, amount=D("1.00"), idempotency_key="busy-2").succeeded


def test_binding_or_paying_with_a_card_while_the_bank_is_down_is_a_clear_503(
    settings, http_gateway, customer, current_plan, codes
) -> None:
    """It was a server error (the GatewayError of an unreachable bank escaped card_bind): now the customer
    is told the bank cannot be reached and nothing was charged, and nothing is written. (``http_gateway``
    empties the module's bank books, which the after-test ledger check reads once the settings return.)"""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.PAYMENT_GATEWAY = "http"
    settings.GATEWAY_HTTP_URL = f"http://127.0.0.1:{port}"
    settings.GATEWAY_HTTP_SECRET = SECRET
    settings.GATEWAY_HTTP_RETRIES = 0
    with pytest.raises(ApplicationError) as bound:
        card_bind(
            customer=customer,
            number=ICBC_DEBIT,
            holder_name=customer.real_name,
            reserved_phone="13811112222",
            otp_code=codes.request(customer),
        )
    assert bound.value.code == "bank_unavailable"
    assert bound.value.status == 503
    assert not BankCard.objects.filter(customer=customer).exists()
    with pytest.raises(ApplicationError) as paid:
        repayment_create(
            customer=customer,
            plan=current_plan,
            mode="custom",
            amount="10.00",
            one_time_card=OneTimeCard(number=ICBC_DEBIT, holder_name=customer.real_name),
            channel="web",
            idempotency_key="bank-down",
        )
    assert paid.value.code == "bank_unavailable"
    assert not Repayment.objects.filter(customer=customer).exists()

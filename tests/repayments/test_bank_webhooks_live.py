"""The bank service's own webhook sender against Django's live server: a result written to the bank's
outbox reaches ``POST /webhooks/bank/`` and settles the charge once, through duplicates, reordering and
dropped deliveries (retried with backoff)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from repayments.gateway import close_gateway_connections, get_gateway
from repayments.http_gateway import HttpGateway
from repayments.ledger import ledger_breaches
from repayments.models import BankWebhookEvent, Repayment, RepaymentStatus
from repayments.services import repayment_create
from tests.bank_service import SECRET, BankProcess
from tests.factories import BoundCardFactory

# PostgreSQL only: the webhook settles in the live server's thread while the test's thread settles the same
# charge, and SQLite's shared-cache test database fails such concurrent writers at once ("table is locked")
# instead of making one wait, as a real database does (tests/reliability/test_http_bank.py likewise).
pytestmark = [pytest.mark.bank_service, pytest.mark.postgres]


@pytest.fixture(scope="module")
def bank(live_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """A bank whose webhooks go to the live server, with a quick backoff; module-scoped, so the after-test
    ledger check reads this bank's books."""
    process = BankProcess(
        tmp_path_factory.mktemp("bank") / "bank.sqlite3",
        env={
            "BANK_WEBHOOK_URL": f"{live_server.url}/webhooks/bank/",
            "BANK_WEBHOOK_BACKOFF_SECONDS": "0.1",
            "BANK_WEBHOOK_MAX_BACKOFF_SECONDS": "0.5",
        },
    ).start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        GATEWAY_HTTP_READ_TIMEOUT=1.0,
        BANK_WEBHOOK_SECRET="",
    )
    override.enable()
    yield process
    close_gateway_connections()
    override.disable()
    process.stop()


@pytest.fixture
def http_gateway(bank: BankProcess, tmp_path: Path, transactional_db) -> Iterator[HttpGateway]:
    bank.database = tmp_path / "bank.sqlite3"
    bank.restart()
    gateway = get_gateway()
    assert isinstance(gateway, HttpGateway)
    yield gateway
    gateway.close()


def _until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def _lost_payment(gateway: HttpGateway, customer, plan) -> Repayment:
    card = BoundCardFactory(customer=customer)
    gateway.simulator_admin("POST", "faults", {"lost_rate": 1})
    repayment = repayment_create(
        customer=customer, plan=plan, mode="due_now", card=card, channel="web", idempotency_key="live-1"
    )
    gateway.simulator_admin("POST", "faults", {"lost_rate": 0})
    return repayment


def _status(repayment: Repayment) -> str:
    return Repayment.objects.values_list("status", flat=True).get(pk=repayment.pk)


def _all_delivered(gateway: HttpGateway) -> bool:
    return gateway.simulator_admin("GET", "webhooks") == {"pending": 0}


def _settled_once(gateway: HttpGateway, repayment: Repayment) -> None:
    _until(lambda: _status(repayment) == RepaymentStatus.SUCCEEDED)
    _until(lambda: _all_delivered(gateway))
    assert repayment.events.filter(kind="succeeded").count() == 1
    assert list(ledger_breaches()) == []


def test_a_charge_whose_answer_was_lost_settles_by_the_banks_webhook(
    http_gateway, customer, overdue_plan
) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    _settled_once(http_gateway, repayment)
    assert BankWebhookEvent.objects.filter(kind="charge.succeeded").count() == 1


def test_duplicated_and_reordered_webhooks_settle_once(http_gateway, customer, overdue_plan) -> None:
    http_gateway.simulator_admin(
        "POST", "webhook-faults", {"duplicate_rate": 1, "reorder_rate": 1, "reorder_seconds": 0.2}
    )
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    _settled_once(http_gateway, repayment)
    assert BankWebhookEvent.objects.count() == 1  # the duplicate was refused by its event id


def test_a_dropped_webhook_is_retried_until_it_is_answered(http_gateway, customer, overdue_plan) -> None:
    http_gateway.simulator_admin("POST", "webhook-faults", {"drop_rate": 1})
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    time.sleep(0.5)
    assert _status(repayment) == RepaymentStatus.PENDING
    assert http_gateway.simulator_admin("GET", "webhooks") == {"pending": 1}
    http_gateway.simulator_admin("POST", "webhook-faults", {"drop_rate": 0})
    _settled_once(http_gateway, repayment)


def test_a_webhook_after_the_answer_changes_nothing(http_gateway, customer, overdue_plan) -> None:
    card = BoundCardFactory(customer=customer)
    repayment = repayment_create(
        customer=customer, plan=overdue_plan, mode="due_now", card=card, channel="web", idempotency_key="k"
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    _settled_once(http_gateway, repayment)
    assert BankWebhookEvent.objects.count() == 1

"""The bank's result notifications (``POST /webhooks/bank/``) against the bank service in a real
subprocess: a webhook settles a charge whose answer was lost through the same settle path as a poll, so
whichever comes first settles it and the other changes nothing; signatures, timestamps and replayed event
ids are checked before anything is done."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from repayments.gateway import close_gateway_connections, get_gateway
from repayments.http_gateway import HttpGateway
from repayments.ledger import ledger_breaches
from repayments.models import Allocation, BankWebhookEvent, Repayment, RepaymentStatus
from repayments.services import repayment_create, repayments_reconcile
from repayments.webhooks import webhook_signature
from tests.bank_service import SECRET, BankProcess
from tests.factories import BoundCardFactory

pytestmark = pytest.mark.bank_service

D = Decimal
URL = "/webhooks/bank/"


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankProcess]:
    """As in test_http_gateway.py: module-scoped, so the after-test ledger check reads this bank."""
    process = BankProcess(tmp_path_factory.mktemp("bank") / "bank.sqlite3").start()
    override = override_settings(
        PAYMENT_GATEWAY="http",
        GATEWAY_HTTP_URL=process.url,
        GATEWAY_HTTP_SECRET=SECRET,
        GATEWAY_HTTP_READ_TIMEOUT=1.0,
        BANK_WEBHOOK_SECRET="",
        BANK_WEBHOOK_WINDOW_SECONDS=300,
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


def _lost_payment(gateway: HttpGateway, customer, plan) -> Repayment:
    """A repayment charged at the bank whose answer never came back: pending, its lease over."""
    card = BoundCardFactory(customer=customer)
    gateway.simulator_admin("POST", "faults", {"lost_rate": 1})
    repayment = repayment_create(
        customer=customer, plan=plan, mode="due_now", card=card, channel="web", idempotency_key="hook-1"
    )
    gateway.simulator_admin("POST", "faults", {"lost_rate": 0})
    assert repayment.status == RepaymentStatus.PENDING
    past = timezone.now() - timedelta(minutes=30)
    Repayment.objects.filter(pk=repayment.pk).update(charge_attempted_at=past, charge_lease_until=past)
    return repayment


def _event(gateway: HttpGateway, repayment: Repayment, event_id: str = "evt_1") -> dict[str, Any]:
    """The event the bank sends for this repayment's charge, built from the bank's own record."""
    key = f"repayment:{repayment.public_id}"
    charge = gateway.get_charge(idempotency_key=key)
    assert charge is not None
    return {
        "id": event_id,
        "type": f"charge.{charge.status}",
        "idempotency_key": key,
        "reference": charge.reference,
        "amount": str(charge.amount),
        "status": str(charge.status),
    }


def _post(event: dict[str, Any], *, secret: str = SECRET, age: int = 0, signature: str = "") -> Any:
    body = json.dumps(event).encode()
    timestamp = str(int(time.time()) - age)
    return Client().post(
        URL,
        body,
        content_type="application/json",
        headers={
            "X-Timestamp": timestamp,
            "X-Signature": signature or webhook_signature(secret.encode(), timestamp, body),
        },
    )


def _settled_once(repayment: Repayment) -> None:
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayment.events.filter(kind="succeeded").count() == 1
    assert sum(a.amount for a in Allocation.objects.filter(repayment=repayment)) == repayment.amount
    assert list(ledger_breaches()) == []


def test_a_charge_whose_answer_was_lost_settles_by_webhook(http_gateway, customer, overdue_plan) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    response = _post(_event(http_gateway, repayment))
    assert (response.status_code, response.json()) == (200, {"outcome": "settled"})
    _settled_once(repayment)
    # Reconciliation's poll then finds nothing left to do.
    assert repayments_reconcile(older_than=timedelta(0)) == 0
    _settled_once(repayment)


def test_a_duplicated_webhook_settles_once(http_gateway, customer, overdue_plan) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    event = _event(http_gateway, repayment)
    assert _post(event).json() == {"outcome": "settled"}
    # The same event again (the bank retrying after our answer was lost, or a replay): nothing done.
    again = _post(event)
    assert (again.status_code, again.json()) == (200, {"outcome": "duplicate"})
    # Another event id for the same charge (the bank sent it twice): settled already, skipped.
    assert _post({**event, "id": "evt_2"}).json() == {"outcome": "settled"}
    assert BankWebhookEvent.objects.count() == 2
    _settled_once(repayment)


def test_a_webhook_after_the_poll_settled_changes_nothing(http_gateway, customer, overdue_plan) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    assert repayments_reconcile(older_than=timedelta(0)) == 1
    _settled_once(repayment)
    assert _post(_event(http_gateway, repayment)).status_code == 200
    _settled_once(repayment)


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"secret": "another-secret-0123456789abcdef"}, "forged"),
        ({"signature": "0" * 64}, "forged"),
        ({"age": 301}, "stale"),
        ({"age": -301}, "from the future"),
    ],
)
def test_a_forged_or_stale_webhook_is_401_and_does_nothing(
    http_gateway, customer, overdue_plan, options, why
) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    response = _post(_event(http_gateway, repayment), **options)
    assert (response.status_code, response.content) == (401, b""), why
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.PENDING
    assert not BankWebhookEvent.objects.exists()
    assert repayments_reconcile(older_than=timedelta(0)) == 1  # the poll still finishes it


def test_a_body_changed_after_signing_is_401(http_gateway, customer, overdue_plan) -> None:
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    event = _event(http_gateway, repayment)
    timestamp = str(int(time.time()))
    signed = webhook_signature(SECRET.encode(), timestamp, json.dumps(event).encode())
    tampered = json.dumps({**event, "amount": "1.00"}).encode()
    response = Client().post(
        URL,
        tampered,
        content_type="application/json",
        headers={"X-Timestamp": timestamp, "X-Signature": signed},
    )
    assert response.status_code == 401
    assert repayments_reconcile(older_than=timedelta(0)) == 1


def test_a_replayed_event_id_is_refused(http_gateway, customer, overdue_plan) -> None:
    """An event id seen before is not acted on again, whatever it now says."""
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    event = _event(http_gateway, repayment)
    _post({**event, "type": "refund.succeeded"})  # recorded, nothing to settle
    assert _post(event).json() == {"outcome": "duplicate"}
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.PENDING
    assert repayments_reconcile(older_than=timedelta(0)) == 1


def test_an_unknown_charge_is_200_and_logged(http_gateway, db, caplog) -> None:
    event = {
        "id": "evt_x",
        "type": "charge.succeeded",
        "idempotency_key": "repayment:00000000-0000-0000-0000-000000000000",
        "reference": "ch_x",
        "amount": "1.00",
        "status": "succeeded",
    }
    response = _post(event)
    assert (response.status_code, response.json()) == (200, {"outcome": "unknown_charge"})
    assert "do not know" in caplog.text


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"id": "evt_1"}'])
def test_a_signed_but_unreadable_event_is_400(http_gateway, body: bytes) -> None:
    timestamp = str(int(time.time()))
    response = Client().post(
        URL,
        body,
        content_type="application/json",
        headers={
            "X-Timestamp": timestamp,
            "X-Signature": webhook_signature(SECRET.encode(), timestamp, body),
        },
    )
    assert response.status_code == 400


def test_only_post(http_gateway) -> None:
    assert Client().get(URL).status_code == 405


def test_a_webhook_for_a_payment_given_up_applies_the_charge_late(
    http_gateway, customer, overdue_plan
) -> None:
    """The charge landed after we gave the payment up (``not_charged``): the webhook's success is applied
    through the settle's late path, as reconciliation's second look would."""
    repayment = _lost_payment(http_gateway, customer, overdue_plan)
    Repayment.objects.filter(pk=repayment.pk).update(
        status=RepaymentStatus.FAILED, failure_code="not_charged"
    )
    assert _post(_event(http_gateway, repayment)).json() == {"outcome": "settled"}
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert repayment.events.filter(kind="late_succeeded").count() == 1
    assert list(ledger_breaches()) == []

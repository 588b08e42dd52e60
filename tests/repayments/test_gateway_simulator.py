"""The simulated bank-card gateway behaves like an acquirer: idempotent charges, failures on demand."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from repayments.gateway import (
    CardRejected,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    RefundError,
    SimulatedGateway,
    get_gateway,
    simulator_balance,
    simulator_close_card,
    simulator_set_balance,
)
from repayments.models import SimulatedCardAccount, SimulatedCharge
from tests.concurrency import at_once
from tests.repayments.conftest import ICBC_DEBIT

D = Decimal
pytestmark = pytest.mark.django_db


def _token(number: str = ICBC_DEBIT, **kwargs) -> str:
    return (
        SimulatedGateway()
        .tokenize_card(number=number, holder_name="张三", reserved_phone="+8613811112222", **kwargs)
        .token
    )


def test_tokenize_names_the_bank_and_keeps_no_number() -> None:
    gateway = SimulatedGateway()
    first = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    second = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    assert (first.bank_name, first.card_type, first.last4) == ("工商银行", "debit", ICBC_DEBIT[-4:])
    assert first.token != second.token and first.fingerprint == second.fingerprint
    for row in SimulatedCardAccount.objects.values():
        assert all(ICBC_DEBIT not in str(value) for value in row.values())


@pytest.mark.parametrize(
    ("number", "code"), [("6222020000000008", "invalid_number"), ("6222020000000049", "card_not_supported")]
)
def test_tokenize_refusals(number: str, code: str) -> None:
    with pytest.raises(CardRejected) as excinfo:
        _token(number)
    assert excinfo.value.code == code
    assert number not in str(excinfo.value)


def test_charge_moves_money_once_per_key() -> None:
    token = _token()
    simulator_set_balance(token, D("100.00"))
    gateway = SimulatedGateway()
    first = gateway.charge(token=token, amount=D("30.00"), idempotency_key="k")
    again = gateway.charge(token=token, amount=D("30.00"), idempotency_key="k")
    assert first.succeeded and again.reference == first.reference
    assert simulator_balance(token) == D("70.00")
    assert gateway.get_charge(idempotency_key="k") == first
    assert gateway.get_charge(idempotency_key="never") is None
    with pytest.raises(GatewayError):
        gateway.charge(token=token, amount=D("31.00"), idempotency_key="k")


def test_insufficient_funds_and_closed_cards() -> None:
    token = _token()
    simulator_set_balance(token, D("10.00"))
    gateway = SimulatedGateway()
    result = gateway.charge(token=token, amount=D("10.01"), idempotency_key="a")
    assert result.status == ChargeStatus.INSUFFICIENT_FUNDS and not result.retryable
    simulator_close_card(token)
    closed = gateway.charge(token=token, amount=D("1.00"), idempotency_key="b")
    assert closed.status == ChargeStatus.DECLINED and closed.hard_decline
    assert simulator_balance(token) == D("10.00")


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("6222020000000007", ChargeStatus.DECLINED),
        ("6222020000000015", ChargeStatus.INSUFFICIENT_FUNDS),
        ("6222020000000023", ChargeStatus.FAILED),
    ],
)
def test_magic_cards(number: str, status: ChargeStatus) -> None:
    token = _token(number)
    result = SimulatedGateway().charge(token=token, amount=D("1.00"), idempotency_key="m")
    assert result.status == status
    assert simulator_balance(token) == D("10000.00")


def test_timeout_card_moves_money_but_answers_with_a_timeout() -> None:
    token = _token("6222020000000031")
    gateway = SimulatedGateway()
    with pytest.raises(GatewayTimeout):
        gateway.charge(token=token, amount=D("5.00"), idempotency_key="t")
    assert simulator_balance(token) == D("9995.00")
    assert gateway.get_charge(idempotency_key="t").succeeded


def test_failure_and_timeout_rates_and_seed() -> None:
    token = _token()
    assert (
        SimulatedGateway(failure_rate=1.0).charge(token=token, amount=D("1"), idempotency_key="f").retryable
    )
    with pytest.raises(GatewayTimeout):
        SimulatedGateway(timeout_rate=1.0).charge(token=token, amount=D("1.00"), idempotency_key="t2")

    def outcomes(seed: int, prefix: str) -> list[str]:
        gateway = SimulatedGateway(failure_rate=0.5, seed=seed)
        return [
            gateway.charge(token=token, amount=D("0.01"), idempotency_key=f"{prefix}{i}").status
            for i in range(20)
        ]

    assert outcomes(7, "x") == outcomes(7, "y")
    assert len(set(outcomes(7, "z"))) == 2


def test_latency_is_applied() -> None:
    token = _token()
    started = time.monotonic()
    SimulatedGateway(latency_ms=50).charge(token=token, amount=D("1.00"), idempotency_key="slow")
    assert time.monotonic() - started >= 0.05


def test_single_use_token_is_dead_after_a_charge() -> None:
    token = _token(single_use=True)
    gateway = SimulatedGateway()
    assert gateway.charge(token=token, amount=D("1.00"), idempotency_key="s1").succeeded
    assert gateway.charge(token=token, amount=D("1.00"), idempotency_key="s2").hard_decline


def test_refunds_partial_full_idempotent_and_bounded() -> None:
    token = _token()
    gateway = SimulatedGateway()
    charge = gateway.charge(token=token, amount=D("50.00"), idempotency_key="c")
    gateway.refund(reference=charge.reference, amount=D("20.00"), idempotency_key="r1")
    gateway.refund(reference=charge.reference, amount=D("20.00"), idempotency_key="r1")
    assert simulator_balance(token) == D("9970.00")
    with pytest.raises(RefundError) as excinfo:
        gateway.refund(reference=charge.reference, amount=D("30.01"), idempotency_key="r2")
    assert excinfo.value.code == "exceeds_charge"
    gateway.refund(reference=charge.reference, amount=D("30.00"), idempotency_key="r3")
    assert simulator_balance(token) == D("10000.00")
    with pytest.raises(RefundError):
        gateway.refund(reference="ch_nope", amount=D("1.00"), idempotency_key="r4")


@pytest.mark.parametrize("bad", [D("0"), D("-1.00"), D("1.001")])
def test_bad_amounts_raise(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        SimulatedGateway().charge(token=_token(), amount=bad, idempotency_key="bad")


def test_get_gateway_by_setting(settings) -> None:
    assert isinstance(get_gateway(), SimulatedGateway)
    settings.PAYMENT_GATEWAY = "repayments.gateway.SimulatedGateway"
    assert isinstance(get_gateway(), SimulatedGateway)
    settings.PAYMENT_GATEWAY = "nowhere.Gateway"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        get_gateway()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_key_from_twenty_threads_charges_once() -> None:
    token = _token()
    results = at_once(
        20,
        lambda i: SimulatedGateway().charge(token=token, amount=D("7.00"), idempotency_key="same").reference,
    )
    assert len(set(results)) == 1
    assert simulator_balance(token) == D("9993.00")
    assert SimulatedCharge.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_balance_never_goes_negative_under_concurrency() -> None:
    token = _token()
    simulator_set_balance(token, D("100.00"))
    results = at_once(
        20,
        lambda i: SimulatedGateway().charge(token=token, amount=D("10.00"), idempotency_key=f"k{i}").status,
    )
    assert results.count(ChargeStatus.SUCCEEDED) == 10
    assert results.count(ChargeStatus.INSUFFICIENT_FUNDS) == 10
    assert simulator_balance(token) == D("0.00")

"""The bank-card gateway contract, checked against the simulator: what callers rely on to never charge
twice, to reconcile a timeout, and to never keep a card number."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import astuple
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from repayments.gateway import (
    CardRejected,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayTimeout,
    RefundError,
    card_fingerprint,
    get_gateway,
    reset_gateway_cache,
)
from simulators import bank as bank_module
from simulators.bank import (
    SimulatedGateway,
    close_bank_connections,
    simulator_balance,
    simulator_charges,
    simulator_close_card,
    simulator_set_balance,
)
from simulators.models import SimulatedCardAccount, SimulatedCharge

D = Decimal
pytestmark = pytest.mark.django_db


def _luhn_complete(prefix: str, length: int = 16) -> str:
    body = prefix.ljust(length - 1, "0")
    for check in "0123456789":
        total = 0
        for index, char in enumerate(reversed(body + check)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


ICBC_DEBIT = _luhn_complete("622202000000765")
CMB_CREDIT = _luhn_complete("622575000000432")
OTHER_19 = _luhn_complete("999999000000000012", 19)
DECLINED_CARD = "6222020000000007"
INSUFFICIENT_CARD = "6222020000000015"
SOFT_FAIL_CARD = "6222020000000023"
TIMEOUT_CARD = "6222020000000031"
PREPAID_CARD = "6222020000000049"
ALL_NUMBERS = (
    ICBC_DEBIT,
    CMB_CREDIT,
    OTHER_19,
    DECLINED_CARD,
    INSUFFICIENT_CARD,
    SOFT_FAIL_CARD,
    TIMEOUT_CARD,
)


@pytest.fixture(autouse=True)
def _fresh_gateway_cache() -> None:
    reset_gateway_cache()


def _tokenize(number: str = ICBC_DEBIT, gateway: SimulatedGateway | None = None, **kwargs: object) -> str:
    gateway = gateway or SimulatedGateway()
    card = gateway.tokenize_card(number=number, holder_name="张三", reserved_phone="+8613811112222", **kwargs)
    return card.token


def _race(count: int, action: Callable[[int], object]) -> list[object]:
    """``action(i)`` on ``count`` threads released together; an exception is returned, not lost."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = action(index)
        except Exception as exc:  # returned: the test asserts on it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- tokenize ------------------------------------------------------------------------------------


def test_tokenize_names_bank_type_and_last4() -> None:
    gateway = SimulatedGateway()
    debit = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    credit = gateway.tokenize_card(number=CMB_CREDIT, holder_name="张三", reserved_phone="+8613811112222")
    other = gateway.tokenize_card(number=OTHER_19, holder_name="张三", reserved_phone="+8613811112222")
    assert (debit.bank_code, debit.bank_name, debit.card_type, debit.last4) == (
        "ICBC",
        "工商银行",
        "debit",
        ICBC_DEBIT[-4:],
    )
    assert (credit.bank_code, credit.bank_name, credit.card_type) == ("CMB", "招商银行", "credit")
    assert (other.bank_code, other.card_type, other.last4) == ("OTHER", "debit", OTHER_19[-4:])
    assert debit.token.startswith("tok_")
    assert simulator_balance(debit.token) == D("10000.00")


def test_same_number_gives_a_new_token_but_the_same_fingerprint() -> None:
    gateway = SimulatedGateway()
    first = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    second = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    third = gateway.tokenize_card(number=CMB_CREDIT, holder_name="张三", reserved_phone="+8613811112222")
    assert first.token != second.token
    assert first.fingerprint == second.fingerprint == card_fingerprint(ICBC_DEBIT)
    assert third.fingerprint != first.fingerprint
    assert len(first.fingerprint) == 64
    assert ICBC_DEBIT not in first.fingerprint


def test_fingerprint_is_keyed_by_the_secret_key(settings) -> None:
    before = card_fingerprint(ICBC_DEBIT)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert card_fingerprint(ICBC_DEBIT) != before


@pytest.mark.parametrize(
    ("number", "holder", "code"),
    [
        (ICBC_DEBIT[:-1] + str((int(ICBC_DEBIT[-1]) + 1) % 10), "张三", "invalid_number"),
        ("6222abcd00000007", "张三", "invalid_number"),
        ("62220200", "张三", "invalid_number"),
        (PREPAID_CARD, "张三", "not_supported"),
        (ICBC_DEBIT, "  ", "holder_mismatch"),
    ],
)
def test_tokenize_refusals_say_why_and_never_echo_the_number(number: str, holder: str, code: str) -> None:
    with pytest.raises(CardRejected) as excinfo:
        SimulatedGateway().tokenize_card(number=number, holder_name=holder, reserved_phone="+8613811112222")
    assert excinfo.value.code == code
    assert number not in str(excinfo.value)
    assert number not in repr(excinfo.value)
    assert not SimulatedCardAccount.objects.exists()


def test_no_card_number_anywhere_in_the_simulators_books() -> None:
    gateway = SimulatedGateway()
    seen: list[object] = []
    for index, number in enumerate(ALL_NUMBERS):
        card = gateway.tokenize_card(number=number, holder_name="张三", reserved_phone="+8613811112222")
        seen.append(card)
        try:
            seen.append(gateway.charge(token=card.token, amount=D("2.00"), idempotency_key=f"c-{index}"))
        except GatewayTimeout as exc:
            seen.append(exc)
    single = gateway.tokenize_card(
        number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222", single_use=True
    )
    charge = gateway.charge(token=single.token, amount=D("3.00"), idempotency_key="single")
    seen.append(gateway.refund(reference=charge.reference, amount=D("1.00"), idempotency_key="rf"))
    # A caller bug: the number itself passed as the token. Declined, and not kept.
    seen.append(gateway.charge(token=ICBC_DEBIT, amount=D("1.00"), idempotency_key="pan-as-token"))
    rows = [*SimulatedCardAccount.objects.values(), *SimulatedCharge.objects.values()]
    assert len(rows) == 2 * len(ALL_NUMBERS) + 1 + 3
    for number in ALL_NUMBERS:
        for row in rows:
            assert all(number not in str(value) for value in row.values()), row
        for thing in seen:
            assert number not in repr(thing)
    assert seen[-1].hard_decline


# --- charge --------------------------------------------------------------------------------------


def test_charge_success_deducts_the_balance() -> None:
    token = _tokenize()
    simulator_set_balance(token, D("100.00"))
    result = SimulatedGateway().charge(token=token, amount=D("30.25"), idempotency_key="pay-1")
    assert result.succeeded
    assert not result.retryable
    assert not result.hard_decline
    assert result.status == ChargeStatus.SUCCEEDED
    assert result.reference.startswith("ch_")
    assert (result.amount, result.idempotency_key, result.message) == (D("30.25"), "pay-1", "")
    assert simulator_balance(token) == D("69.75")


def test_insufficient_funds_leaves_the_balance_and_an_exact_balance_is_enough() -> None:
    token = _tokenize()
    simulator_set_balance(token, D("10.00"))
    gateway = SimulatedGateway()
    short = gateway.charge(token=token, amount=D("10.01"), idempotency_key="a")
    assert short.status == ChargeStatus.INSUFFICIENT_FUNDS
    assert not short.succeeded
    assert not short.retryable
    assert not short.hard_decline
    assert short.message
    assert simulator_balance(token) == D("10.00")
    assert gateway.charge(token=token, amount=D("10.00"), idempotency_key="b").succeeded
    assert simulator_balance(token) == D("0.00")


@pytest.mark.parametrize(
    ("number", "status", "hard", "retryable"),
    [
        (DECLINED_CARD, ChargeStatus.DECLINED, True, False),
        (INSUFFICIENT_CARD, ChargeStatus.INSUFFICIENT_FUNDS, False, False),
        (SOFT_FAIL_CARD, ChargeStatus.FAILED, False, True),
    ],
)
def test_magic_cards(number: str, status: ChargeStatus, hard: bool, retryable: bool) -> None:
    token = _tokenize(number)
    gateway = SimulatedGateway()
    for key in ("m1", "m2"):
        result = gateway.charge(token=token, amount=D("1.00"), idempotency_key=key)
        assert (result.status, result.hard_decline, result.retryable) == (status, hard, retryable)
        assert gateway.get_charge(idempotency_key=key) == result  # recorded, so reconcilable
    assert simulator_balance(token) == D("10000.00")


def test_timeout_card_records_the_charge_and_moves_money_then_times_out() -> None:
    token = _tokenize(TIMEOUT_CARD)
    gateway = SimulatedGateway()
    with pytest.raises(GatewayTimeout):
        gateway.charge(token=token, amount=D("5.00"), idempotency_key="t")
    assert simulator_balance(token) == D("9995.00")
    recorded = gateway.get_charge(idempotency_key="t")
    assert recorded is not None
    assert recorded.succeeded
    assert recorded.amount == D("5.00")
    # Asking again with the key is how a caller recovers: it answers, and charges nothing more.
    assert gateway.charge(token=token, amount=D("5.00"), idempotency_key="t") == recorded
    assert simulator_balance(token) == D("9995.00")
    with pytest.raises(GatewayTimeout):
        gateway.charge(token=token, amount=D("1.00"), idempotency_key="t-2")


def test_closed_card_is_a_hard_decline() -> None:
    token = _tokenize()
    assert simulator_close_card(token) is True
    assert simulator_close_card("tok_nope") is False
    result = SimulatedGateway().charge(token=token, amount=D("1.00"), idempotency_key="c")
    assert result.status == ChargeStatus.DECLINED
    assert result.hard_decline
    assert simulator_balance(token) == D("10000.00")


def test_unknown_token_is_declined_and_recorded() -> None:
    gateway = SimulatedGateway()
    result = gateway.charge(token="tok_000000000000000000000000", amount=D("1.00"), idempotency_key="u")
    assert result.hard_decline
    assert gateway.get_charge(idempotency_key="u") == result


def test_failure_rate_one_fails_softly_and_moves_nothing() -> None:
    token = _tokenize()
    gateway = SimulatedGateway(failure_rate=1.0)
    results = [gateway.charge(token=token, amount=D("1.00"), idempotency_key=f"f{i}") for i in range(5)]
    assert all(r.status == ChargeStatus.FAILED and r.retryable for r in results)
    assert simulator_balance(token) == D("10000.00")


def test_timeout_rate_one_raises_but_the_charge_happened() -> None:
    token = _tokenize()
    gateway = SimulatedGateway(timeout_rate=1.0)
    with pytest.raises(GatewayTimeout) as excinfo:
        gateway.charge(token=token, amount=D("12.34"), idempotency_key="tt")
    assert isinstance(excinfo.value, GatewayError)
    assert excinfo.value.code == "timeout"
    recorded = gateway.get_charge(idempotency_key="tt")
    assert recorded is not None
    assert recorded.succeeded
    assert recorded.amount == D("12.34")
    assert simulator_balance(token) == D("9987.66")


def test_settings_configure_the_simulator_and_kwargs_override_them(settings) -> None:
    settings.GATEWAY_SIM_FAILURE_RATE = 1.0
    settings.GATEWAY_SIM_DEFAULT_BALANCE = "123.45"
    token = _tokenize()
    assert simulator_balance(token) == D("123.45")
    assert SimulatedGateway().charge(token=token, amount=D("1.00"), idempotency_key="s1").retryable
    assert (
        SimulatedGateway(failure_rate=0.0)
        .charge(token=token, amount=D("1.00"), idempotency_key="s2")
        .succeeded
    )
    settings.GATEWAY_SIM_TIMEOUT_RATE = 2
    with pytest.raises(ImproperlyConfigured):
        SimulatedGateway()


def test_same_key_twice_charges_once_and_answers_the_same() -> None:
    token = _tokenize()
    gateway = SimulatedGateway()
    first = gateway.charge(token=token, amount=D("30.00"), idempotency_key="k")
    again = SimulatedGateway().charge(token=token, amount=D("30.00"), idempotency_key="k")
    assert first == again
    assert first.succeeded
    assert simulator_balance(token) == D("9970.00")
    assert SimulatedCharge.objects.count() == 1


def test_same_key_with_other_parameters_is_refused() -> None:
    token = _tokenize()
    other = _tokenize(CMB_CREDIT)
    gateway = SimulatedGateway()
    gateway.charge(token=token, amount=D("30.00"), idempotency_key="k")
    with pytest.raises(GatewayError, match="idempotency key reused") as excinfo:
        gateway.charge(token=token, amount=D("31.00"), idempotency_key="k")
    assert excinfo.value.code == "idempotency_key_reused"
    with pytest.raises(GatewayError, match="idempotency key reused"):
        gateway.charge(token=other, amount=D("30.00"), idempotency_key="k")
    assert simulator_balance(token) == D("9970.00")
    assert simulator_balance(other) == D("10000.00")


def test_the_loser_of_a_race_on_the_key_gets_the_winners_result(monkeypatch) -> None:
    """Two calls that both found no charge for the key: the second insert hits the unique key, and its
    savepoint must leave the transaction usable so it can answer with the first result."""
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL charges in one statement (ON CONFLICT); the threaded tests cover its race")
    token = _tokenize()
    gateway = SimulatedGateway()
    winner = gateway.charge(token=token, amount=D("8.00"), idempotency_key="race")
    real_lookup = bank_module._charge_row
    misses = {"left": 2}  # the look-up before the lock and the one after it

    def blind_lookup(key: str) -> SimulatedCharge | None:
        if misses["left"]:
            misses["left"] -= 1
            return None
        return real_lookup(key)

    monkeypatch.setattr(bank_module, "_charge_row", blind_lookup)
    loser = gateway.charge(token=token, amount=D("8.00"), idempotency_key="race")
    assert misses["left"] == 0
    assert loser == winner
    assert simulator_balance(token) == D("9992.00")
    assert SimulatedCharge.objects.count() == 1


def test_get_charge_of_an_unknown_key_is_none() -> None:
    token = _tokenize()
    gateway = SimulatedGateway()
    gateway.charge(token=token, amount=D("1.00"), idempotency_key="known")
    assert gateway.get_charge(idempotency_key="never-seen") is None
    assert gateway.get_charge(idempotency_key="known") is not None


def test_single_use_token_is_dead_after_its_first_successful_charge() -> None:
    token = _tokenize(single_use=True)
    simulator_set_balance(token, D("1.00"))
    gateway = SimulatedGateway()
    assert gateway.charge(token=token, amount=D("2.00"), idempotency_key="s0").status == (
        ChargeStatus.INSUFFICIENT_FUNDS
    )
    simulator_set_balance(token, D("5.00"))
    first = gateway.charge(token=token, amount=D("2.00"), idempotency_key="s1")
    assert first.succeeded
    assert gateway.charge(token=token, amount=D("2.00"), idempotency_key="s1") == first
    assert gateway.charge(token=token, amount=D("1.00"), idempotency_key="s2").hard_decline
    assert simulator_balance(token) == D("3.00")
    reusable = _tokenize()
    for key in ("r1", "r2"):
        assert gateway.charge(token=reusable, amount=D("1.00"), idempotency_key=key).succeeded


@pytest.mark.parametrize(
    "bad", [D("0"), D("0.00"), D("-1.00"), D("1.001"), D("NaN"), D("Infinity"), D("1E+12"), 1.5, 2, "3.00"]
)
def test_bad_amounts_raise_value_error_and_record_nothing(bad: object) -> None:
    token = _tokenize()
    with pytest.raises(ValueError, match=r"^an amount "):
        SimulatedGateway().charge(token=token, amount=bad, idempotency_key="bad")  # type: ignore[arg-type]
    assert not SimulatedCharge.objects.exists()


def test_amount_without_cents_is_taken_as_yuan() -> None:
    token = _tokenize()
    result = SimulatedGateway().charge(token=token, amount=D("5"), idempotency_key="whole")
    assert result.succeeded
    assert str(result.amount) == "5.00"
    assert simulator_balance(token) == D("9995.00")


@pytest.mark.parametrize("key", ["", "k" * 101, None])
def test_bad_idempotency_keys_raise(key: object) -> None:
    with pytest.raises(ValueError, match="an idempotency key is a non-empty string"):
        SimulatedGateway().charge(token=_tokenize(), amount=D("1.00"), idempotency_key=key)  # type: ignore[arg-type]


def test_latency_is_at_least_what_is_configured(settings) -> None:
    token = _tokenize()
    started = time.monotonic()
    SimulatedGateway(latency_ms=60).charge(token=token, amount=D("1.00"), idempotency_key="slow")
    assert time.monotonic() - started >= 0.06
    settings.GATEWAY_SIM_LATENCY_MS = 40
    started = time.monotonic()
    SimulatedGateway().charge(token=token, amount=D("1.00"), idempotency_key="slow-2")
    assert time.monotonic() - started >= 0.04


def _outcomes(gateway: SimulatedGateway, token: str, prefix: str, count: int = 30) -> list[str]:
    outcomes = []
    for i in range(count):
        try:
            outcomes.append(
                gateway.charge(token=token, amount=D("0.01"), idempotency_key=f"{prefix}{i}").status
            )
        except GatewayTimeout:
            outcomes.append("timeout")
    return outcomes


def test_a_seed_reproduces_the_same_failures_and_timeouts() -> None:
    token = _tokenize()
    first = _outcomes(SimulatedGateway(failure_rate=0.4, timeout_rate=0.3, seed=7), token, "x")
    second = _outcomes(SimulatedGateway(failure_rate=0.4, timeout_rate=0.3, seed=7), token, "y")
    other = _outcomes(SimulatedGateway(failure_rate=0.4, timeout_rate=0.3, seed=8), token, "z")
    assert first == second
    assert {"timeout", ChargeStatus.FAILED, ChargeStatus.SUCCEEDED} <= set(first)
    assert other != first


def test_get_gateway_keeps_one_seeded_sequence_across_calls(settings) -> None:
    """A new simulator per call would restart the seed and give every charge the same draw."""
    settings.GATEWAY_SIM_SEED = 11
    settings.GATEWAY_SIM_FAILURE_RATE = 0.5
    token = _tokenize()
    statuses = {
        get_gateway().charge(token=token, amount=D("0.01"), idempotency_key=f"g{i}").status for i in range(20)
    }
    assert statuses == {ChargeStatus.SUCCEEDED, ChargeStatus.FAILED}
    assert get_gateway() is get_gateway()
    settings.GATEWAY_SIM_FAILURE_RATE = 1.0  # a new configuration builds a new gateway
    assert get_gateway().failure_rate == 1.0


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("simulated", True),
        ("simulators.bank.SimulatedGateway", True),
        ("repayments.gateway.SimulatedGateway", True),  # its path before the simulators app: still accepted
        ("stripe", False),
        ("nowhere.Gateway", False),
        ("decimal.Decimal", False),  # importable, but not a gateway
    ],
)
def test_get_gateway_by_setting(settings, name: str, ok: bool) -> None:
    settings.PAYMENT_GATEWAY = name
    if ok:
        assert isinstance(get_gateway(), SimulatedGateway)
    else:
        with pytest.raises(ImproperlyConfigured):
            get_gateway()


# --- refund --------------------------------------------------------------------------------------


@pytest.fixture
def charged() -> tuple[SimulatedGateway, str, ChargeResult]:
    token = _tokenize()
    gateway = SimulatedGateway()
    return gateway, token, gateway.charge(token=token, amount=D("50.00"), idempotency_key="c")


def test_partial_then_full_refund(charged) -> None:
    gateway, token, charge = charged
    partial = gateway.refund(reference=charge.reference, amount=D("20.00"), idempotency_key="r1")
    assert (partial.reference, partial.refunded) == (charge.reference, D("20.00"))
    assert partial.refund_reference.startswith("rf_")
    assert simulator_balance(token) == D("9970.00")
    rest = gateway.refund(reference=charge.reference, amount=D("30.00"), idempotency_key="r2")
    assert rest.refund_reference != partial.refund_reference
    assert simulator_balance(token) == D("10000.00")
    assert SimulatedCharge.objects.get(reference=charge.reference).refunded == D("50.00")
    # A refund is not a charge: get_charge knows nothing under its key, the charge is unchanged.
    assert gateway.get_charge(idempotency_key="r1") is None
    assert gateway.get_charge(idempotency_key="c") == charge


def test_over_refund_is_refused_and_moves_nothing(charged) -> None:
    gateway, token, charge = charged
    with pytest.raises(RefundError) as excinfo:
        gateway.refund(reference=charge.reference, amount=D("50.01"), idempotency_key="r1")
    assert excinfo.value.code == "exceeds_charge"
    gateway.refund(reference=charge.reference, amount=D("49.99"), idempotency_key="r2")
    with pytest.raises(RefundError) as excinfo:
        gateway.refund(reference=charge.reference, amount=D("0.02"), idempotency_key="r3")
    assert excinfo.value.code == "exceeds_charge"
    assert simulator_balance(token) == D("9999.99")
    assert SimulatedCharge.objects.get(reference=charge.reference).refunded == D("49.99")


def test_refund_is_idempotent_by_its_key(charged) -> None:
    gateway, token, charge = charged
    first = gateway.refund(reference=charge.reference, amount=D("20.00"), idempotency_key="r1")
    again = gateway.refund(reference=charge.reference, amount=D("20.00"), idempotency_key="r1")
    assert again == first
    assert simulator_balance(token) == D("9970.00")
    with pytest.raises(RefundError) as excinfo:
        gateway.refund(reference=charge.reference, amount=D("10.00"), idempotency_key="r1")
    assert excinfo.value.code == "idempotency_key_reused"
    with pytest.raises(RefundError) as excinfo:  # a charge's key is not a refund's
        gateway.refund(reference=charge.reference, amount=D("10.00"), idempotency_key="c")
    assert excinfo.value.code == "idempotency_key_reused"
    with pytest.raises(GatewayError):  # nor the other way round
        gateway.charge(token=token, amount=D("20.00"), idempotency_key="r1")
    assert simulator_balance(token) == D("9970.00")


def test_refund_of_an_unknown_or_unsuccessful_charge_is_refused(charged) -> None:
    gateway, token, charge = charged
    refund = gateway.refund(reference=charge.reference, amount=D("1.00"), idempotency_key="r1")
    failed = SimulatedGateway(failure_rate=1.0).charge(token=token, amount=D("5.00"), idempotency_key="f")
    for reference, code in [
        ("ch_nope", "unknown_charge"),
        (refund.refund_reference, "unknown_charge"),
        (failed.reference, "charge_not_succeeded"),
    ]:
        with pytest.raises(RefundError) as excinfo:
            gateway.refund(reference=reference, amount=D("1.00"), idempotency_key=f"x-{reference}")
        assert excinfo.value.code == code
    assert simulator_balance(token) == D("9951.00")


# --- the back office -----------------------------------------------------------------------------


def test_simulator_helpers() -> None:
    gateway = SimulatedGateway()
    first = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    second = gateway.tokenize_card(number=ICBC_DEBIT, holder_name="张三", reserved_phone="+8613811112222")
    other = _tokenize(CMB_CREDIT)
    assert simulator_set_balance(first.fingerprint, D("7.5")) == 2
    assert simulator_balance(first.token) == simulator_balance(second.token) == D("7.50")
    assert simulator_set_balance(first.token, D("3.00")) == 1
    assert (simulator_balance(first.token), simulator_balance(second.token)) == (D("3.00"), D("7.50"))
    assert simulator_balance(other) == D("10000.00")
    assert simulator_set_balance("tok_unknown", D("1.00")) == 0
    with pytest.raises(ValueError, match="a balance is a Decimal of at least 0"):
        simulator_set_balance(first.token, D("-1.00"))
    with pytest.raises(SimulatedCardAccount.DoesNotExist):
        simulator_balance("tok_unknown")
    paid = gateway.charge(token=first.token, amount=D("1.00"), idempotency_key="h1")
    short = gateway.charge(token=first.token, amount=D("5.00"), idempotency_key="h2")
    gateway.charge(token=other, amount=D("1.00"), idempotency_key="h3")
    assert [(c.reference, c.status) for c in simulator_charges(first.token)] == [
        (paid.reference, "succeeded"),
        (short.reference, "insufficient_funds"),
    ]


# --- PostgreSQL: real row locks under real concurrency -------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_one_key_charge_once() -> None:
    token = _tokenize()
    gateway = SimulatedGateway()
    results = _race(20, lambda i: gateway.charge(token=token, amount=D("7.00"), idempotency_key="same"))
    assert all(isinstance(r, ChargeResult) for r in results), results
    assert len({astuple(r) for r in results}) == 1  # type: ignore[arg-type]
    assert simulator_balance(token) == D("9993.00")
    assert SimulatedCharge.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_one_key_on_an_unknown_token_record_once() -> None:
    """No account row to lock: only the unique key (and the savepoint) keeps this to one record."""
    gateway = SimulatedGateway()
    token = "tok_ffffffffffffffffffffffff"
    results = _race(20, lambda i: gateway.charge(token=token, amount=D("7.00"), idempotency_key="same"))
    assert all(isinstance(r, ChargeResult) and r.hard_decline for r in results), results
    assert len({r.reference for r in results}) == 1  # type: ignore[union-attr]
    assert SimulatedCharge.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_on_a_card_with_balance_for_ten() -> None:
    token = _tokenize()
    simulator_set_balance(token, D("100.00"))
    gateway = SimulatedGateway()
    results = _race(20, lambda i: gateway.charge(token=token, amount=D("10.00"), idempotency_key=f"k{i}"))
    statuses = [r.status for r in results]  # type: ignore[union-attr]
    assert statuses.count(ChargeStatus.SUCCEEDED) == 10
    assert statuses.count(ChargeStatus.INSUFFICIENT_FUNDS) == 10
    assert simulator_balance(token) == D("0.00")
    assert SimulatedCharge.objects.filter(status="succeeded").count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_charge() -> None:
    token = _tokenize()
    gateway = SimulatedGateway()
    charge = gateway.charge(token=token, amount=D("50.00"), idempotency_key="c")
    results = _race(
        12, lambda i: gateway.refund(reference=charge.reference, amount=D("10.00"), idempotency_key=f"r{i}")
    )
    refused = [r for r in results if isinstance(r, RefundError)]
    assert len(refused) == 7
    assert {r.code for r in refused} == {"exceeds_charge"}
    assert SimulatedCharge.objects.get(reference=charge.reference).refunded == D("50.00")
    assert simulator_balance(token) == D("10000.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixty_callers_in_flight_share_the_banks_few_connections(settings) -> None:
    """Callers wait out the latency with no connection; the bank's statement runs on at most
    GATEWAY_SIM_CONNECTIONS connections of its own, whatever the number of callers."""
    settings.GATEWAY_SIM_CONNECTIONS = 3
    close_bank_connections()
    token = _tokenize()
    gateway = SimulatedGateway(latency_ms=50)
    backends: set[int] = set()
    original = gateway._charge_on

    def spy(cursor, params, key):
        cursor.execute("SELECT pg_backend_pid()")
        backends.add(cursor.fetchone()[0])
        return original(cursor, params, key)

    gateway._charge_on = spy  # type: ignore[method-assign]
    results = _race(60, lambda i: gateway.charge(token=token, amount=D("1.00"), idempotency_key=f"k{i}"))
    assert all(isinstance(r, ChargeResult) and r.succeeded for r in results), results
    assert 1 <= len(backends) <= 3
    assert simulator_balance(token) == D("9940.00")
    close_bank_connections()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_bank_connection_killed_between_charges_is_replaced(settings) -> None:
    settings.GATEWAY_SIM_CONNECTIONS = 1
    close_bank_connections()
    token = _tokenize()
    gateway = SimulatedGateway()
    first = gateway.charge(token=token, amount=D("5.00"), idempotency_key="before")
    backend = bank_module._bank_connections().run(
        lambda c: (c.execute("SELECT pg_backend_pid()"), c.fetchone())[1][0]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    second = gateway.charge(token=token, amount=D("5.00"), idempotency_key="after")
    again = gateway.charge(token=token, amount=D("5.00"), idempotency_key="after")  # a replay, not a charge
    assert first.succeeded
    assert second.succeeded
    assert again.reference == second.reference
    assert simulator_balance(token) == D("9990.00")
    close_bank_connections()

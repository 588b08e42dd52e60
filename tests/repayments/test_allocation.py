"""Allocation (冲账) properties: every fen lands once, oldest first, penalty -> fee -> principal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from installments.allocation import COMPONENT_ORDER, Due, OverpaymentError, allocate, payable_total

D = Decimal
START = date(2026, 1, 15)

cents = st.integers(min_value=0, max_value=500_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def schedules(draw) -> list[Due]:
    count = draw(st.integers(min_value=1, max_value=12))
    waivable_from = draw(st.integers(min_value=1, max_value=count + 1))
    return [
        Due(
            installment_id=100 + i,
            sequence=i,
            due_date=START + timedelta(days=30 * i),
            penalty=draw(cents) if i < waivable_from else D("0.00"),
            fee=draw(cents),
            principal=draw(cents),
            fee_waivable=i > waivable_from,
            fee_if_prepaid=draw(cents) if draw(st.booleans()) else D("0.00"),
        )
        for i in range(1, count + 1)
    ]


def _due(seq: int, penalty: str, fee: str, principal: str, waivable: bool = False) -> Due:
    return Due(seq, seq, START + timedelta(days=30 * seq), D(penalty), D(fee), D(principal), waivable)


def test_known_split_oldest_first_penalty_fee_principal() -> None:
    dues = [_due(1, "3.18", "6.00", "100.00"), _due(2, "0.00", "6.00", "100.00")]
    result = allocate(D("112.18"), dues)
    assert [(s.installment_id, s.component, s.amount) for s in result.splits] == [
        (1, "penalty", D("3.18")),
        (1, "fee", D("6.00")),
        (1, "principal", D("100.00")),
        (2, "fee", D("3.00")),
    ]
    assert result.waivers == ()


def test_prepayment_of_a_period_not_started_waives_its_fee() -> None:
    dues = [
        _due(1, "0", "6.00", "100.00"),
        _due(2, "0", "6.00", "100.00"),
        _due(3, "0", "6.00", "100.00", True),
    ]
    assert payable_total(dues) == D("312.00")
    result = allocate(D("312.00"), dues)
    assert [(w.installment_id, w.component, w.amount) for w in result.waivers] == [(3, "fee", D("6.00"))]
    assert not any(s.installment_id == 3 and s.component == "fee" for s in result.splits)
    partial = allocate(D("250.00"), dues)
    assert partial.waivers == ()  # installment 3's principal is not fully paid


def test_overpayment_is_refused_not_lost() -> None:
    dues = [_due(1, "0", "6.00", "100.00")]
    with pytest.raises(OverpaymentError) as excinfo:
        allocate(D("106.01"), dues)
    assert excinfo.value.payable == D("106.00")


@pytest.mark.parametrize("bad", [D("0"), D("-1.00"), D("1.001"), 1, "5.00", D("Infinity"), D("NaN")])
def test_bad_amounts_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="amount must be a positive Decimal with at most two decimals"):
        allocate(bad, [_due(1, "0", "6.00", "100.00")])


@given(dues=schedules(), share=st.fractions(min_value=0, max_value=1))
def test_splits_sum_exactly_and_never_exceed_what_is_open(dues: list[Due], share) -> None:
    payable = payable_total(dues)
    amount = (payable * D(share.numerator) / D(share.denominator)).quantize(D("0.01"), rounding="ROUND_DOWN")
    if amount <= 0:
        return
    result = allocate(amount, dues)
    assert result.total == amount
    by_id = {d.installment_id: d for d in dues}
    for due in dues:
        for component in COMPONENT_ORDER:
            paid = sum(
                (
                    s.amount
                    for s in result.splits
                    if s.installment_id == due.installment_id and s.component == component
                ),
                D("0"),
            )
            assert D("0") <= paid <= getattr(due, component)
    assert all(s.amount > 0 for s in result.splits)
    # Oldest first: once a later installment gets money, every earlier one is fully paid.
    touched = [by_id[s.installment_id].sequence for s in result.splits]
    assert touched == sorted(touched)
    if touched:
        last = max(touched)
        for due in dues:
            if due.sequence < last:
                paid = sum(
                    (s.amount for s in result.splits if s.installment_id == due.installment_id), D("0")
                )
                assert paid == due.payable
    # Inside one installment: penalty before fee before principal.
    for due in dues:
        order = [
            COMPONENT_ORDER.index(s.component)
            for s in result.splits
            if s.installment_id == due.installment_id
        ]
        assert order == sorted(order)


@given(dues=schedules())
def test_paying_everything_clears_every_installment(dues: list[Due]) -> None:
    payable = payable_total(dues)
    if payable <= 0:
        return
    result = allocate(payable, dues)
    waived = {(w.installment_id, w.component): w.amount for w in result.waivers}
    for due in dues:
        for component in COMPONENT_ORDER:
            paid = sum(
                (
                    s.amount
                    for s in result.splits
                    if s.installment_id == due.installment_id and s.component == component
                ),
                D("0"),
            )
            assert paid + waived.get((due.installment_id, component), D("0")) == getattr(due, component)


def test_early_repayment_fee_replaces_the_fee_of_a_prepaid_period() -> None:
    dues = [
        _due(1, "0", "6.00", "100.00"),
        Due(2, 2, START + timedelta(days=60), D("0"), D("6.00"), D("100.00"), True, D("1.00")),
    ]
    assert payable_total(dues) == D("207.00")
    result = allocate(D("207.00"), dues)
    assert [(s.installment_id, s.component, s.amount) for s in result.splits] == [
        (1, "fee", D("6.00")),
        (1, "principal", D("100.00")),
        (2, "fee", D("1.00")),
        (2, "principal", D("100.00")),
    ]
    assert [(w.installment_id, w.component, w.amount) for w in result.waivers] == [(2, "fee", D("5.00"))]

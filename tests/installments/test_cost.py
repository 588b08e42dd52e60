"""Tests for installments.cost: the penalty cap and the all-in cost ceiling as pure math.

The ceiling is checked against an independent computation: the dated IRR of the flows solved in floats by
bisection (a different method and number type from the module's present-value headroom)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from installments import cost
from installments.schedules import FeeMethod, build_schedule

D = Decimal


def dated_apr(principal: Decimal, start: date, flows: list[tuple[date, Decimal]]) -> float:
    """Nominal annual rate (12 x monthly, in %) at which the flows' present value equals the principal,
    with time in months of 365/12 days: solved in floats by bisection, independently of the module."""

    def pv(monthly: float) -> float:
        return sum(float(a) / (1 + monthly) ** ((d - start).days * 12 / 365) for d, a in flows)

    low, high = -0.5, 1.0
    while pv(high) > float(principal):
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if pv(mid) > float(principal):
            low = mid
        else:
            high = mid
    return (low + high) / 2 * 1200


def schedule_flows(principal: Decimal, tenor: int, rate: Decimal, start: date) -> list[tuple[date, Decimal]]:
    schedule = build_schedule(
        fee_method=FeeMethod.FLAT_FEE, principal=principal, tenor=tenor, rate=rate, purchase_date=start
    )
    return [(row.due_date, row.total) for row in schedule.rows]


def test_known_headroom_of_a_flat_fee_plan() -> None:
    """¥1,200.00 over 12 months at 0.5% a month (¥106.00 a month): about 10.9% dated APR, so a 24%
    ceiling leaves room, a 10% ceiling none."""
    start = date(2026, 1, 15)
    flows = schedule_flows(D("1200.00"), 12, D("0.005"), start)
    apr = dated_apr(D("1200.00"), start, flows)
    assert 10.5 < apr < 11.5
    assert (
        cost.ceiling_headroom(principal=D("1200.00"), purchase_date=start, flows=flows, apr_percent=D("24"))
        > 0
    )
    assert (
        cost.ceiling_headroom(principal=D("1200.00"), purchase_date=start, flows=flows, apr_percent=D("10"))
        < 0
    )


@settings(max_examples=150, deadline=None)
@given(
    principal=st.decimals(min_value=D("100"), max_value=D("50000"), places=2),
    tenor=st.sampled_from([3, 6, 12, 24]),
    rate=st.decimals(min_value=D("0"), max_value=D("0.012"), places=4),
    ceiling=st.decimals(min_value=D("1"), max_value=D("36"), places=2),
)
def test_headroom_sign_agrees_with_the_dated_irr(principal, tenor, rate, ceiling) -> None:
    start = date(2026, 3, 31)
    flows = schedule_flows(principal, tenor, rate, start)
    headroom = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=ceiling
    )
    apr = dated_apr(principal, start, flows)
    if abs(apr - float(ceiling)) > 1e-6:
        assert (headroom >= 0) == (apr <= float(ceiling))


@settings(max_examples=150, deadline=None)
@given(
    principal=st.decimals(min_value=D("100"), max_value=D("50000"), places=2),
    tenor=st.sampled_from([3, 6, 12]),
    rate=st.decimals(min_value=D("0"), max_value=D("0.008"), places=4),
    ceiling=st.decimals(min_value=D("12"), max_value=D("36"), places=2),
    charges=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=400),
            st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_charges_held_under_the_room_never_pass_the_ceiling(principal, tenor, rate, ceiling, charges) -> None:
    """Charge penalties on increasing days, each cut to the day's room: the realised dated IRR of the
    schedule with those penalties is at or under the ceiling, whatever was asked."""
    start = date(2026, 1, 31)
    flows = schedule_flows(principal, tenor, rate, start)
    headroom = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=ceiling
    )
    penalties: list[tuple[date, Decimal]] = []
    for offset, asked in sorted(charges):
        on = start + timedelta(days=offset)
        room = cost.ceiling_room(headroom=headroom, apr_percent=ceiling, purchase_date=start, on=on)
        charge = min(asked, room)
        assert charge >= 0
        if charge:
            penalties.append((on, charge))
            headroom = cost.headroom_after(
                headroom=headroom, amount=charge, apr_percent=ceiling, purchase_date=start, on=on
            )
        assert headroom >= 0 or not penalties
    if penalties:
        assert dated_apr(principal, start, flows + penalties) <= float(ceiling) + 1e-6


def test_the_room_is_the_largest_amount() -> None:
    """One fen more than the room passes the ceiling: the room is not a loose bound."""
    start = date(2026, 1, 31)
    principal = D("3000.00")
    flows = schedule_flows(principal, 6, D("0.005"), start)
    headroom = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=D("24")
    )
    on = start + timedelta(days=200)
    room = cost.ceiling_room(headroom=headroom, apr_percent=D("24"), purchase_date=start, on=on)
    assert room > 0
    assert dated_apr(principal, start, [*flows, (on, room)]) <= 24 + 1e-9
    assert dated_apr(principal, start, [*flows, (on, room + D("0.01"))]) > 24


def test_cap_amount_is_rounded_down() -> None:
    assert cost.penalty_cap_amount(D("1234.57"), D("25")) == D("308.64")  # 308.6425
    assert cost.penalty_cap_amount(D("0.03"), D("25")) == D("0.00")


def test_share_room_oldest_first() -> None:
    assert cost.share_room([D("3.00"), D("2.00"), D("4.00")], D("4.50")) == [D("3.00"), D("1.50"), D("0.00")]
    assert cost.share_room([D("1.00")], D("-1")) == [D("0.00")]


def test_annualised_penalty_rate() -> None:
    assert cost.penalty_annualised_percent(D("0.0005")) == D("18.25")


@pytest.mark.parametrize("grace", [0, 3])
def test_late_costs_follow_the_sweep_and_stop_at_the_cap(grace: int) -> None:
    """¥1,000.00 principal due, 0.05% a day: the first charge after the grace days covers every day since
    the due date (¥0.50 a day), then ¥0.50 a day until the ¥20.00 cap."""
    start = date(2026, 1, 1)
    terms = cost.PenaltyTerms(
        daily_rate=D("0.0005"),
        grace_days=grace,
        cap_amount=D("20.00"),
        ceiling_apr_percent=D("1000"),  # out of the way: this test is about the cap
        purchase_date=start,
    )
    table = cost.late_costs(
        terms,
        base=D("1000.00"),
        amount_due=D("1005.00"),
        due_date=date(2026, 2, 1),
        headroom=D("100000"),
        days=(1, grace, grace + 1, 30, 90),
    )
    by_days = {row.days: row for row in table}
    assert by_days[grace].penalty == 0
    assert by_days[grace + 1].penalty == D("0.50") * (grace + 1)
    assert by_days[30].penalty == D("15.00")
    assert by_days[90].penalty == D("20.00")  # capped
    assert by_days[90].total == D("1025.00")
    penalties = [row.penalty for row in table]
    assert penalties == sorted(penalties)


def test_late_costs_held_under_the_ceiling() -> None:
    """A plan whose schedule already sits at the ceiling can owe no penalty at all."""
    start = date(2026, 1, 1)
    principal = D("1200.00")
    flows = schedule_flows(principal, 12, D("0.005"), start)
    ceiling = D("10")  # below the plan's own rate: headroom < 0
    headroom = cost.ceiling_headroom(
        principal=principal, purchase_date=start, flows=flows, apr_percent=ceiling
    )
    terms = cost.PenaltyTerms(
        daily_rate=D("0.0005"),
        grace_days=3,
        cap_amount=D("300.00"),
        ceiling_apr_percent=ceiling,
        purchase_date=start,
    )
    table = cost.late_costs(
        terms, base=D("100.00"), amount_due=D("106.00"), due_date=flows[0][0], headroom=headroom
    )
    assert all(row.penalty == 0 for row in table)

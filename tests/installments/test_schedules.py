"""Tests for installments.schedules: pure arithmetic, no Django needed.

Known values are pinned from sources independent of the implementation (hand calculation,
an integer-cent recomputation, numpy_financial); everything else is checked as properties.
"""

from __future__ import annotations

import calendar
import math
from datetime import date
from decimal import Decimal
from itertools import pairwise

import numpy_financial as npf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.money import MONEY_QUANTUM, quantize_money
from installments.schedules import (
    FeeMethod,
    Schedule,
    ScheduleError,
    ScheduleRow,
    add_months,
    apr_percent,
    build_schedule,
    due_dates,
    irr_monthly,
)

D = Decimal
CENT = D("0.01")


def _build(
    method: FeeMethod | str,
    principal: str | Decimal,
    tenor: int,
    rate: str | Decimal,
    purchase_date: date = date(2024, 1, 15),
    first_due_date: date | None = None,
) -> Schedule:
    return build_schedule(
        fee_method=method,
        principal=D(principal),
        tenor=tenor,
        rate=D(rate),
        purchase_date=purchase_date,
        first_due_date=first_due_date,
    )


def _numpy_apr_percent(schedule: Schedule) -> float:
    flows = [-float(schedule.principal)] + [float(row.total) for row in schedule.rows]
    return float(npf.irr(flows)) * 12 * 100


# --- quantize_money -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),
        ("0.015", "0.02"),
        ("0.025", "0.03"),  # half-even would give 0.02
        ("2.675", "2.68"),
        ("0.0049999", "0.00"),
        ("-0.005", "-0.01"),
        ("7", "7.00"),
        ("123456789.125", "123456789.13"),
    ],
)
def test_quantize_money_rounds_half_up_to_cents(value: str, expected: str) -> None:
    result = quantize_money(D(value))
    assert result == D(expected)
    assert result.as_tuple().exponent == -2
    assert MONEY_QUANTUM == CENT


# --- known values -------------------------------------------------------------------------


def test_flat_fee_known_value_1200_over_12_at_half_percent() -> None:
    schedule = _build(FeeMethod.FLAT_FEE, "1200.00", 12, "0.005")

    assert schedule.fee_method is FeeMethod.FLAT_FEE
    assert len(schedule.rows) == 12
    for row in schedule.rows:
        assert (row.principal, row.fee, row.total) == (D("100.00"), D("6.00"), D("106.00"))
    assert schedule.total_fee == D("72.00")
    assert schedule.total_repayment == D("1272.00")


def test_flat_fee_apr_matches_independent_irr() -> None:
    schedule = _build(FeeMethod.FLAT_FEE, "1200.00", 12, "0.005")
    # numpy_financial.irr([-1200] + [106] * 12) * 1200 == 10.8964 (the "about 10.88%" often
    # quoted for 0.5%/month flat is a rougher approximation; the IRR rounds to 10.90).
    assert npf.irr([-1200.0] + [106.0] * 12) * 1200 == pytest.approx(10.8964, abs=1e-4)
    assert schedule.apr_percent == D("10.90")
    assert apr_percent(D("1200.00"), [D("106.00")] * 12) == D("10.90")


# Recomputed independently with integer cents and fractions.Fraction:
# A = round_half_up(1_000_000 * r * (1+r)^12 / ((1+r)^12 - 1)) with r = 1/100 -> 88849 cents,
# interest_k = round_half_up(balance_k / 100), principal_k = A - interest_k, last = balance.
EQUAL_INSTALLMENT_10000_12_12PCT = [
    ("788.49", "100.00"),
    ("796.37", "92.12"),
    ("804.34", "84.15"),
    ("812.38", "76.11"),
    ("820.51", "67.98"),
    ("828.71", "59.78"),
    ("837.00", "51.49"),
    ("845.37", "43.12"),
    ("853.82", "34.67"),
    ("862.36", "26.13"),
    ("870.98", "17.51"),
    ("879.67", "8.80"),
]


def test_equal_installment_known_value_10000_over_12_at_12_percent() -> None:
    schedule = _build(FeeMethod.EQUAL_INSTALLMENT, "10000.00", 12, "0.12")

    actual = [(row.principal, row.fee) for row in schedule.rows]
    expected = [(D(p), D(f)) for p, f in EQUAL_INSTALLMENT_10000_12_12PCT]
    assert actual == expected
    assert all(row.total == D("888.49") for row in schedule.rows[:-1])
    assert schedule.rows[-1].total == D("888.47")
    assert sum(row.principal for row in schedule.rows) == D("10000.00")
    assert schedule.total_fee == D("661.86")
    assert schedule.total_repayment == D("10661.86")
    # The nominal APR of an amortising loan is its contractual rate.
    assert schedule.apr_percent == D("12.00")


def test_equal_principal_hand_checked_1200_over_12_at_12_percent() -> None:
    # 1% a month on balances 1200, 1100, ..., 100 -> 12.00, 11.00, ..., 1.00; total 78.00.
    schedule = _build(FeeMethod.EQUAL_PRINCIPAL, "1200.00", 12, "0.12")

    assert [row.principal for row in schedule.rows] == [D("100.00")] * 12
    assert [row.fee for row in schedule.rows] == [D(f"{12 - k}.00") for k in range(12)]
    assert schedule.total_fee == D("78.00")
    assert schedule.total_repayment == D("1278.00")
    # The IRR of a loan whose interest is exactly 1% of the balance is exactly 1% a month.
    assert schedule.apr_percent == D("12.00")


def test_equal_principal_rounds_an_exact_half_cent_up() -> None:
    # 300,000.00 at 0.0397% a year: 300,000 x 0.000397 / 12 = 9.925 exactly -> 9.93. Dividing the rate by 12
    # first cut it to 9.92499... and gave 9.92 (hypothesis found it: test_property_fees_follow_the_method).
    schedule = _build(FeeMethod.EQUAL_PRINCIPAL, "500000.00", 5, "0.000397")
    assert schedule.rows[2].fee == D("9.93")


def test_equal_principal_hand_checked_with_rounding() -> None:
    # 1000.00 over 3 at 12%/year: parts 333.33, 333.33, 333.34 (last takes the remainder);
    # interest 1% of 1000.00, 666.67, 333.34 -> 10.00, 6.6667 -> 6.67, 3.3334 -> 3.33.
    schedule = _build(FeeMethod.EQUAL_PRINCIPAL, "1000.00", 3, "0.12")

    assert [(r.principal, r.fee) for r in schedule.rows] == [
        (D("333.33"), D("10.00")),
        (D("333.33"), D("6.67")),
        (D("333.34"), D("3.33")),
    ]
    assert schedule.total_fee == D("20.00")


def test_zero_rate_has_no_cost_and_zero_apr() -> None:
    for method in FeeMethod:
        schedule = _build(method, "1000.00", 3, "0")
        assert [row.fee for row in schedule.rows] == [D("0.00")] * 3
        assert [row.principal for row in schedule.rows] == [D("333.33"), D("333.33"), D("333.34")]
        assert schedule.apr_percent == D("0.00")


def test_tiny_principal_over_long_tenor_never_goes_negative() -> None:
    # 0.05 / 24 rounds to 0.00: nothing is repaid until the last period.
    schedule = _build(FeeMethod.FLAT_FEE, "0.05", 24, "0")
    assert [row.principal for row in schedule.rows] == [D("0.00")] * 23 + [D("0.05")]

    # 1.00 / 36 rounds UP to 0.03, and 35 x 0.03 > 1.00: the share must drop to 0.02.
    for method in (FeeMethod.FLAT_FEE, FeeMethod.EQUAL_PRINCIPAL, FeeMethod.EQUAL_INSTALLMENT):
        schedule = _build(method, "1.00", 36, "0")
        assert [row.principal for row in schedule.rows] == [D("0.02")] * 35 + [D("0.30")]


def test_equal_installment_rounded_up_payment_falls_back_one_cent() -> None:
    # Textbook payment rounds up to 0.02, which would repay 0.69 after 35 periods.
    schedule = _build(FeeMethod.EQUAL_INSTALLMENT, "0.69", 36, "0.012")
    assert all(row.total == D("0.01") for row in schedule.rows[:-1])
    assert schedule.rows[-1].principal == D("0.34")
    assert sum(row.principal for row in schedule.rows) == D("0.69")


def test_fee_method_accepts_stored_string_values() -> None:
    assert [m.value for m in FeeMethod] == ["flat_fee", "equal_installment", "equal_principal"]
    schedule = _build("equal_principal", "100.00", 2, "0.12")
    assert schedule.fee_method is FeeMethod.EQUAL_PRINCIPAL


def test_schedule_is_frozen_and_apr_is_cached() -> None:
    schedule = _build(FeeMethod.FLAT_FEE, "1200.00", 12, "0.005")
    with pytest.raises(AttributeError):
        schedule.principal = D("1.00")  # type: ignore[misc]
    assert schedule.apr_percent is schedule.apr_percent
    assert schedule == _build(FeeMethod.FLAT_FEE, "1200.00", 12, "0.005")
    row = ScheduleRow(sequence=1, due_date=date(2024, 2, 1), principal=D("1.10"), fee=D("0.25"))
    assert row.total == D("1.35")


# --- due dates ----------------------------------------------------------------------------


def test_add_months_is_anchored_on_start_not_chained() -> None:
    start = date(2023, 1, 31)
    assert [add_months(start, k) for k in range(0, 5)] == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
        date(2023, 5, 31),
    ]
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert add_months(date(2023, 12, 15), 1) == date(2024, 1, 15)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


def test_due_dates_from_month_end_purchase() -> None:
    assert due_dates(date(2023, 1, 31), 4) == [
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
        date(2023, 5, 31),
    ]
    assert due_dates(date(2024, 1, 31), 3) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_due_dates_from_leap_day_purchase() -> None:
    dates = due_dates(date(2024, 2, 29), 12)
    assert dates[0] == date(2024, 3, 29)
    assert dates[-1] == date(2025, 2, 28)
    assert all(d.day == 29 for d in dates[:-1])


def test_due_dates_across_year_end() -> None:
    assert due_dates(date(2024, 11, 10), 3) == [
        date(2024, 12, 10),
        date(2025, 1, 10),
        date(2025, 2, 10),
    ]


def test_due_dates_with_deferred_first_due_date() -> None:
    dates = due_dates(date(2024, 1, 10), 4, first_due_date=date(2024, 5, 31))
    assert dates == [date(2024, 5, 31), date(2024, 6, 30), date(2024, 7, 31), date(2024, 8, 31)]

    schedule = _build(
        FeeMethod.FLAT_FEE,
        "1200.00",
        12,
        "0.005",
        purchase_date=date(2024, 1, 10),
        first_due_date=date(2024, 5, 31),
    )
    assert [row.due_date for row in schedule.rows] == due_dates(date(2024, 1, 10), 12, date(2024, 5, 31))
    assert [row.sequence for row in schedule.rows] == list(range(1, 13))


@pytest.mark.parametrize("first_due_date", [date(2024, 1, 10), date(2024, 1, 9)])
def test_first_due_date_must_follow_purchase(first_due_date: date) -> None:
    with pytest.raises(ScheduleError):
        due_dates(date(2024, 1, 10), 3, first_due_date=first_due_date)
    with pytest.raises(ScheduleError):
        _build(
            FeeMethod.FLAT_FEE,
            "100.00",
            3,
            "0.01",
            purchase_date=date(2024, 1, 10),
            first_due_date=first_due_date,
        )


def test_due_dates_beyond_calendar_raise_schedule_error() -> None:
    with pytest.raises(ScheduleError):
        due_dates(date(9999, 6, 1), 12)


# --- validation ---------------------------------------------------------------------------

VALID = {
    "fee_method": FeeMethod.FLAT_FEE,
    "principal": D("100.00"),
    "tenor": 3,
    "rate": D("0.01"),
    "purchase_date": date(2024, 1, 15),
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", D("0")),
        ("principal", D("0.00")),
        ("principal", D("-1.00")),
        ("principal", D("1.001")),
        ("principal", D("0.005")),
        ("principal", D("NaN")),
        ("principal", D("Infinity")),
        ("principal", D("1E+40")),
        ("principal", 100.0),
        ("principal", "100.00"),
        ("tenor", 0),
        ("tenor", -3),
        ("tenor", 1.0),
        ("tenor", True),
        ("rate", D("-0.0001")),
        ("rate", D("NaN")),
        ("rate", D("-Infinity")),
        ("rate", 0.01),
        ("fee_method", "bogus"),
        ("fee_method", "FLAT_FEE"),
        ("fee_method", ""),
    ],
)
def test_invalid_input_raises_schedule_error(field: str, value: object) -> None:
    with pytest.raises(ScheduleError):
        build_schedule(**{**VALID, field: value})  # type: ignore[arg-type]


def test_valid_baseline_and_whole_number_principal_is_accepted() -> None:
    build_schedule(**VALID)  # type: ignore[arg-type]
    schedule = build_schedule(**{**VALID, "principal": D("100")})  # type: ignore[arg-type]
    assert schedule.principal == D("100.00")
    assert schedule.principal.as_tuple().exponent == -2


def test_schedule_error_is_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)
    with pytest.raises(ValueError, match="tenor"):
        due_dates(date(2024, 1, 1), 0)


@pytest.mark.parametrize(
    ("principal", "payments"),
    [
        (D("0"), [D("1.00")]),
        (D("-1"), [D("1.00")]),
        (D("100.00"), []),
        (D("100.00"), [D("50.00"), D("49.99")]),  # would need a negative rate
        (D("100.00"), [D("150.00"), D("-10.00")]),
        (D("100.00"), [D("NaN")]),
    ],
)
def test_irr_rejects_invalid_cash_flows(principal: Decimal, payments: list[Decimal]) -> None:
    with pytest.raises(ScheduleError):
        irr_monthly(principal, payments)
    with pytest.raises(ScheduleError):
        apr_percent(principal, payments)


# --- IRR ------------------------------------------------------------------------------------


def test_irr_monthly_solves_the_present_value_equation() -> None:
    payments = [D("106.00")] * 12
    rate = irr_monthly(D("1200.00"), payments)
    present_value = sum(p / (1 + rate) ** k for k, p in enumerate(payments, start=1))
    assert abs(present_value - D("1200.00")) < D("1e-12")
    assert float(rate) == pytest.approx(npf.irr([-1200.0] + [106.0] * 12), abs=1e-12)


def test_irr_monthly_simple_cases() -> None:
    assert irr_monthly(D("100.00"), [D("110.00")]) == pytest.approx(D("0.1"), abs=D("1e-15"))
    assert irr_monthly(D("100.00"), [D("60.00"), D("40.00")]) == 0
    assert apr_percent(D("100.00"), [D("50.00"), D("50.00")]) == D("0.00")
    # Rates above 100% a month need the bracket to grow.
    assert irr_monthly(D("100.00"), [D("450.00")]) == pytest.approx(D("3.5"), abs=D("1e-15"))
    # Zero payments in between are fine.
    rate = irr_monthly(D("100.00"), [D("0.00"), D("0.00"), D("133.10")])
    assert rate == pytest.approx(D("0.1"), abs=D("1e-15"))


# --- properties ---------------------------------------------------------------------------

principals = st.integers(min_value=1, max_value=100_000_000).map(lambda cents: D(cents).scaleb(-2))
tenors = st.integers(min_value=1, max_value=36)
flat_rates = st.integers(min_value=0, max_value=50_000).map(lambda n: D(n).scaleb(-6))
annual_rates = st.integers(min_value=0, max_value=360_000).map(lambda n: D(n).scaleb(-6))
purchase_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))

schedule_inputs = st.one_of(
    st.tuples(st.just(FeeMethod.FLAT_FEE), principals, tenors, flat_rates, purchase_dates),
    st.tuples(st.just(FeeMethod.EQUAL_INSTALLMENT), principals, tenors, annual_rates, purchase_dates),
    st.tuples(st.just(FeeMethod.EQUAL_PRINCIPAL), principals, tenors, annual_rates, purchase_dates),
)
schedules = schedule_inputs.map(lambda args: _build(*args))

property_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spread(values: list[Decimal]) -> Decimal:
    return max(values) - min(values) if values else D(0)


@property_settings
@given(schedule=schedules)
def test_property_sums_are_exact(schedule: Schedule) -> None:
    rows = schedule.rows
    assert sum(row.principal for row in rows) == schedule.principal
    assert schedule.total_fee == sum(row.fee for row in rows)
    assert all(row.total == row.principal + row.fee for row in rows)
    assert schedule.total_repayment == schedule.principal + schedule.total_fee
    assert schedule.total_repayment == sum(row.total for row in rows)
    assert [row.sequence for row in rows] == list(range(1, len(rows) + 1))


@property_settings
@given(schedule=schedules)
def test_property_no_negative_parts(schedule: Schedule) -> None:
    for row in schedule.rows:
        assert row.principal >= 0
        assert row.fee >= 0


@property_settings
@given(schedule=schedules)
def test_property_every_amount_has_two_decimal_places(schedule: Schedule) -> None:
    amounts = [schedule.principal, schedule.total_fee, schedule.total_repayment]
    for row in schedule.rows:
        amounts += [row.principal, row.fee, row.total]
    assert all(amount.as_tuple().exponent == -2 for amount in amounts)


@property_settings
@given(schedule=schedules)
def test_property_installments_are_level_except_the_last(schedule: Schedule) -> None:
    head = list(schedule.rows[:-1])
    if schedule.fee_method is FeeMethod.EQUAL_PRINCIPAL:
        assert _spread([row.principal for row in head]) <= CENT
    else:
        assert _spread([row.total for row in head]) <= CENT


@property_settings
@given(schedule=schedules)
def test_property_fees_follow_the_method(schedule: Schedule) -> None:
    rate = schedule.rate
    if schedule.fee_method is FeeMethod.FLAT_FEE:
        assert {row.fee for row in schedule.rows} == {quantize_money(schedule.principal * rate)}
        return
    balance = schedule.principal
    for row in schedule.rows:
        assert row.fee == quantize_money(balance * rate / 12)
        balance -= row.principal
    assert balance == 0


@property_settings
@given(schedule=schedules)
def test_property_apr_matches_numpy_financial(schedule: Schedule) -> None:
    apr = schedule.apr_percent
    assert apr.as_tuple().exponent == -2
    assert apr >= 0
    expected = _numpy_apr_percent(schedule)
    if math.isnan(expected):
        return
    assert abs(float(apr) - expected) <= 0.01


@property_settings
@given(inputs=schedule_inputs)
def test_property_due_dates_follow_purchase_day(
    inputs: tuple[FeeMethod, Decimal, int, Decimal, date],
) -> None:
    method, principal, tenor, rate, purchase = inputs
    dates = [row.due_date for row in _build(method, principal, tenor, rate, purchase).rows]
    assert len(dates) == tenor
    assert all(a < b for a, b in pairwise([purchase, *dates]))
    for due in dates:
        last_day = calendar.monthrange(due.year, due.month)[1]
        assert due.day == min(purchase.day, last_day)


@settings(max_examples=300, deadline=None)
@given(purchase=purchase_dates, tenor=tenors)
def test_property_due_dates_default(purchase: date, tenor: int) -> None:
    dates = due_dates(purchase, tenor)
    assert len(dates) == tenor
    assert all(a < b for a, b in pairwise([purchase, *dates]))
    months = [d.year * 12 + d.month for d in dates]
    start = purchase.year * 12 + purchase.month
    assert months == list(range(start + 1, start + tenor + 1))
    for due in dates:
        last_day = calendar.monthrange(due.year, due.month)[1]
        assert due.day == min(purchase.day, last_day)


@settings(max_examples=200, deadline=None)
@given(
    purchase=purchase_dates,
    tenor=tenors,
    deferral_days=st.integers(min_value=1, max_value=400),
)
def test_property_due_dates_deferred(purchase: date, tenor: int, deferral_days: int) -> None:
    first = date.fromordinal(purchase.toordinal() + deferral_days)
    dates = due_dates(purchase, tenor, first_due_date=first)
    assert dates[0] == first
    assert len(dates) == tenor
    assert all(a < b for a, b in pairwise(dates))
    for due in dates:
        last_day = calendar.monthrange(due.year, due.month)[1]
        assert due.day == min(first.day, last_day)

"""A fuzz layer for the inputs the 2026-11-30 review broke (findings 13 and 19): money strings and cursors.

Hypothesis writes valid and invalid spellings of an amount and crafted cursors; whatever it writes, the
answer is the rule's (accepted exactly when ``^\\d{1,12}(\\.\\d{1,2})?$`` holds, else ``invalid_amount``;
a cursor is a page or a 404) and never a 5xx. Example counts are bounded to keep the suite fast."""

from __future__ import annotations

import base64
import re
import string
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from core.money_input import AsciiDecimalField, parse_money

STRICT = re.compile(r"\d{1,12}(\.\d{1,2})?", re.ASCII)
FAST = settings(max_examples=300, deadline=None)
WEB = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

valid_money = st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,2})?\Z")

# Spellings Decimal() or a careless regex would take: exponents, signs, separators, spaces, non-ASCII
# digits, special values, too many digits, plus arbitrary text.
_unicode_digits = st.characters(categories=["Nd"]).filter(lambda c: c not in string.digits)
lenient_money = st.one_of(
    st.builds(lambda a, e: f"{a}{e}", valid_money, st.sampled_from(["e3", "E+1", "e-2", "e30", "E0"])),
    st.builds(lambda s, a: f"{s}{a}", st.sampled_from(["+", "-", " ", "\t", "\u00a0", "0x"]), valid_money),
    st.builds(lambda a, s: f"{a}{s}", valid_money, st.sampled_from([" ", "\n", ".", "_", ",", "\u3000"])),
    st.builds(lambda a: a[:1] + "_" + a[1:], st.from_regex(r"\A[0-9]{2,6}\Z")),
    st.text(_unicode_digits, min_size=1, max_size=6),
    st.builds(
        lambda d, u: d + u, st.from_regex(r"\A[0-9]{1,3}\Z"), st.text(_unicode_digits, min_size=1, max_size=3)
    ),
    st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e30", "1e-30", "", ".", "0.", ".5"]),
    st.from_regex(r"\A[0-9]{13,20}(\.[0-9]{1,2})?\Z"),
    st.from_regex(r"\A[0-9]{1,6}\.[0-9]{3,8}\Z"),
    st.text(max_size=20),
)


@FAST
@given(valid_money)
def test_every_strict_spelling_is_accepted_exactly(text) -> None:
    assert parse_money(text) == Decimal(text).quantize(Decimal("0.01"))
    assert AsciiDecimalField().clean(text) == Decimal(text)


@FAST
@given(lenient_money)
def test_anything_else_is_invalid_amount_and_never_another_error(text) -> None:
    if STRICT.fullmatch(text):
        assert parse_money(text) >= 0  # st.text() can write a valid one
        return
    with pytest.raises(ApplicationError) as exc:
        parse_money(text)
    assert exc.value.code == "invalid_amount"
    assert exc.value.status == 400
    with pytest.raises(ValidationError):
        AsciiDecimalField().clean(text)


@WEB
@given(text=st.one_of(valid_money, lenient_money))
def test_quotes_api_never_answers_5xx_to_a_money_string(api, flat_product, text) -> None:
    response = api.post(
        "/api/v1/quotes/", {"product": "baitiao", "principal": text, "tenor": 12}, format="json"
    )
    assert response.status_code < 500
    body = response.json()
    if STRICT.fullmatch(text) and Decimal(text) > 0:
        assert body.get("code") != "invalid_amount"  # a principal may still be refused by the product
    else:
        assert response.status_code == 400, body
        assert body["code"] in ("invalid_amount", "invalid_request"), body


def _encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


cursors = st.one_of(
    st.text(max_size=40),  # not base64 at all
    st.builds(_encode, st.text(max_size=60)),
    st.builds(
        lambda o, r, p: _encode(f"o={o}&r={r}&p={p}"),
        st.one_of(st.integers(-5, 10**20).map(str), st.text(max_size=5)),
        st.sampled_from(["0", "1", "x", ""]),
        st.one_of(
            st.text(max_size=30),
            st.datetimes().map(str),
            st.integers(-(10**30), 10**30).map(str),
            st.sampled_from(["True", "False", "maybe", "2026-02-30", "2026-11-30 08:00:00+08:00"]),
        ),
    ),
)


@WEB
@given(
    name=st.sampled_from(["repayments", "cards", "plans", "notifications", "negotiations"]), cursor=cursors
)
def test_lists_never_answer_5xx_to_a_cursor(api, card, current_plan, name, cursor) -> None:
    response = api.get(f"/api/v1/{name}/", {"cursor": cursor})
    assert response.status_code in (200, 400, 404), (response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json")

"""``yuan`` and ``yuan_whole``: every amount a customer reads has ¥ and a thousands separator, in either
language (Django's Chinese number format has no separator: "¥1200.00" reached the public home)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from core.money import quantize_money
from installments.templatetags.money import yuan, yuan_whole

AMOUNTS = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=4, allow_nan=False)
GROUPED = re.compile(r"-?¥\d{1,3}(,\d{3})*(\.\d{2})?")


def _back(text: str) -> Decimal:
    return Decimal(text.replace("¥", "").replace(",", ""))


@given(AMOUNTS, st.sampled_from(["zh-hans", "en"]))
def test_yuan_groups_by_thousands_and_keeps_the_cents(amount: Decimal, language: str) -> None:
    with translation.override(language):
        text = yuan(amount)
    assert GROUPED.fullmatch(text), text
    assert text.count(".") == 1
    assert _back(text) == quantize_money(amount)


@given(AMOUNTS)
def test_yuan_whole_rounds_half_up_to_the_yuan(amount: Decimal) -> None:
    text = yuan_whole(amount)
    assert GROUPED.fullmatch(text), text
    assert "." not in text
    expected = abs(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert _back(text) == (-expected if amount < 0 else expected)


def test_examples() -> None:
    assert yuan(Decimal("1234.56")) == "¥1,234.56"
    assert yuan_whole(Decimal("1234.50")) == "¥1,235"
    assert yuan("not money") == yuan_whole("not money") == ""

"""Words and dates for customer pages in the customer's language (issue 18): ``{% load customer_text %}``.

- ``{{ repayment.failure_code|failure_reason }}``: the reason in words, never the raw code or the bank's
  English message;
- ``{{ date|month_label }}``: a chart's month, "11月" in Chinese and "Nov" in English.

Amounts use ``{{ amount|yuan }}`` (``{% load money %}``: ¥1,234.56) and dates Django's ``|date`` (the
language's format; English formats are in ``config/formats/en``).
"""

from __future__ import annotations

from datetime import date

from django import template
from django.utils import formats
from django.utils.translation import get_language

from repayments.labels import failure_reason as _failure_reason

register = template.Library()


@register.filter
def failure_reason(code: object) -> str:
    return _failure_reason(str(code or ""))


@register.filter
def month_label(value: date | None) -> str:
    if value is None:
        return ""
    if (get_language() or "").startswith("zh"):
        return f"{value.month}月"  # Django's Chinese "M" is "十一月"; charts and SMS say "11月"
    return formats.date_format(value, "M")

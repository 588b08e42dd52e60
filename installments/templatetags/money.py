"""``{{ amount|yuan }}`` -> ¥1,234.56: every amount on a page, the same way, from a Decimal."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from core.money import quantize_money

register = template.Library()


@register.filter
def yuan(value: object) -> str:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{quantize_money(abs(amount)):,.2f}"

"""``{{ amount|yuan }}`` -> ¥1,234.56: every amount on a page, the same way, from a Decimal."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from core.money import format_yuan

register = template.Library()


@register.filter
def yuan(value: object) -> str:
    return format_yuan(value)


@register.filter
def yuan_whole(value: object) -> str:
    """``¥1,235``: whole yuan (half up) where space is short, as on a chart's bars; never without the
    separator (Django's Chinese number format has none, which is how "¥1200.00" reached a page)."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"

"""``{{ code|failure_reason }}``: a failure code in the customer's words (repayments/failures.py)."""

from __future__ import annotations

from django import template

from repayments.failures import failure_reason as reason_for

register = template.Library()


@register.filter
def failure_reason(code: str) -> str:
    return str(reason_for(code or ""))

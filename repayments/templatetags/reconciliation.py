"""``{% reconciliation_alert as alert %}``: the open critical reconciliation breaks, for the admin index's
banner (templates/admin/support_index.html). Only for staff who may see breaks; anyone else gets none."""

from __future__ import annotations

from typing import Any

from django import template

from repayments.selectors import ReconciliationAlert
from repayments.selectors import reconciliation_alert as _alert

register = template.Library()


@register.simple_tag(takes_context=True)
def reconciliation_alert(context: dict[str, Any]) -> ReconciliationAlert | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("repayments.view_reconciliationbreak"):
        return None
    return _alert()

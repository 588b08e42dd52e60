"""The cost-of-paying-late terms a new plan freezes from its product (README "Fair cost")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from installments import cost
from installments.models import InstallmentProduct


def all_in_ceiling(product: InstallmentProduct, *, on: date) -> Decimal:
    """The all-in annualised cost ceiling a plan created on ``on`` freezes: the product's."""
    return product.max_all_in_apr_percent


def frozen_cost_terms(
    product: InstallmentProduct,
    *,
    principal: Decimal,
    purchase_date: date,
    flows: Iterable[tuple[date, Decimal]],
) -> dict[str, Any]:
    """The plan fields of the cost of paying late, as ``InstallmentPlan(**...)`` takes them: the cap in
    yuan, the ceiling, what the penalty is charged on, the arrears tolerance, the extension allowance and
    the room under the ceiling left by the schedule itself (``flows``: each installment on its due date)."""
    ceiling = all_in_ceiling(product, on=purchase_date)
    return {
        "penalty_base": product.penalty_base,
        "penalty_cap_amount": cost.penalty_cap_amount(principal, product.penalty_cap_percent),
        "max_all_in_apr_percent": ceiling,
        "arrears_tolerance": product.arrears_tolerance,
        "extension_max": product.extension_max,
        "ceiling_headroom": cost.ceiling_headroom(
            principal=principal, purchase_date=purchase_date, flows=flows, apr_percent=ceiling
        ),
    }

"""The cost-of-paying-late terms a new plan freezes from its product (README "Fair cost")."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from core.money import quantize_money
from installments import cost
from installments.models import InstallmentProduct, LoanPrimeRate

# Courts protect interest up to 4 x the one-year LPR in force when the loan is made.
LPR_MULTIPLE = 4


def lpr_on(on: date) -> LoanPrimeRate | None:
    """The one-year LPR in force on ``on``: the latest row effective on or before it (None: none on file)."""
    return LoanPrimeRate.objects.filter(effective_on__lte=on).order_by("-effective_on").first()


def all_in_ceiling(product: InstallmentProduct, *, on: date) -> Decimal:
    """The all-in annualised cost ceiling a plan created on ``on`` freezes: the product's, or, when the
    product follows the LPR, the lower of it and 4 x the one-year LPR in force on ``on`` (no LPR on file:
    the product's figure)."""
    ceiling = product.max_all_in_apr_percent
    if product.ceiling_follows_lpr:
        lpr = lpr_on(on)
        if lpr is not None:
            ceiling = min(ceiling, quantize_money(lpr.one_year_percent * LPR_MULTIPLE))
    return ceiling


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

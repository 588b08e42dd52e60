"""Reads of products and plans for pages, the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import User
from config.errors import ApplicationError
from installments.models import InstallmentPlan, InstallmentProduct
from installments.services import PlanQuote, plan_quote

EXAMPLE_PRINCIPAL = Decimal("1200.00")


@dataclass(frozen=True)
class ProductOffer:
    """A product with what it costs at each tenor for an example amount, for the public product page."""

    product: InstallmentProduct
    quotes: list[PlanQuote]


def product_list_active() -> QuerySet[InstallmentProduct]:
    return InstallmentProduct.objects.filter(is_active=True).order_by("code")


def product_offers(*, principal: Decimal = EXAMPLE_PRINCIPAL) -> list[ProductOffer]:
    offers = []
    for product in product_list_active():
        quotes = []
        for tenor in sorted(product.tenors):
            try:
                quotes.append(plan_quote(product=product, principal=principal, tenor=tenor))
            except ApplicationError:
                continue  # a tenor whose APR passes the maximum is simply not offered
        offers.append(ProductOffer(product=product, quotes=quotes))
    return offers


def plan_list_for_customer(*, customer: User) -> QuerySet[InstallmentPlan]:
    return (
        InstallmentPlan.objects.filter(customer=customer)
        .select_related("product")
        .order_by("-purchase_date", "-id")
    )

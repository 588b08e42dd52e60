"""Reads of products and plans for pages, the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from installments.models import (
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    NegotiationApplication,
    NegotiationState,
)
from installments.schedules import Schedule
from installments.services import PlanQuote, plan_quote, restage_schedule

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


def plan_for_customer(*, customer: User, public_id: UUID | str) -> InstallmentPlan:
    """One of the customer's plans, with what its pages show (product, source plan, installments in order);
    another customer's (or a made-up) id is a 404, so a guessed id reveals nothing. The one lookup for every
    customer page that takes a plan id (installments' and repayments')."""
    plan = (
        InstallmentPlan.objects.filter(customer=customer, public_id=public_id)
        .select_related("product", "source_plan")
        .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))
        .first()
    )
    if plan is None:
        raise Http404
    return plan


def negotiation_for_customer(*, customer: User, public_id: UUID | str) -> NegotiationApplication:
    application = (
        NegotiationApplication.objects.filter(customer=customer, public_id=public_id)
        .select_related("plan", "plan__product", "result_plan")
        .prefetch_related("documents")
        .first()
    )
    if application is None:
        raise Http404
    return application


def offer_schedule(application: NegotiationApplication) -> Schedule | None:
    """The schedule an open offer stands for, as the customer is shown it on the web and in the API
    (the offer's day in local time is the new plan's start)."""
    if (
        application.state != NegotiationState.OFFERED
        or application.offered_at is None
        or application.offer_tenor is None
    ):
        return None
    return restage_schedule(
        principal=application.offer_principal,
        tenor=application.offer_tenor,
        fee_rate=application.offer_fee_rate,
        start=timezone.localtime(application.offered_at).date(),
        first_due_date=application.offer_first_due_date,
    )

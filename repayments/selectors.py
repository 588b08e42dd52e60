"""Reads for the support workspace: everything about one customer on one page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from installments.models import ContactLog, Installment, InstallmentPlan, NegotiationApplication
from notifications.models import Notification
from repayments.models import AutoDebitMandate, BankCard, DebitAttempt, Repayment


@dataclass(frozen=True)
class CustomerWorkspace:
    customer: User
    plans: QuerySet[InstallmentPlan]
    cards: QuerySet[BankCard]
    mandates: dict[int, AutoDebitMandate]
    repayments: QuerySet[Repayment]
    attempts: QuerySet[DebitAttempt]
    notifications: QuerySet[Notification]
    applications: QuerySet[NegotiationApplication]
    contacts: QuerySet[ContactLog]


def customer_workspace(*, customer: User, recent: int = 50) -> CustomerWorkspace:
    """A fixed number of queries whatever the customer's history; lists are cut to the most recent."""
    plans = (
        InstallmentPlan.objects.filter(customer=customer)
        .select_related("product", "source_plan")
        .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("sequence")))
        .order_by("-created_at")
    )
    mandates = {
        m.plan_id: m for m in AutoDebitMandate.objects.filter(plan__customer=customer).select_related("card")
    }
    return CustomerWorkspace(
        customer=customer,
        plans=plans,
        cards=BankCard.objects.filter(customer=customer).order_by("-is_default", "-bound_at"),
        mandates=mandates,
        repayments=Repayment.objects.filter(customer=customer)
        .select_related("plan", "card")
        .order_by("-requested_at")[:recent],
        attempts=DebitAttempt.objects.filter(plan__customer=customer)
        .select_related("plan", "card")
        .order_by("-business_date", "-attempt_number")[:recent],
        notifications=Notification.objects.filter(user=customer).order_by("-created_at")[:recent],
        applications=NegotiationApplication.objects.filter(customer=customer)
        .select_related("plan")
        .prefetch_related("documents")
        .order_by("-created_at"),
        contacts=ContactLog.objects.filter(customer=customer)
        .select_related("staff")
        .order_by("-created_at")[:recent],
    )

"""Every write to products, plans and installments goes through here (DESIGN.md, services own writes).

A package by concern: ``plans`` (quote, create), ``sweep`` (overdue sweep), ``restaging`` (secondary
installments) and ``negotiation`` (negotiated plans with staff review).
"""

from installments.services.plans import PlanQuote, plan_create, plan_quote
from installments.services.restaging import (
    Refusal,
    RestageQuote,
    plan_restage,
    restage_quote,
    restage_refusals,
)
from installments.services.sweep import SweepResult, installments_mark_overdue, overdue_sweep

__all__ = [
    "PlanQuote",
    "Refusal",
    "RestageQuote",
    "SweepResult",
    "installments_mark_overdue",
    "overdue_sweep",
    "parse_money",
    "plan_create",
    "plan_quote",
    "plan_restage",
    "restage_quote",
    "restage_refusals",
]

"""The installments app's services, by concern: ``plans`` (quote, create), ``sweep`` (overdue sweep),
``restaging`` (secondary installments) and ``negotiation`` (negotiated plans with staff review).

Money and status on existing plans and installments are written by ``installments.ledger`` only (posting a
payment, taking it back, closing a re-staged plan); the services here call it, as ``repayments`` does.
"""

from installments.services.plans import PlanQuote, plan_create, plan_quote
from installments.services.restaging import (
    Refusal,
    RestageQuote,
    plan_restage,
    restage_quote,
    restage_refusals,
)
from installments.services.sweep import SweepResult, overdue_sweep

__all__ = [
    "PlanQuote",
    "Refusal",
    "RestageQuote",
    "SweepResult",
    "overdue_sweep",
    "plan_create",
    "plan_quote",
    "plan_restage",
    "restage_quote",
    "restage_refusals",
]

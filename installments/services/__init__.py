"""The installments app's services, by concern: ``plans`` (quote, create), ``sweep`` (overdue sweep),
``restaging`` (secondary installments), ``negotiation`` (negotiated plans with staff review) and ``chargeoff``
(核销 in the daily run, the staff undo), ``adjustments`` (staff waivers, 减免). This package
is what callers import: it exports the public services; the submodules are imported only inside it (and by
tests that need a private helper).

Money and status on existing plans and installments are written by ``installments.ledger`` only (posting a
payment, taking it back, closing a re-staged plan); the services here call it, as ``repayments`` does.
"""

from installments.services.adjustments import (
    APPROVE_ADJUSTMENT_PERMISSION,
    REQUEST_ADJUSTMENT_PERMISSION,
    adjustment_approve,
    adjustment_create,
    adjustment_reject,
)
from installments.services.certificates import (
    REOPENED_BY_REVERSAL,
    payoff_certificate_issue,
    payoff_certificates_revoke,
)
from installments.services.chargeoff import (
    APPROVE_UNDO_PERMISSION,
    ChargeOffRun,
    charge_off_undo_approve,
    charge_off_undo_reject,
    charge_off_undo_request,
    plans_charge_off,
)
from installments.services.negotiation import (
    APPROVE_PERMISSION,
    REJECTION_REASONS,
    REVIEW_PERMISSION,
    OfferPreview,
    OfferTerms,
    contact_log_create,
    negotiation_accept,
    negotiation_apply,
    negotiation_approve,
    negotiation_decline,
    negotiation_document_add,
    negotiation_documents_held,
    negotiation_documents_hold,
    negotiation_documents_release,
    negotiation_documents_take,
    negotiation_make_offer,
    negotiation_offer_preview,
    negotiation_reject,
    negotiation_request_info,
    negotiation_resubmit,
    negotiation_return_offer,
    negotiation_start_review,
    negotiations_expire,
)
from installments.services.plans import PlanQuote, plan_create, plan_quote
from installments.services.restaging import (
    Refusal,
    RestageBalance,
    RestageOption,
    RestageQuote,
    plan_restage,
    plan_restage_confirmed,
    restage_balance,
    restage_quote,
    restage_refusals,
    restage_schedule,
)
from installments.services.sweep import SweepResult, overdue_sweep

__all__ = [
    "APPROVE_ADJUSTMENT_PERMISSION",
    "APPROVE_PERMISSION",
    "APPROVE_UNDO_PERMISSION",
    "REJECTION_REASONS",
    "REOPENED_BY_REVERSAL",
    "REQUEST_ADJUSTMENT_PERMISSION",
    "REVIEW_PERMISSION",
    "ChargeOffRun",
    "OfferPreview",
    "OfferTerms",
    "PlanQuote",
    "Refusal",
    "RestageBalance",
    "RestageOption",
    "RestageQuote",
    "SweepResult",
    "adjustment_approve",
    "adjustment_create",
    "adjustment_reject",
    "charge_off_undo_approve",
    "charge_off_undo_reject",
    "charge_off_undo_request",
    "contact_log_create",
    "negotiation_accept",
    "negotiation_apply",
    "negotiation_approve",
    "negotiation_decline",
    "negotiation_document_add",
    "negotiation_documents_held",
    "negotiation_documents_hold",
    "negotiation_documents_release",
    "negotiation_documents_take",
    "negotiation_make_offer",
    "negotiation_offer_preview",
    "negotiation_reject",
    "negotiation_request_info",
    "negotiation_resubmit",
    "negotiation_return_offer",
    "negotiation_start_review",
    "negotiations_expire",
    "overdue_sweep",
    "payoff_certificate_issue",
    "payoff_certificates_revoke",
    "plan_create",
    "plan_quote",
    "plan_restage",
    "plan_restage_confirmed",
    "plans_charge_off",
    "restage_balance",
    "restage_quote",
    "restage_refusals",
    "restage_schedule",
]

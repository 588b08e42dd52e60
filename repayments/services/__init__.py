"""Every write of the repayments app, by phase and concern. This package is what callers import: it exports
the public services; the submodules are imported only inside it (and by tests that need a private helper).

``cards`` (bind, default, unbind), ``payments`` (record and charge a payment, scheduled payments),
``settlement`` (phase 3: record the answer, post to the plan ledger, refund any excess), ``reconcile``
(answers never heard), ``settlement_file`` (T+1: the bank's daily file against our books), ``staff``
(offline payments, reversal), ``mandates`` (the auto-debit setting and its card), ``autodebit`` (the
debit engine and its runs), ``reminders`` and ``daily`` (the business day), ``complaints`` (投诉: filing,
the staff steps, deadline extensions).
(offline payments, reversal), ``support`` (auto-debit switch and sign-in unlock at a customer's
request), ``mandates`` (the auto-debit setting and its card), ``autodebit`` (the
debit engine and its runs), ``reminders`` and ``daily`` (the business day).
Plan and installment rows are never written here: ``installments.ledger`` owns them.
"""

from repayments.services.autodebit import (
    Chunk,
    close_gateway_pool,
    debit_chunk_process,
    debit_run_inline,
    debit_run_plan,
    slots,
)
from repayments.services.cards import (
    card_bind,
    card_bind_verified,
    card_number_check,
    card_set_default,
    card_unbind,
)
from repayments.services.complaints import (
    APPROVE_EXTENSION_PERMISSION,
    HANDLE_COMPLAINT_PERMISSION,
    complaint_assign,
    complaint_deadline,
    complaint_document_add,
    complaint_extension_approve,
    complaint_extension_refuse,
    complaint_extension_request,
    complaint_file,
    complaint_investigate,
    complaint_reject,
    complaint_resolve,
)
from repayments.services.daily import DailyReport, DayOpening, day_open, ledger_check_daily, run_daily
from repayments.services.mandates import (
    autodebit_set,
    mandate_fallback,
    mandates_carry_over,
    scheduled_payments_cancel,
)
from repayments.services.payment_link import PAYMENT_LINK_PERMISSION, payment_link_send, payment_link_url
from repayments.services.payments import (
    OneTimeCard,
    PaymentCheck,
    charges_claim,
    charges_release,
    repayment_cancel,
    repayment_charge,
    repayment_check,
    repayment_create,
    repayments_run_scheduled,
    scheduled_payments_move,
)
from repayments.services.reconcile import repayments_reconcile
from repayments.services.reminders import overdue_reminders_send, reminders_send
from repayments.services.settlement import (
    Settlement,
    gateway_key,
    repayment_settle,
    repayments_refunds_retry,
    repayments_settle,
)
from repayments.services.settlement_file import (
    ReconciliationResult,
    reconciliation_break_resolve,
    reconciliation_run,
)
from repayments.services.staff import repayment_record_offline, repayment_reverse
from repayments.services.support import (
    SWITCH_AUTODEBIT_PERMISSION,
    UNLOCK_SIGNIN_PERMISSION,
    autodebit_switch_for_customer,
    customer_phone_reveal,
    signin_unlock,
)
from repayments.services.webhooks import (
    BankEvent,
    WebhookOutcome,
    bank_webhook_events_prune,
    bank_webhook_receive,
)

__all__ = [
    "APPROVE_EXTENSION_PERMISSION",
    "HANDLE_COMPLAINT_PERMISSION",
    "PAYMENT_LINK_PERMISSION",
    "SWITCH_AUTODEBIT_PERMISSION",
    "UNLOCK_SIGNIN_PERMISSION",
    "BankEvent",
    "Chunk",
    "DailyReport",
    "DayOpening",
    "OneTimeCard",
    "PaymentCheck",
    "ReconciliationResult",
    "Settlement",
    "WebhookOutcome",
    "autodebit_set",
    "autodebit_switch_for_customer",
    "bank_webhook_events_prune",
    "bank_webhook_receive",
    "card_bind",
    "card_bind_verified",
    "card_number_check",
    "card_set_default",
    "card_unbind",
    "charges_claim",
    "charges_release",
    "close_gateway_pool",
    "complaint_assign",
    "complaint_deadline",
    "complaint_document_add",
    "complaint_extension_approve",
    "complaint_extension_refuse",
    "complaint_extension_request",
    "complaint_file",
    "complaint_investigate",
    "complaint_reject",
    "complaint_resolve",
    "customer_phone_reveal",
    "day_open",
    "debit_chunk_process",
    "debit_run_inline",
    "debit_run_plan",
    "gateway_key",
    "ledger_check_daily",
    "mandate_fallback",
    "mandates_carry_over",
    "overdue_reminders_send",
    "payment_link_send",
    "payment_link_url",
    "reconciliation_break_resolve",
    "reconciliation_run",
    "reminders_send",
    "repayment_cancel",
    "repayment_charge",
    "repayment_check",
    "repayment_create",
    "repayment_record_offline",
    "repayment_reverse",
    "repayment_settle",
    "repayments_reconcile",
    "repayments_refunds_retry",
    "repayments_run_scheduled",
    "repayments_settle",
    "run_daily",
    "scheduled_payments_cancel",
    "scheduled_payments_move",
    "signin_unlock",
    "slots",
]

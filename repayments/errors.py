"""The error codes of repayments, each with the HTTP status it always answers (core.error_codes)."""

from core.error_codes import ErrorCode


class RepaymentsError(ErrorCode):
    STAFF_ONLY = "staff_only", 403, "staff only"
    PLAN_NOT_PAYABLE = "plan_not_payable", 409, "nothing is left to pay"
    PLAN_RESTRUCTURED = "plan_restructured", 409, "the plan was re-staged"
    RECOVERY_RECEIVED = (
        "recovery_received",
        409,
        "a payment was received since the charge-off, so it can no longer be undone",
    )
    PAID_BEFORE_CHARGE_OFF = (
        "paid_before_charge_off",
        409,
        "the payment predates the plan's charge-off; undo the charge-off first",
    )
    CARD_INVALID_NUMBER = "card_invalid_number", 422, "not a valid card number"
    CARD_NOT_SUPPORTED = "card_not_supported", 422, "this card type is not supported"
    CARD_HOLDER_MISMATCH = "card_holder_mismatch", 422, "the holder must be the account holder"
    CARD_PHONE_INVALID = "card_phone_invalid", 422, "the reserved phone is not valid"
    CARD_ALREADY_BOUND = "card_already_bound", 409, "this card is already bound"
    CARD_NOT_FOUND = "card_not_found", 404, "no such card"
    CARD_REQUIRED = "card_required", 400, "bind a card, or give one card"
    CARD_IN_USE_BY_AUTODEBIT = (
        "card_in_use_by_autodebit",
        409,
        "choose another card to take over this card's auto-debits",
    )
    CARD_REPLACEMENT_SAME = "card_replacement_same", 400, "choose another card"
    CREDIT_CARD_NOT_ALLOWED = "credit_card_not_allowed", 422, "this plan cannot be repaid with a credit card"
    CREDIT_CARD_NOT_SUPPORTED = "credit_card_not_supported", 422, "credit cards are not accepted"
    INVALID_MODE = "invalid_mode", 400, "unknown payment mode"
    AMOUNT_EXCEEDS_OUTSTANDING = "amount_exceeds_outstanding", 422, "more than what is left to pay"
    NOTHING_DUE = "nothing_due", 409, "nothing is due now"
    ONE_TIME_CARD_PAY_NOW_ONLY = "one_time_card_pay_now_only", 400, "a card used once can only pay now"
    SCHEDULED_DATE_INVALID = (
        "scheduled_date_invalid",
        400,
        "the date must be after today and by the next due date",
    )
    REPAYMENT_NOT_FOUND = "repayment_not_found", 404, "no such repayment"
    REPAYMENT_NOT_CANCELLABLE = "repayment_not_cancellable", 409, "only a scheduled payment can be cancelled"
    REPAYMENT_NOT_REVERSIBLE = "repayment_not_reversible", 409, "only a succeeded payment can be reversed"
    PAYMENT_IN_PROGRESS = (
        "payment_in_progress",
        409,
        "a payment on this plan, or with this card, is being processed",
    )
    REFUND_FAILED = "refund_failed", 502, "the bank refused the refund"
    BANK_UNAVAILABLE = "bank_unavailable", 503, "the bank cannot be reached now; nothing was done, try again"
    REFERENCE_REQUIRED = "reference_required", 400, "a reference is required"
    DUPLICATE_REFERENCE = "duplicate_reference", 409, "this reference was already recorded"
    # Complaints (投诉): filing, the staff steps, deadline extensions.
    COMPLAINT_TEXT_REQUIRED = "complaint_text_required", 400, "say what the complaint is about"
    COMPLAINT_LINK_INVALID = (
        "complaint_link_invalid",
        400,
        "the plan, repayment, contact or staff member named is not the customer's (or not staff)",
    )
    COMPLAINT_INVALID_STATE = "complaint_invalid_state", 409, "not possible in the complaint's current state"
    COMPLAINT_DECISION_REQUIRED = "complaint_decision_required", 400, "a decision text is required"
    COMPLAINT_EXTENSION_LIMIT = (
        "complaint_extension_limit",
        409,
        "a deadline is extended at most twice (15 days, then 30, then 30 more)",
    )
    COMPLAINT_EXTENSION_PENDING = (
        "complaint_extension_pending",
        409,
        "an extension already waits for approval",
    )
    COMPLAINT_NO_EXTENSION_PENDING = "complaint_no_extension_pending", 409, "no extension waits for approval"
    COMPLAINT_SELF_APPROVAL = (
        "complaint_self_approval",
        403,
        "an extension is approved by someone other than the staff member who asked for it",
    )
    COMPLAINT_ASSIGNEE_INVALID = "complaint_assignee_invalid", 400, "the assignee cannot handle complaints"
    AUTODEBIT_UNCHANGED = "autodebit_unchanged", 409, "auto-debit is already as asked"
    NOT_A_CUSTOMER = "not_a_customer", 403, "a staff account is not unlocked from the support workspace"
    PHONE_REVEAL_LIMIT = (
        "phone_reveal_limit",
        429,
        "too many phone numbers seen in the last hour; ask a lead",
    )

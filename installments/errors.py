"""The error codes of installments, each with the HTTP status it always answers (core.error_codes)."""

from core.error_codes import ErrorCode


class InstallmentsError(ErrorCode):
    SELF_APPROVAL = "self_approval", 403, "the maker of an offer cannot approve it"
    CUSTOMER_INACTIVE = "customer_inactive", 422, "the account is disabled"
    PRODUCT_NOT_FOUND = "product_not_found", 400, "unknown product code"
    PRODUCT_INACTIVE = "product_inactive", 422, "the product is no longer offered"
    TENOR_NOT_OFFERED = "tenor_not_offered", 422, "the number of installments is not offered"
    PRINCIPAL_BELOW_MINIMUM = "principal_below_minimum", 422, "the amount is below the product's minimum"
    PRINCIPAL_ABOVE_MAXIMUM = "principal_above_maximum", 422, "the amount is above the product's maximum"
    APR_ABOVE_MAXIMUM = "apr_above_maximum", 422, "the APR would be above the maximum"
    INVALID_TERMS = "invalid_terms", 422, "the schedule cannot be built from these terms"
    DUPLICATE_MERCHANT_ORDER = "duplicate_merchant_order", 409, "this order is already financed"
    PURCHASE_DATE_IN_FUTURE = "purchase_date_in_future", 422, "the purchase date is in the future"
    PLAN_NOT_FOUND = "plan_not_found", 404, "no such plan"
    PLAN_NOT_ACTIVE = "plan_not_active", 422, "the plan is not active"
    PLAN_NOT_OVERDUE = "plan_not_overdue", 422, "a negotiated plan is for an overdue plan"
    REASON_REQUIRED = "reason_required", 400, "a reason is required"
    REINSTALLMENT_NOT_OFFERED = (
        "reinstallment_not_offered",
        422,
        "the product does not offer secondary installments",
    )
    OVERDUE_BEYOND_GRACE = (
        "overdue_beyond_grace",
        422,
        "repay what is overdue first, or apply for a negotiated plan",
    )
    RESTAGE_LIMIT_REACHED = "restage_limit_reached", 422, "re-staged as often as the product allows"
    NOTHING_TO_RESTAGE = "nothing_to_restage", 409, "nothing is left to re-stage"
    NEGOTIATION_NOT_FOUND = "negotiation_not_found", 404, "no such application"
    NEGOTIATION_ALREADY_OPEN = "negotiation_already_open", 409, "an application for this plan is already open"
    INVALID_APPLICATION = "invalid_application", 422, "correct the marked fields"
    INVALID_STATE = "invalid_state", 409, "not possible in the application's current state"
    INVALID_OFFER = "invalid_offer", 422, "correct the offer terms"
    OFFER_EXPIRED = "offer_expired", 409, "the offer expired"
    OFFER_TERMS_NOT_PREVIEWED = (
        "offer_terms_not_previewed",
        409,
        "the terms sent are not the terms last previewed; preview them again",
    )
    WAIVER_ABOVE_PENALTY = "waiver_above_penalty", 422, "a penalty waiver cannot exceed the penalty accrued"
    MESSAGE_REQUIRED = "message_required", 400, "say what is needed"
    INVALID_CONTACT = "invalid_contact", 422, "correct the marked fields"
    CONTACT_OUTSIDE_HOURS = "contact_outside_hours", 422, "outside the customer's contact hours"
    CONTACT_DAILY_LIMIT = "contact_daily_limit", 422, "the customer was reached the most times a day already"
    CONTACT_THIRD_PARTY = "contact_third_party", 422, "collection contacts the debtor only"
    TOO_MANY_FILES = "too_many_files", 422, "at most 5 documents"
    FILE_TOO_LARGE = "file_too_large", 422, "a document is larger than 5 MB"
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type", 422, "only PDF, JPEG or PNG by content"
    INVALID_FILE = "invalid_file", 422, "the file is damaged, mixes formats or has data after its end"
    INVALID_FILE_NAME = "invalid_file_name", 422, "the file name is not acceptable"
    PLAN_NOT_CHARGED_OFF = "plan_not_charged_off", 409, "the plan is not charged off"
    CHARGE_OFF_UNDO_TOO_LATE = (
        "charge_off_undo_too_late",
        409,
        "a charge-off can be undone on its business day only",
    )
    CHARGE_OFF_UNDO_PENDING = "charge_off_undo_pending", 409, "an undo of this charge-off awaits approval"
    PLAN_NOT_PAID_OFF = "plan_not_paid_off", 409, "a payoff certificate is issued for a paid-off plan only"
    CERTIFICATE_NOT_ISSUED = (
        "certificate_not_issued",
        404,
        "no payoff certificate has been issued for the plan",
    )
    ADJUSTMENT_EXCEEDS_OPEN = (
        "adjustment_exceeds_open",
        422,
        "a waiver is more than the plan still owes of that component",
    )
    INVALID_ADJUSTMENT = "invalid_adjustment", 422, "choose what to waive and why"
    CASE_NOT_FOUND = "case_not_found", 404, "no such collection case"
    CASE_CLOSED = "case_closed", 409, "the collection case is resolved"
    INVALID_PROMISE = "invalid_promise", 422, "correct the promise's amount or date"
    INVALID_FOLLOW_UP = "invalid_follow_up", 422, "the next action date is out of range"
    EXTENSION_NOT_ALLOWED = (
        "extension_not_allowed",
        422,
        "the plan cannot be extended now; the body lists every reason in `reasons`",
    )
    EXTENSION_NOT_OFFERED = "extension_not_offered", 422, "the plan's terms allow no extension"
    EXTENSION_LIMIT_REACHED = "extension_limit_reached", 422, "extended as often as the plan allows"
    EXTENSION_TOO_LATE = "extension_too_late", 422, "the next installment is past its due date and grace days"
    NOTHING_TO_EXTEND = "nothing_to_extend", 422, "no installment is left to pay"
    EXTENSION_DAYS_OUT_OF_RANGE = (
        "extension_days_out_of_range",
        422,
        "choose a number of days in the range the plan allows",
    )
    ABOVE_COST_CEILING = (
        "above_cost_ceiling",
        422,
        "the plan's all-in cost would pass its ceiling",
    )
    PROMISES_BROKEN_IN_A_ROW = (
        "promises_broken_in_a_row",
        403,
        "promises were broken in a row: an approver or a lead records the next one",
    )
    HOLIDAY_PERIODS_OUT_OF_RANGE = (
        "holiday_periods_out_of_range",
        422,
        "a payment holiday skips 1 to the product's maximum number of periods",
    )
    HOLIDAY_ALREADY_OPEN = "holiday_already_open", 409, "a payment holiday for this plan is already open"
    HOLIDAY_NOT_FOUND = "holiday_not_found", 404, "no payment holiday is offered on this plan"
    HOLIDAY_ABOVE_CEILING = (
        "holiday_above_ceiling",
        422,
        "the holiday would take the plan's all-in cost above its ceiling",
    )
    HOLIDAY_TERMS_CHANGED = (
        "holiday_terms_changed",
        409,
        "the plan changed since the holiday was offered; staff must offer it again",
    )
    FREEZE_ALREADY_OPEN = "freeze_already_open", 409, "the plan's penalties are already paused"
    FREEZE_NOT_OPEN = "freeze_not_open", 409, "the plan's penalties are not paused"
    FREEZE_ONCE_A_YEAR = (
        "freeze_once_a_year",
        409,
        "a plan's penalties are paused on the customer's application once in 12 months",
    )

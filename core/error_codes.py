"""Every stable error ``code`` a client can receive, with its HTTP status. Published in the OpenAPI
description. This table decides the status: ``ApplicationError`` takes it from here by code, and
``tests/core/test_error_codes.py`` fails when code raises a code missing here or a path answers a code
with another status."""

ERROR_CODES: dict[str, tuple[int, str]] = {
    # request shape and auth (DRF, the idempotency layer)
    "invalid_request": (400, "the body, query or a field is malformed; see fields"),
    "not_authenticated": (401, "no credentials"),
    "authentication_failed": (401, "wrong phone or password, or a bad token"),
    "token_not_valid": (401, "the token is expired or invalid"),
    "permission_denied": (403, "not allowed for this user"),
    "staff_only": (403, "staff only"),
    "self_approval": (403, "the maker of an offer cannot approve it"),
    "not_found": (404, "no such object, or not the caller's"),
    "not_acceptable": (406, "ask for application/json"),
    "method_not_allowed": (405, "method not allowed"),
    "unsupported_media_type": (415, "send JSON (or multipart where documented)"),
    "throttled": (429, "too many requests; retry later"),
    "request_too_large": (413, "the request body is larger than the server accepts"),
    "idempotency_key_required": (400, "this request needs an Idempotency-Key header"),
    "idempotency_key_invalid": (400, "the Idempotency-Key is empty, too long or not printable"),
    "idempotency_key_in_progress": (409, "a request with this key is still running"),
    "idempotency_key_reused": (422, "this key was used for a different request"),
    # accounts and SMS codes
    "user_inactive": (403, "the account is disabled"),
    "customer_inactive": (422, "the account is disabled"),
    "invalid_password": (422, "the new password is too weak"),
    "otp_invalid_purpose": (400, "unknown purpose"),
    "otp_too_soon": (429, "wait before asking for another code"),
    "otp_hourly_limit": (429, "too many codes this hour"),
    "otp_not_requested": (422, "no code is waiting; request one"),
    "otp_expired": (422, "the code expired"),
    "otp_invalid": (422, "wrong code"),
    "otp_too_many_attempts": (422, "too many wrong tries; request a new code"),
    "secret_expired": (409, "a message with a one-time code is not resent; ask for a new code"),
    # products, quotes, plans
    "product_not_found": (400, "unknown product code"),
    "product_inactive": (422, "the product is no longer offered"),
    "tenor_not_offered": (422, "the number of installments is not offered"),
    "principal_below_minimum": (422, "the amount is below the product's minimum"),
    "principal_above_maximum": (422, "the amount is above the product's maximum"),
    "apr_above_maximum": (422, "the APR would be above the maximum"),
    "invalid_terms": (422, "the schedule cannot be built from these terms"),
    "invalid_amount": (400, "amounts are strings of ASCII digits with at most two decimals"),
    "duplicate_merchant_order": (409, "this order is already financed"),
    "purchase_date_in_future": (422, "the purchase date is in the future"),
    "plan_not_found": (404, "no such plan"),
    "plan_not_active": (422, "the plan is not active"),
    "plan_not_payable": (409, "nothing is left to pay"),
    "plan_not_overdue": (422, "a negotiated plan is for an overdue plan"),
    "plan_restructured": (409, "the plan was re-staged"),
    # cards
    "card_invalid_number": (422, "not a valid card number"),
    "card_not_supported": (422, "this card type is not supported"),
    "card_holder_mismatch": (422, "the holder must be the account holder"),
    "card_phone_invalid": (422, "the reserved phone is not valid"),
    "card_already_bound": (409, "this card is already bound"),
    "card_not_found": (404, "no such card"),
    "card_required": (400, "bind a card, or give one card"),
    "card_in_use_by_autodebit": (409, "choose another card to take over this card's auto-debits"),
    "card_replacement_same": (400, "choose another card"),
    "credit_card_not_allowed": (422, "this plan cannot be repaid with a credit card"),
    "credit_card_not_supported": (422, "credit cards are not accepted"),
    # repayments
    "invalid_mode": (400, "unknown payment mode"),
    "amount_exceeds_outstanding": (422, "more than what is left to pay"),
    "nothing_due": (409, "nothing is due now"),
    "one_time_card_pay_now_only": (400, "a card used once can only pay now"),
    "scheduled_date_invalid": (400, "the date must be after today and by the next due date"),
    "repayment_not_found": (404, "no such repayment"),
    "repayment_not_cancellable": (409, "only a scheduled payment can be cancelled"),
    "repayment_not_reversible": (409, "only a succeeded payment can be reversed"),
    "payment_in_progress": (409, "a payment on this plan, or with this card, is being processed"),
    "refund_failed": (502, "the bank refused the refund"),
    "reason_required": (400, "a reason is required"),
    "reference_required": (400, "a reference is required"),
    "duplicate_reference": (409, "this reference was already recorded"),
    "not_failed": (409, "only a failed notification can be resent"),
    # re-staging and negotiated plans
    "reinstallment_not_offered": (422, "the product does not offer secondary installments"),
    "overdue_beyond_grace": (422, "repay what is overdue first, or apply for a negotiated plan"),
    "restage_limit_reached": (422, "re-staged as often as the product allows"),
    "nothing_to_restage": (409, "nothing is left to re-stage"),
    "negotiation_not_found": (404, "no such application"),
    "negotiation_already_open": (409, "an application for this plan is already open"),
    "invalid_application": (422, "correct the marked fields"),
    "invalid_state": (409, "not possible in the application's current state"),
    "invalid_offer": (422, "correct the offer terms"),
    "offer_expired": (409, "the offer expired"),
    "message_required": (400, "say what is needed"),
    "invalid_contact": (422, "correct the marked fields"),
    "too_many_files": (422, "at most 5 documents"),
    "file_too_large": (422, "a document is larger than 5 MB"),
    "unsupported_file_type": (422, "only PDF, JPEG or PNG by content"),
    "invalid_file": (422, "the file is damaged, mixes formats or has data after its end"),
    "invalid_file_name": (422, "the file name is not acceptable"),
}


def codes_by_status() -> dict[int, str]:
    """Each HTTP status with the codes it carries, for the schema's error responses."""
    by_status: dict[int, list[str]] = {}
    for code, (status, _text) in sorted(ERROR_CODES.items()):
        by_status.setdefault(status, []).append(code)
    return {status: ", ".join(codes) for status, codes in sorted(by_status.items())}


def markdown_table() -> str:
    rows = "\n".join(
        f"| `{code}` | {status} | {text} |" for code, (status, text) in sorted(ERROR_CODES.items())
    )
    return "| code | status | meaning |\n|---|---|---|\n" + rows

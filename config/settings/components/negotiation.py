"""Negotiated plans (协商还款) and their proof documents (installments)."""

from pathlib import Path

from config.settings.env import VAR_DIR, env

# Proof documents are private: stored here, outside any URL, and served only through a checked view
# (the storage makes the folder on the first upload).
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
NEGOTIATION_DOCUMENT_MAX_BYTES = env.int("NEGOTIATION_DOCUMENT_MAX_BYTES", default=5 * 1024 * 1024)
NEGOTIATION_DOCUMENT_MAX_FILES = env.int("NEGOTIATION_DOCUMENT_MAX_FILES", default=5)
# How long files that passed the checks wait in the cache while the application form is corrected.
NEGOTIATION_HOLD_SECONDS = env.int("NEGOTIATION_HOLD_SECONDS", default=3600)
NEGOTIATION_OFFER_VALID_DAYS = env.int("NEGOTIATION_OFFER_VALID_DAYS", default=7)
NEGOTIATION_MAX_DEFERRAL_DAYS = env.int("NEGOTIATION_MAX_DEFERRAL_DAYS", default=30)
# Maker-checker: an offer passing any of these needs a second staff member with the approver permission.
NEGOTIATION_APPROVAL_WAIVER_ABOVE = env.str("NEGOTIATION_APPROVAL_WAIVER_ABOVE", default="500.00")
NEGOTIATION_APPROVAL_TENOR_ABOVE = env.int("NEGOTIATION_APPROVAL_TENOR_ABOVE", default=24)
NEGOTIATION_APPROVAL_FEE_RATE_ABOVE = env.str("NEGOTIATION_APPROVAL_FEE_RATE_ABOVE", default="0.006")
# Affordability: warn when the new monthly payment is above this share of the declared income.
NEGOTIATION_AFFORDABILITY_SHARE = env.str("NEGOTIATION_AFFORDABILITY_SHARE", default="0.50")

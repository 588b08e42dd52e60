"""The installments app in the staff workspace: ``plans`` (products, plans, credit events), ``negotiation``
(the negotiation review workspace and the contact log) and ``chargeoff`` (the charge-off undo pages),
``certificates`` (payoff certificates, read-only), ``contact`` (the contact gate's refusals, read-only),
``adjustments`` (staff waivers and their approval), ``collections`` (the case queue and promises to pay),
``holidays`` (payment holidays and their approval), ``relief`` (hardship freezes, 暂停计息).
Importing them here is what registers them when the admin autodiscovers ``installments.admin``."""

from installments.admin import (
    adjustments,
    certificates,
    chargeoff,
    collections,
    contact,
    holidays,
    journal,
    negotiation,
    plans,
    relief,
)

__all__ = [
    "adjustments",
    "certificates",
    "chargeoff",
    "collections",
    "contact",
    "holidays",
    "journal",
    "negotiation",
    "plans",
    "relief",
]

"""The installments app in the staff workspace: ``plans`` (products, plans, credit events), ``negotiation``
(the negotiation review workspace and the contact log) and ``chargeoff`` (the charge-off undo pages),
``certificates`` (payoff certificates, read-only), ``collections`` (the case queue and promises to pay).
Importing them here is what registers them when the admin autodiscovers ``installments.admin``."""

from installments.admin import certificates, chargeoff, collections, journal, negotiation, plans

__all__ = ["certificates", "chargeoff", "collections", "journal", "negotiation", "plans"]

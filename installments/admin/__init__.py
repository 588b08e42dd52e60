"""The installments app in the staff workspace: ``plans`` (products, plans, credit events) and ``negotiation``
(the negotiation review workspace and the contact log). Importing both here is what registers them when the
admin autodiscovers ``installments.admin``."""

from installments.admin import journal, negotiation, plans

__all__ = ["journal", "negotiation", "plans"]

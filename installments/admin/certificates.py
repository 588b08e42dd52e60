"""结清证明 in the staff workspace: read-only. Issued by the customer, revoked by a reversal that reopens
the plan (``installments/services/certificates.py``); support looks a certificate up by its number."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from installments.models import PayoffCertificate


@admin.register(PayoffCertificate)
class PayoffCertificateAdmin(admin.ModelAdmin):
    list_display = ("number", "plan", "issued_at", "revoked_at", "revoked_reason")
    list_filter = ("revoked_at",)
    search_fields = ("number", "plan__public_id", "plan__customer__phone")
    list_select_related = ("plan",)
    fields = ("number", "plan", "code", "issued_at", "revoked_at", "revoked_reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

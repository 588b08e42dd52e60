"""The contact gate's refusals in the staff workspace: read-only, in words (who, when, which rule, which
path asked). Written only by ``installments.services.contact``."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from installments.models import ContactRefusal


@admin.register(ContactRefusal)
class ContactRefusalAdmin(admin.ModelAdmin):
    list_display = ("at", "customer_masked", "channel", "party", "code", "source", "staff_or_system")
    list_filter = ("code", "channel", "source", "party")
    search_fields = ("customer__phone",)
    list_select_related = ("customer", "staff")
    date_hierarchy = "at"
    fields = ("at", "customer_masked", "channel", "party", "code", "source", "staff_or_system")
    readonly_fields = fields

    @admin.display(description=_("customer"), ordering="customer")
    def customer_masked(self, obj: ContactRefusal) -> str:
        return f"{obj.customer.masked_name} · {obj.customer.masked_phone}"

    @admin.display(description=_("staff"), ordering="staff")
    def staff_or_system(self, obj: ContactRefusal) -> str:
        return str(obj.staff) if obj.staff_id else str(_("the system (daily run)"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the gate writes refusals

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

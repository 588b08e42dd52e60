"""The SMS outbox in the staff workspace: find a customer's messages, read them, resend a failed one."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin_forms import show_as_message
from core.errors import ApplicationError
from core.masking import mask_phone
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_resend


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "masked_phone",
        "template_code",
        "category",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "category", "template_code", "language", "created_at")
    search_fields = ("phone", "template_code", "dedupe_key", "provider_message_id")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    actions = ["resend_failed"]
    fields = (
        "public_id",
        "user",
        "masked_phone",
        "template_code",
        "language",
        "category",
        "text",
        "status",
        "attempts",
        "last_error",
        "provider_message_id",
        "dedupe_key",
        "send_after",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    @admin.display(description=_("phone number"), ordering="phone")
    def masked_phone(self, obj: Notification) -> str:
        return mask_phone(obj.phone)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        return False

    @admin.action(description=_("Resend the selected failed messages"), permissions=["change"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        resent = 0
        for notification in queryset.filter(status=NotificationStatus.FAILED):
            try:
                notification_resend(notification=notification)
            except ApplicationError as exc:
                show_as_message(request, exc, subject=str(notification.public_id))
            else:
                resent += 1
        messages.success(request, _("%(count)d message(s) queued again.") % {"count": resent})

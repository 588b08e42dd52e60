"""The SMS outbox in the staff workspace: find a customer's messages, read them, resend a failed one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from core.admin_forms import show_as_message
from core.errors import ApplicationError
from core.masking import mask_phone
from notifications.messages import TEMPLATES, template_name
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_resend


def language_name(code: str) -> str:
    return str(dict(User.Language.choices).get(code, code))


class TemplateFilter(admin.SimpleListFilter):
    """The templates by the names staff know them by, not their codes."""

    title = _("message")
    parameter_name = "template_code"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(((code, template_name(code)) for code in TEMPLATES), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(template_code=self.value()) if self.value() else queryset


class LanguageFilter(admin.SimpleListFilter):
    title = _("language")
    parameter_name = "language"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(User.Language.choices)

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(language=self.value()) if self.value() else queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "masked_phone",
        "message_name",
        "category",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "category", TemplateFilter, LanguageFilter, "created_at")
    search_fields = ("phone", "template_code", "dedupe_key", "provider_message_id")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    actions = ["resend_failed"]
    fields = (
        "public_id",
        "user",
        "masked_phone",
        "message_name",
        "language_words",
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

    @admin.display(description=_("message"), ordering="template_code")
    def message_name(self, obj: Notification) -> str:
        return template_name(obj.template_code)

    @admin.display(description=_("language"), ordering="language")
    def language_words(self, obj: Notification) -> str:
        return language_name(obj.language)

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

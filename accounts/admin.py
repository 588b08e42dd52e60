"""Users and their SMS one-time codes in the staff workspace.

Lists show masked values; the user detail page is for the staff who call. One-time codes are read-only
history (when a code was sent, tried, used) for answering "I got no SMS": never the hash or the salt.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.audit import action_label
from accounts.models import OneTimeCode, StaffAction, User


class UserCreateForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("phone", "real_name", "language")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    ordering = ("-date_joined",)
    list_display = ("masked_phone", "masked_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_active", "language")
    search_fields = ("phone", "real_name")
    readonly_fields = ("public_id", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("public_id", "phone", "password")}),
        (_("Personal info"), {"fields": ("real_name", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("phone", "real_name", "language", "password1", "password2"),
            },
        ),
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        """Staff who may only read accounts (agents) see the phone masked here too: the full number is
        behind the customer 360's audited "show the number" (support workspace)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (name, {**spec, "fields": tuple("masked_phone" if f == "phone" else f for f in spec["fields"])})
            for name, spec in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "masked_phone")

    @admin.display(description=_("phone number"), ordering="phone")
    def masked_phone(self, obj: User) -> str:
        return obj.masked_phone

    @admin.display(description=_("real name"), ordering="real_name")
    def masked_name(self, obj: User) -> str:
        return obj.masked_name


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(admin.ModelAdmin):
    """Read-only: support sees whether a customer's code was sent, used or exhausted, never the code."""

    list_display = ("created_at", "customer", "purpose", "expires_at", "attempts", "used_at", "superseded")
    list_filter = ("purpose", "superseded", "created_at")
    search_fields = ("user__phone",)
    list_select_related = ("user",)
    fields = ("customer", "purpose", "created_at", "expires_at", "attempts", "used_at", "superseded")
    readonly_fields = fields

    @admin.display(description=_("user"))
    def customer(self, obj: OneTimeCode) -> str:
        return str(obj.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OneTimeCode | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OneTimeCode | None = None) -> bool:
        return False


@admin.register(StaffAction)
class StaffActionAdmin(admin.ModelAdmin):
    """The staff audit trail, read-only: answers "who saw my number" and "who changed my account"."""

    list_display = ("created_at", "customer", "staff", "action_words")
    list_filter = ("action", "created_at")
    search_fields = ("customer__phone", "staff__phone")
    list_select_related = ("customer", "staff")
    fields = ("created_at", "customer", "staff", "action_words", "detail")
    readonly_fields = fields

    @admin.display(description=_("action"), ordering="action")
    def action_words(self, obj: StaffAction) -> str:
        return action_label(obj.action)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StaffAction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StaffAction | None = None) -> bool:
        return False

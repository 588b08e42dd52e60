"""Sign-in and password-reset forms. Phone numbers are mainland mobile numbers, with or without +86."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from phonenumber_field.formfields import PhoneNumberField

# The library's own message gives a landline as its example; customers sign in with a mobile number.
MOBILE_INVALID = _("Enter a mainland mobile number, for example 138 0013 8000.")


class PhoneAuthenticationForm(AuthenticationForm):
    username = PhoneNumberField(
        label=_("Mobile number"),
        region="CN",
        error_messages={"invalid": MOBILE_INVALID},
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean(self) -> dict:
        phone = self.cleaned_data.get("username")
        if phone is not None:
            self.cleaned_data["username"] = str(phone)  # the login is the E.164 string
        return super().clean()

    def get_invalid_login_error(self) -> ValidationError:
        """Says what is wrong in words that fit a phone number, and how many tries are left before the
        pause (axes has counted this failure already): a customer is warned before being locked out."""
        failures = AxesProxyHandler.get_failures(
            self.request, {"username": self.cleaned_data.get("username")}
        )
        left = max(settings.AXES_FAILURE_LIMIT - failures, 0)
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        message = str(_("The mobile number or the password is wrong."))
        if left:
            message += " " + ngettext(
                "%(left)d more wrong try pauses sign-in for %(minutes)d minutes.",
                "%(left)d more wrong tries pause sign-in for %(minutes)d minutes.",
                left,
            ) % {"left": left, "minutes": minutes}
        return ValidationError(message, code="invalid_login")


class ResetRequestForm(forms.Form):
    phone = PhoneNumberField(
        label=_("Mobile number"),
        region="CN",
        error_messages={"invalid": MOBILE_INVALID},
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


class ResetForm(forms.Form):
    """The phone number is the one the code was sent to, kept in the session (not in the page)."""

    code = forms.CharField(
        label=_("SMS code"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("new_password") and data.get("new_password") != data.get("new_password2"):
            self.add_error("new_password2", _("The two passwords differ."))
        return data


def _half_hours() -> list[tuple[str, str]]:
    return [("", "—")] + [(f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}") for h in range(24) for m in (0, 30)]


class ContactWindowForm(forms.Form):
    """我的账户 → contact hours: the window in which collection may call or text (the contact gate)."""

    contact_window_start = forms.TypedChoiceField(
        label=_("From"),
        choices=_half_hours,
        required=False,
        coerce=lambda value: datetime.strptime(value, "%H:%M").time(),  # noqa: DTZ007 - a time of day
        empty_value=None,
    )
    contact_window_end = forms.TypedChoiceField(
        label=_("Until"),
        choices=_half_hours,
        required=False,
        coerce=lambda value: datetime.strptime(value, "%H:%M").time(),  # noqa: DTZ007 - a time of day
        empty_value=None,
    )

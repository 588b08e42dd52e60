"""Sign-in and password-reset forms. Phone numbers are mainland mobile numbers, with or without +86."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField


class PhoneAuthenticationForm(AuthenticationForm):
    username = PhoneNumberField(
        label=_("Mobile number"),
        region="CN",
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


class ResetRequestForm(forms.Form):
    phone = PhoneNumberField(
        label=_("Mobile number"), region="CN", widget=forms.TextInput(attrs={"autocomplete": "tel"})
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

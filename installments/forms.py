"""Customer forms for 二次分期, 延期还款 and 协商还款; the services decide what is allowed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.money_input import AsciiDecimalField
from installments.models import NegotiationReason


def _documents_help() -> str:
    """Translated when shown, in the reader's language (a ``%`` on a lazy text at import time would fix
    it in the default language for everyone)."""
    return gettext("PDF, JPEG or PNG, at most %(mb)s MB each and %(n)s files.") % {
        "mb": settings.NEGOTIATION_DOCUMENT_MAX_BYTES // (1024 * 1024),
        "n": settings.NEGOTIATION_DOCUMENT_MAX_FILES,
    }


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class RestageForm(forms.Form):
    tenor = forms.TypedChoiceField(label=_("Number of installments"), coerce=int, widget=forms.RadioSelect)

    def __init__(self, *args: Any, tenors: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tenor"]).choices = [(t, str(t)) for t in tenors]


def code_field() -> forms.CharField:
    return forms.CharField(
        label=_("SMS code"),
        max_length=6,
        error_messages={"required": _("Enter the SMS code we sent you (tap “Send code” first).")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class RestageConfirmForm(forms.Form):
    """The confirmation step: the chosen option, carried from the comparison, and the SMS code."""

    tenor = forms.TypedChoiceField(coerce=int, widget=forms.HiddenInput)
    code = code_field()

    def __init__(self, *args: Any, tenors: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tenor"]).choices = [(t, str(t)) for t in tenors]


class ExtensionForm(forms.Form):
    """延期还款, step 1: how many days (each choice names the new due date)."""

    days = forms.TypedChoiceField(label=_("Move the due date by"), coerce=int)

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["days"]).choices = choices


class ExtensionConfirmForm(forms.Form):
    """延期还款, step 2: the quoted days and the request's key carried along, and the SMS code."""

    days = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    code = code_field()


class NegotiationForm(forms.Form):
    # No reason chosen for the customer: the first entry asks them to pick one.
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", _("Choose a reason")), *NegotiationReason.choices]
    )
    reason_detail = forms.CharField(
        label=_("In your own words"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    monthly_income = AsciiDecimalField(
        label=_("Monthly income now (yuan)"), max_digits=14, decimal_places=2, min_value=0
    )
    affordable_payment = AsciiDecimalField(
        label=_("What can you pay each month? (yuan)"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text=_("What you can really pay, so our offer fits it."),
    )
    employer = forms.CharField(label=_("Employer"), required=False, max_length=100)
    requested_tenor = forms.IntegerField(label=_("Installments you ask for"), min_value=1, max_value=36)
    documents = MultipleFileField(
        label=_("Proof of income or employment"),
        required=False,
        help_text=lazy(_documents_help, str)(),
    )
    autodebit_during_review = forms.BooleanField(
        label=_("Keep auto-debit on while my application is reviewed"),
        required=False,
        help_text=_(
            "Penalties are paused for up to 30 days while we review your application (once per "
            "plan in 12 months). Auto-debit pauses too unless you tick this."
        ),
    )


class DocumentForm(forms.Form):
    document = forms.FileField(
        label=_("Add a document"), widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"})
    )


class AcceptForm(forms.Form):
    code = code_field()
    autodebit = forms.BooleanField(label=_("Turn on auto-debit for the new plan"), required=False)


class HolidayAcceptForm(forms.Form):
    code = code_field()


class DeclineForm(forms.Form):
    """Declining an offer is final: the page asks again, and only ``confirm=yes`` declines."""

    confirm = forms.BooleanField(required=True)

"""Forms of the customer pages: binding a card, auto-debit, 立即还款. The services validate the business
rules; these forms only shape input. A card number is never rendered back into a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core.money_input import AsciiDecimalField
from installments.templatetags.money import yuan
from repayments.models import BankCard
from repayments.selectors import PlanBalance

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class SecretTextInput(forms.TextInput):
    """A text box that never puts its value back into the page (a card number after an error)."""

    def format_value(self, value: object) -> None:
        return None


class CardBindForm(forms.Form):
    number = forms.CharField(
        label=_("Card number"),
        max_length=23,
        widget=SecretTextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    holder_name = forms.CharField(label=_("Card holder (your real name)"), max_length=50)
    reserved_phone = forms.CharField(
        label=_("Phone number registered with the bank"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    code = forms.CharField(
        label=_("SMS code"),
        max_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class CardChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: BankCard) -> str:
        return str(obj)


class AutoDebitForm(forms.Form):
    enabled = forms.BooleanField(label=_("Auto-debit on"), required=False)
    # Radio buttons, not a select: "China Merchants Bank card ending 4565" does not fit a closed select on
    # a phone, and the last four digits are what tells the cards apart.
    card = CardChoiceField(
        label=_("Card"),
        queryset=BankCard.objects.none(),
        required=False,
        empty_label=None,
        widget=forms.RadioSelect,
    )
    code = forms.CharField(
        label=_("SMS code (only when changing the card)"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, cards: list[BankCard], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        card_field = cast(CardChoiceField, self.fields["card"])
        card_field.queryset = BankCard.objects.filter(pk__in=[c.pk for c in cards])


class CardUnbindForm(forms.Form):
    """Removing a card: who takes over its auto-debits, and the SMS code that moving them needs."""

    replacement = forms.UUIDField(label=_("Auto-debits move to"), required=False)
    code = forms.CharField(
        label=_("SMS code (only when changing the card)"),
        max_length=6,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


ONE_TIME = "one_time"


class OpenChoiceField(forms.ChoiceField):
    """Radio buttons whose value the service judges: a card removed meanwhile, or another customer's, is
    refused by ``repayment_check`` with its own words, not Django's "Select a valid choice"."""

    def valid_value(self, value: str) -> bool:
        return True


class PayForm(forms.Form):
    """Step one of 立即还款: what, when and with which card. Only the input's shape is checked here; the
    rules (amount, date range, card) are ``repayment_check``'s, the same as the API's.

    An option whose figure is ¥0 is not offered: "due now" when nothing is due, "pay off" while a payment is
    in flight. Nothing is preselected unless something is due now."""

    mode = forms.ChoiceField(
        label=_("What to pay"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what to pay."), "invalid_choice": _("Choose what to pay.")},
    )
    # data-reveal-when (static/js/reveal.js): the amount shows once "another amount" is picked, the date once
    # "on a date" is; without the script both are always shown.
    amount = AsciiDecimalField(label=_("Amount (yuan)"), max_digits=14, decimal_places=2, required=False)
    when = forms.ChoiceField(
        label=_("When"),
        choices=[("now", _("Now")), ("date", _("On a date"))],
        widget=forms.RadioSelect,
        initial="now",
    )
    scheduled_for = forms.DateField(
        label=_("Date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "data-reveal-when": "when=date"}),
    )
    card = OpenChoiceField(label=_("Card"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, cards: list[BankCard], balance: PlanBalance, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        modes: list[tuple[str, StrOrPromise]] = []
        if balance.due_now_payable > 0:
            modes.append(
                ("due_now", format_lazy("{} {}", _("Amount due now"), yuan(balance.due_now_payable)))
            )
        if balance.payoff_payable:
            modes.append(
                ("payoff", format_lazy("{} {}", _("Pay off the plan (payoff amount)"), yuan(balance.payoff)))
            )
        if balance.available > 0:
            modes.append(
                (
                    "custom",
                    _("Another amount (up to %(max)s)") % {"max": yuan(balance.available)},
                )
            )
        mode_field = cast(forms.ChoiceField, self.fields["mode"])
        mode_field.choices = modes
        self.fields["amount"].widget.attrs["data-reveal-when"] = "mode=custom"
        mode_field.initial = "due_now" if balance.due_now_payable > 0 else None
        today = timezone.localdate()
        date_widget = self.fields["scheduled_for"].widget
        date_widget.attrs["min"] = today.isoformat()
        if balance.next_due_date:
            date_widget.attrs["max"] = balance.next_due_date.isoformat()
            self.fields["scheduled_for"].help_text = _(
                "From today to the next due date: %(first)s – %(last)s"
            ) % {
                "first": date_format(today),
                "last": date_format(balance.next_due_date),
            }
        choices: list[tuple[str, StrOrPromise]] = [(str(c.public_id), str(c)) for c in cards]
        choices.append((ONE_TIME, _("A card used once (not bound)")))
        cast(forms.ChoiceField, self.fields["card"]).choices = choices
        if cards:
            default = next((c for c in cards if c.is_default), cards[0])
            self.fields["card"].initial = str(default.public_id)
        else:
            self.fields["card"].initial = ONE_TIME

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("when") == "date":
            if not data.get("scheduled_for"):
                self.add_error("scheduled_for", _("Choose the date."))
        else:
            data["scheduled_for"] = None
        return data


class OneTimeCardForm(forms.Form):
    """Entered on the confirmation step only, sent once to the bank, never stored or shown again."""

    number = forms.CharField(
        label=_("Card number"),
        max_length=23,
        widget=SecretTextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    holder_name = forms.CharField(label=_("Card holder (your real name)"), max_length=50)


class RecordsFilterForm(forms.Form):
    plan = forms.ChoiceField(label=_("Plan"), required=False)
    month = forms.DateField(
        label=_("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )

    def __init__(self, *args: Any, plans: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["plan"]).choices = [("", _("All plans"))] + [
            (str(p.public_id), p.display_name) for p in plans
        ]

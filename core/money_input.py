"""Reading an amount from outside, by the one spelling rule of :mod:`core.money`: ``parse_money`` (what
services call), the form field and the model field whose admin forms use it. The API's ``MoneyField`` is
in :mod:`core.api`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _

from core.error_codes import CommonError
from core.errors import ApplicationError
from core.money import MONEY_LIMIT, decimal_pattern, fits_cents, is_money_text, quantize_money


def parse_money(value: object, *, field: str = "amount") -> Decimal:
    """An amount from a request or a form, by one rule (``core.money``): a string must be plain ASCII
    digits with at most two decimals and 12 digits before the point ("50", "50.00"); a Decimal or an int
    from our own code must fit the same bounds. Never a float, never exponents, signs, underscores,
    spaces or non-ASCII digits, never NaN or Infinity. Refused with ``invalid_amount`` (400)."""
    if isinstance(value, str):
        if not is_money_text(value):
            raise _invalid_amount(field, gettext_now("Enter an amount in yuan, like 100 or 100.50."))
        return quantize_money(Decimal(value))
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise _invalid_amount(field, gettext_now("Amounts must be given as decimal strings."))
    amount = Decimal(value)
    if not fits_cents(amount):
        raise _invalid_amount(field, gettext_now("Amounts have at most two decimal places."))
    if not 0 <= amount < MONEY_LIMIT:
        raise _invalid_amount(field, gettext_now("Enter an amount in yuan, like 100 or 100.50."))
    return quantize_money(amount)


def _invalid_amount(field: str, message: str) -> ApplicationError:
    return ApplicationError(CommonError.INVALID_AMOUNT, message, fields={field: message})


class AsciiDecimalField(forms.DecimalField):
    """A form's decimal box that takes only plain ASCII digits with an optional point: the same rule as
    the API's money strings, sized by ``max_digits``/``decimal_places``."""

    default_error_messages = {
        "invalid": _("Enter a number with digits and at most one point, like 100 or 100.50."),
    }

    def __init__(self, *, max_digits: int = 14, decimal_places: int = 2, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)
        self.pattern = decimal_pattern(max_digits - decimal_places, decimal_places)

    # The stubs give forms.DecimalField IntegerField's to_python (int | None); Django returns a Decimal.
    def to_python(self, value: object) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        text = str(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not self.pattern.fullmatch(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return Decimal(text)


class AsciiDecimalModelField(models.DecimalField):  # type: ignore[type-arg]  # generic only in the stubs
    """A model ``DecimalField`` whose model-form field is :class:`AsciiDecimalField` (so the admin's
    edit pages follow the rule too). Deconstructs as Django's own field: no migration."""

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        kwargs.setdefault("form_class", AsciiDecimalField)
        return super().formfield(**kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs


class MoneyModelField(AsciiDecimalModelField):
    """An amount in yuan (``installments.models.money_field``): the type is how the admin knows to show it
    as ¥1,234.56 (``core.admin_display.MoneyAdminMixin``) and a rate or a percentage not. No migration."""

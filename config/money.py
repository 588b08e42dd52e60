"""The one spelling of an amount a request may use, for every surface (API, web forms, admin).

Yuan as ASCII digits, at most 12 before the point and 2 after it: ``^\\d{1,12}(\\.\\d{1,2})?$``.
``Decimal(str)`` (and Django's ``DecimalField``) would also take ``"1_000"``, ``"1e3"``, ``"+1.00"``,
``" 1.00 "``, Arabic-Indic or full-width digits, and ``"1e30"`` (which then breaks ``quantize``): none of
them is refused by a range check, so the spelling itself is the rule. Surrounding whitespace is refused
too, not stripped: a browser's number box never sends it, and an API client that does has a bug.

``parse_money`` in ``installments.services.plans`` (what services call) and the API's ``MoneyField`` use
:data:`MONEY_PATTERN`; forms use :class:`AsciiDecimalField`, which builds the same rule from its
``max_digits``/``decimal_places`` (money: 14/2), and every model ``DecimalField`` hands it to model forms.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY_INTEGER_DIGITS = 12
MONEY_DECIMAL_PLACES = 2
MONEY_REGEX = r"^\d{1,12}(\.\d{1,2})?$"  # as published in the OpenAPI schema


def decimal_pattern(integer_digits: int, decimal_places: int) -> re.Pattern[str]:
    """ASCII digits only (``re.ASCII``: no "٣", no "１００"); use ``fullmatch`` (no trailing newline)."""
    fraction = rf"(?:\.\d{{1,{decimal_places}}})?" if decimal_places else ""
    return re.compile(rf"\d{{1,{integer_digits}}}{fraction}", re.ASCII)


MONEY_PATTERN = decimal_pattern(MONEY_INTEGER_DIGITS, MONEY_DECIMAL_PLACES)


def is_money_text(value: object) -> bool:
    return isinstance(value, str) and MONEY_PATTERN.fullmatch(value) is not None


class AsciiDecimalField(forms.DecimalField):
    """A form's decimal box that takes only plain ASCII digits with an optional point: the same rule as
    the API's money strings, sized by ``max_digits``/``decimal_places``."""

    default_error_messages = {
        "invalid": _("Enter a number with digits and at most one point, like 100 or 100.50."),
    }

    def __init__(self, *, max_digits: int = 14, decimal_places: int = 2, **kwargs: object) -> None:
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)
        self.pattern = decimal_pattern(max_digits - decimal_places, decimal_places)

    def to_python(self, value: object) -> Decimal | None:
        if value in self.empty_values:
            return None
        text = str(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not self.pattern.fullmatch(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return Decimal(text)


class AsciiDecimalModelField(models.DecimalField):
    """A model ``DecimalField`` whose model-form field is :class:`AsciiDecimalField` (so the admin's
    edit pages follow the rule too). Deconstructs as Django's own field: no migration."""

    def formfield(self, **kwargs: object) -> forms.Field:
        kwargs.setdefault("form_class", AsciiDecimalField)
        return super().formfield(**kwargs)

    def deconstruct(self) -> tuple:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs

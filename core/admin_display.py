"""How the staff workspace shows amounts and waiting times, the same way on every screen.

``MoneyAdminMixin`` is mixed into a ``ModelAdmin`` or an inline: every amount column
(``core.money_input.MoneyModelField``, which ``installments.models.money_field`` makes) shown in a list or
read-only on a detail page is rendered ``¥1,234.56`` by :func:`core.money.format_yuan`. Django's own
rendering of a ``DecimalField`` is the bare number in the active language's format (``473.09``, with no
thousands separator in Chinese): the review found "473.09 / 0.00 / 0.00" triples nobody could read. The
mixin swaps each such column for a generated one (``<field>_yuan``) with the field's label and ordering, so a
ModelAdmin lists its fields by their real names and nobody writes a display method per amount.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.money import format_yuan
from core.money_input import MoneyModelField

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MONEY_SUFFIX = "_yuan"


def money_column_name(field_name: str) -> str:
    return f"{field_name}{MONEY_SUFFIX}"


def _money_column(field: MoneyModelField) -> Callable[[Model], str | None]:
    name = field.name

    def show(obj: Model) -> str | None:
        value = getattr(obj, name)
        return None if value is None else format_yuan(value)  # None: the admin's "-"

    show.short_description = field.verbose_name  # type: ignore[attr-defined]
    show.admin_order_field = name  # type: ignore[attr-defined]
    show.__name__ = money_column_name(name)
    return show


def _mapped(names: Sequence[Any], money: set[str]) -> list[Any]:
    seen: set[Any] = set()
    out: list[Any] = []
    for name in names:
        shown = money_column_name(name) if isinstance(name, str) and name in money else name
        if shown not in seen:  # a form's own field and its read-only twin: listed once
            seen.add(shown)
            out.append(shown)
    return out


class MoneyAdminMixin:
    """For ModelAdmin and InlineModelAdmin subclasses (first in the bases): amounts read as ¥1,234.56 in
    lists and wherever a detail page shows them read-only (a view-only user sees every field read-only).
    An amount a form edits stays an input."""

    model: type[Model]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._money_fields = {
            f.name for f in self.model._meta.concrete_fields if isinstance(f, MoneyModelField)
        }
        for field in self.model._meta.concrete_fields:
            if isinstance(field, MoneyModelField):
                setattr(self, money_column_name(field.name), _money_column(field))

    def _shown_read_only(self, request: HttpRequest, obj: Model | None) -> set[str]:
        original = set(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        view_only = obj is not None and not self.has_change_permission(request, obj)  # type: ignore[attr-defined]
        return {name for name in self._money_fields if view_only or name in original}

    # Typed loosely: the mixin sits on ModelAdmin and InlineModelAdmin, whose stubs differ.
    def get_list_display(self, request: HttpRequest) -> Any:
        return _mapped(super().get_list_display(request), self._money_fields)  # type: ignore[misc]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        money = self._shown_read_only(request, obj)
        return _mapped(readonly, money) + [money_column_name(n) for n in sorted(money) if n not in readonly]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        money = self._shown_read_only(request, obj)
        return [
            (title, {**options, "fields": _mapped_fieldset(options.get("fields", ()), money)})
            for title, options in super().get_fieldsets(request, obj)  # type: ignore[misc]
        ]


def _mapped_fieldset(fields: Sequence[Any], money: set[str]) -> list[Any]:
    """A fieldset's entries may be tuples of names shown on one line."""
    return [
        tuple(_mapped(f, money)) if isinstance(f, list | tuple) else _mapped([f], money)[0] for f in fields
    ]


def age_text(since: datetime | None, *, now: datetime | None = None) -> StrOrPromise:
    """How long a row has waited, in the largest unit that says it: "3 d 4 h", "5 h 12 min", "7 min"."""
    if since is None:
        return "-"
    seconds = max(0, int(((now or timezone.now()) - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return gettext("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return gettext("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return gettext("%(m)d min") % {"m": minutes}


# --- queue defaults ------------------------------------------------------------------------------------

ALL = "all"


class DefaultListFilter(admin.SimpleListFilter):
    """A list filter with a default: the page opens on the rows staff work on (today's, the open ones),
    with no redirect, and "All" is a choice of its own (``?<param>=all``), so every row stays reachable.
    Subclasses give ``lookups`` (with ``ALL`` among them), ``default`` and ``filter``."""

    default: str = ALL
    # Query parameters that, present, mean the person is looking for something else than the queue: a
    # search (a customer calling about last month's payment) and, for a period, a date drill-down.
    lifted_by: tuple[str, ...] = ("q",)

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        given = [key for key in request.GET if request.GET.get(key)]
        self.lifted = any(key.startswith(prefix) for key in given for prefix in self.lifted_by)
        super().__init__(request, params, model, model_admin)

    def value(self) -> str:
        chosen = super().value()
        if chosen is None:
            return ALL if self.lifted else self.default
        return str(chosen)

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == ALL or value not in {str(lookup) for lookup, _title in self.lookup_choices}:
            return queryset
        return self.filter(queryset, value)

    def filter(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        raise NotImplementedError


_PERIOD_DAYS = {"today": 0, "7d": 6, "30d": 29}


def period_filter(field: str, title: StrOrPromise, *, default: str = "7d") -> type[DefaultListFilter]:
    """Rows of today, the past 7 or 30 days (Asia/Shanghai calendar days, today included), or all, on a
    date or datetime field; ``default`` is the page's first view."""

    class PeriodFilter(DefaultListFilter):
        parameter_name = f"{field}_period"
        lifted_by = ("q", f"{field}__")

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
            return [
                ("today", _("Today")),
                ("7d", _("Past 7 days")),
                ("30d", _("Past 30 days")),
                (ALL, _("All")),
            ]

        def filter(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
            first_day = timezone.localdate() - timedelta(days=_PERIOD_DAYS[value])
            model_field = queryset.model._meta.get_field(field)
            if isinstance(model_field, models.DateTimeField):
                start = timezone.make_aware(datetime.combine(first_day, time.min))
                return queryset.filter(**{f"{field}__gte": start})
            return queryset.filter(**{f"{field}__gte": first_day})

    PeriodFilter.title = title
    PeriodFilter.default = default
    PeriodFilter.__name__ = PeriodFilter.__qualname__ = f"PeriodFilter_{field}"
    return PeriodFilter


def state_filter(
    field: str, title: StrOrPromise, choices: Sequence[tuple[str, StrOrPromise]], *, default: str
) -> type[DefaultListFilter]:
    """A choices field's filter that opens on ``default`` (the open rows), keeping the usual
    ``<field>__exact`` parameter so links written for Django's own filter still work."""

    class StateFilter(DefaultListFilter):
        parameter_name = f"{field}__exact"

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
            return [*choices, (ALL, _("All"))]

        def filter(self, queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
            return queryset.filter(**{field: value})

    StateFilter.title = title
    StateFilter.default = default
    StateFilter.__name__ = StateFilter.__qualname__ = f"StateFilter_{field}"
    return StateFilter


def percent_text(rate: Decimal | None) -> str:
    """A rate kept as a fraction (0.006) as staff say it: "0.6%" (never "0.006000")."""
    if rate is None:
        return "-"
    percent = (rate * 100).normalize()
    return f"{percent:f}%"

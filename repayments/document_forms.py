"""The statement's date-range form (账单明细): which plan, from and to. Only shapes input."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A statement covers at most this many days: enough for any plan, and one request stays cheap.
MAX_STATEMENT_DAYS = 366 * 5


class StatementForm(forms.Form):
    plan = forms.ChoiceField(label=_("Plan"), required=False)
    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, plans: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["plan"]).choices = [("", _("All plans"))] + [
            (str(p.public_id), p.display_name) for p in plans
        ]

    @staticmethod
    def defaults(plans: list) -> dict[str, object]:
        """Without a range asked for: from the first purchase (or the month's start) to today."""
        today = timezone.localdate()
        start = min((p.purchase_date for p in plans), default=today.replace(day=1))
        return {"plan": "", "date_from": start, "date_to": today}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: date | None = data.get("date_from")
        end: date | None = data.get("date_to")
        if start and end:
            if start > end:
                self.add_error("date_to", _("The end date must be on or after the start date."))
            elif (end - start).days > MAX_STATEMENT_DAYS:
                self.add_error("date_from", _("A statement covers at most five years."))
        return data

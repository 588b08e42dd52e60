"""The customer's 投诉 form; the service (``complaint_file``) decides what is allowed."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from installments.forms import MultipleFileField
from installments.models import InstallmentPlan
from repayments.models import ComplaintCategory, Repayment


class ComplaintForm(forms.Form):
    category = forms.ChoiceField(
        label=_("What is it about?"), choices=ComplaintCategory.choices, widget=forms.RadioSelect
    )
    plan = forms.ChoiceField(label=_("Plan (optional)"), required=False)
    repayment = forms.ChoiceField(label=_("Payment (optional)"), required=False)
    text = forms.CharField(
        label=_("Tell us what happened"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("What happened, when, and what you would like us to do. At most 2000 characters."),
    )
    documents = MultipleFileField(
        label=_("Attachments (optional)"),
        required=False,
        help_text=_("Screenshots or documents: PDF, JPEG or PNG, at most 5 MB each and 5 files."),
    )

    def __init__(self, *args: Any, customer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        none = [("", _("None"))]
        plans = InstallmentPlan.objects.filter(customer=customer).order_by("-created_at")[:20]
        cast(forms.ChoiceField, self.fields["plan"]).choices = none + [
            (str(p.public_id), p.display_name) for p in plans
        ]
        repayments = (
            Repayment.objects.filter(customer=customer).select_related("plan").order_by("-requested_at")[:20]
        )
        cast(forms.ChoiceField, self.fields["repayment"]).choices = none + [
            (str(r.public_id), f"{r.requested_at:%Y-%m-%d} · ¥{r.amount:,.2f} · {r.plan.display_name}")
            for r in repayments
        ]


class ComplaintDocumentForm(forms.Form):
    documents = MultipleFileField(
        label=_("Add attachments"),
        help_text=_("PDF, JPEG or PNG, at most 5 MB each and 5 files."),
    )

"""``{% extension_refusals_for plan as refusals %}``: why the plan page's 延期还款 link is not offered (empty:
it is), for ``templates/installments/_plan_extension.html``, so the plan page's view needs nothing new."""

from __future__ import annotations

from django import template

from installments.models import InstallmentPlan
from installments.services import Refusal, extension_refusals

register = template.Library()


@register.simple_tag
def extension_refusals_for(plan: InstallmentPlan) -> list[Refusal]:
    return extension_refusals(plan)

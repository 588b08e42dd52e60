"""``{% plan_holiday_offer plan as offer %}``: the payment holiday offered on a plan page's plan, if any, so
the plan page shows it from its own include without its view knowing about holidays."""

from __future__ import annotations

from django import template

from installments.models import HolidayState, InstallmentPlan, PaymentHoliday

register = template.Library()


@register.simple_tag
def plan_holiday_offer(plan: InstallmentPlan) -> PaymentHoliday | None:
    return PaymentHoliday.objects.filter(plan_id=plan.pk, state=HolidayState.OFFERED).first()

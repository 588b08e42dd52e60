"""What a customer can do after a refusal: the steps a "no" page offers instead of a dead end.

``NextStep`` is what the shared include ``templates/_next_steps.html`` renders (a link each, then the
service hotline, which it always shows). ``relief_steps`` are the plan's ways out when paying is hard:
延期还款 where the next payment's due date can be moved today (``extension_refusals`` is empty), 二次分期
where the plan can be re-staged today (``restage_refusals`` is empty) and 协商还款 where an application
can be made (an overdue plan with none open) or followed (one is open). The refusal pages of
re-staging and negotiation, and the failed-payment page of ``repayments``, all use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from installments.models import InstallmentPlan, PlanStatus
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.services import extension_refusals, restage_refusals

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class NextStep:
    kind: str  # stable, for tests and styling: retry, other_card, smaller_amount, restage, negotiate, ...
    label: StrOrPromise
    url: str
    note: StrOrPromise = ""


def relief_steps(
    plan: InstallmentPlan,
    *,
    today: date | None = None,
    restage: bool = True,
    negotiate: bool = True,
    extend: bool = True,
) -> list[NextStep]:
    """延期还款, 二次分期 and 协商还款, each only where this plan can use it now (a page that is itself one of
    them leaves it out with ``extend=False``, ``restage=False`` or ``negotiate=False``)."""
    steps: list[NextStep] = []
    if (
        extend
        and plan.status in (PlanStatus.ACTIVE, PlanStatus.OVERDUE)
        and not extension_refusals(plan, today=today)
    ):
        steps.append(
            NextStep(
                "extend",
                _("Extend due date"),
                reverse("installments:extend", args=[plan.public_id]),
                _("Move this payment's due date a few days; see any fee first."),
            )
        )
    if (
        restage
        and plan.status in (PlanStatus.ACTIVE, PlanStatus.OVERDUE)
        and not restage_refusals(plan, today=today)
    ):
        steps.append(
            NextStep(
                "restage",
                _("Spread what is left over more months"),
                reverse("installments:restage", args=[plan.public_id]),
                _("Smaller monthly payments; see the cost before you decide."),
            )
        )
    if negotiate and plan.status == PlanStatus.OVERDUE:
        open_application = plan.negotiations.filter(state__in=OPEN_NEGOTIATION_STATES).first()
        if open_application is not None:
            steps.append(
                NextStep(
                    "negotiation",
                    _("See your negotiated plan application"),
                    reverse("installments:negotiation", args=[open_application.public_id]),
                )
            )
        else:
            steps.append(
                NextStep(
                    "negotiate",
                    _("Apply for a negotiated plan"),
                    reverse("installments:negotiate", args=[plan.public_id]),
                    _("If you cannot pay as planned, tell us what you can pay each month."),
                )
            )
    return steps


def refusal_steps(
    plan: InstallmentPlan, *, restage: bool = True, negotiate: bool = True, extend: bool = True
) -> list[NextStep]:
    """After a refused 二次分期 or 协商还款: repaying (what is due, or part of it) first, then the other way
    of relief where it applies."""
    pay = NextStep("pay", _("Repay now"), reverse("repayments:pay", args=[plan.public_id]))
    steps = [pay] if plan.status in (PlanStatus.ACTIVE, PlanStatus.OVERDUE, PlanStatus.CHARGED_OFF) else []
    return steps + relief_steps(plan, restage=restage, negotiate=negotiate, extend=extend)

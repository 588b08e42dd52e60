"""延期还款 on the web: the reasons (with next steps) or the choice of days, then the quote with the SMS code,
then the done page. The services decide; these views carry the choice and the request's key along."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.sms_code import SEND_CODE, send_code, sent_code_json, wants_json
from core.errors import ApplicationError
from core.web import apply_errors
from installments.forms import ExtensionConfirmForm, ExtensionForm
from installments.ledger import installment_rows, owing
from installments.models import InstallmentPlan
from installments.next_steps import refusal_steps
from installments.selectors import plan_for_customer
from installments.services import (
    ExtensionQuote,
    extension_apply,
    extension_day_range,
    extension_quote,
    extension_refusals,
)


def _choices(plan: InstallmentPlan) -> list[tuple[int, str]]:
    """Each number of days the plan allows today, named with the due date it gives."""
    rows = installment_rows([plan.pk]).get(plan.pk, [])
    low, high = extension_day_range(plan, rows, today=timezone.localdate())
    open_rows = owing(sorted(rows, key=lambda r: r.sequence))
    if not open_rows:
        return []
    quote_due = open_rows[0].due_date
    return [
        (
            days,
            ngettext("%(n)s day, to %(date)s", "%(n)s days, to %(date)s", days)
            % {"n": days, "date": formats.date_format(quote_due + timedelta(days=days), "DATE_FORMAT")},
        )
        for days in range(low, high + 1)
    ]


@login_required
@require_http_methods(["GET", "POST"])
def extend(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Step 1: why not (with what to do instead), or the days to choose; "choose" shows the quote."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    refusals = extension_refusals(plan)
    choices = [] if refusals else _choices(plan)
    form = ExtensionForm(initial={"days": choices[-1][0] if choices else None}, choices=choices)
    context: dict[str, object] = {
        "plan": plan,
        "refusals": refusals,
        "next_steps": refusal_steps(plan, extend=False) if refusals else [],
    }
    if request.method == "POST" and not refusals:
        action = request.POST.get("action", "")
        if action == "choose":
            form = ExtensionForm(request.POST, choices=choices)
            if form.is_valid():
                days = form.cleaned_data["days"]
                confirm = ExtensionConfirmForm(initial={"days": days, "key": uuid.uuid4().hex})
                return _confirm(request, plan, context, days, confirm, form)
        elif action in (SEND_CODE, "confirm"):
            confirm = ExtensionConfirmForm(request.POST)
            days_text = request.POST.get("days", "")
            days = int(days_text) if days_text.isdigit() else 0
            if action == SEND_CODE:
                sent = send_code(request, OtpPurpose.EXTENSION)
                if wants_json(request):
                    return sent_code_json(request, sent)
                confirm = ExtensionConfirmForm(
                    initial={"days": days, "key": request.POST.get("key") or uuid.uuid4().hex}
                )
                return _confirm(request, plan, context, days, confirm, form, code_sent=sent.ok)
            if confirm.is_valid():
                try:
                    extension_apply(
                        plan=plan,
                        customer=request.user,
                        days=confirm.cleaned_data["days"],
                        code=confirm.cleaned_data["code"],
                        idempotency_key=confirm.cleaned_data["key"],
                    )
                except ApplicationError as exc:
                    apply_errors(confirm, exc, rename={"otp": "code"})
                else:
                    messages.success(request, _("The due date is extended."))
                    return redirect("installments:extension_done", public_id=plan.public_id)
            return _confirm(request, plan, context, days, confirm, form)
    return render(request, "installments/extension.html", {**context, "form": form})


def _confirm(
    request: AuthenticatedHttpRequest,
    plan: InstallmentPlan,
    context: dict[str, object],
    days: int,
    confirm: ExtensionConfirmForm,
    form: ExtensionForm,
    *,
    code_sent: bool = False,
) -> HttpResponse:
    """Step 2: the quote for ``days`` and the code. A quote refused now (days no longer allowed, the APR,
    the ceiling) goes back to step 1 with the reason."""
    try:
        quote: ExtensionQuote = extension_quote(plan=plan, days=days)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return render(request, "installments/extension.html", {**context, "form": form})
    return render(
        request,
        "installments/extension_confirm.html",
        {**context, "quote": quote, "form": confirm, "code_sent": code_sent},
    )


@login_required
@require_GET
def extension_done(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Step 3: what changed (the plan's last extension)."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    extension = plan.extensions.order_by("-created_at", "-id").first()
    if extension is None:
        return redirect("installments:extend", public_id=plan.public_id)
    installment = next(i for i in plan.installments.all() if i.pk == extension.installment_id)
    return render(
        request,
        "installments/extension_done.html",
        {"plan": plan, "extension": extension, "installment": installment},
    )

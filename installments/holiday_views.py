"""The customer's payment-holiday page (还款假期): the offer staff made, before and after, accepted with an
SMS code or declined (asked twice: declining is final). Views parse and call one service."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.sms_code import SEND_CODE, send_code, sent_code_json, wants_json
from core.errors import ApplicationError
from core.ids import short_ref
from core.web import apply_errors
from installments.forms import DeclineForm, HolidayAcceptForm
from installments.models import InstallmentPlan
from installments.selectors import plan_for_customer
from installments.services import holiday_accept, holiday_decline, holiday_offered


@login_required
@require_http_methods(["GET", "POST"])
def holiday(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    form = HolidayAcceptForm()
    code_sent = confirm_decline = False
    try:
        offer = holiday_offered(customer=request.user, plan_public_id=plan.public_id)
    except ApplicationError:
        offer = None
    if request.method == "POST" and offer is not None:
        action = request.POST.get("action")
        try:
            if action == SEND_CODE:
                sent = send_code(request, OtpPurpose.ACCEPT_HOLIDAY)
                if wants_json(request):
                    return sent_code_json(request, sent)
                code_sent = sent.ok
            elif action == "accept":
                form = HolidayAcceptForm(request.POST)
                if form.is_valid():
                    holiday_accept(
                        customer=request.user,
                        plan_public_id=plan.public_id,
                        otp_code=form.cleaned_data["code"],
                    )
                    messages.success(request, _("Your payment holiday is on: the new dates are below."))
                    return redirect("repayments:plan", public_id=plan.public_id)
            elif action == "decline":
                confirm_decline = True
            elif action == "decline_confirm":
                if DeclineForm(request.POST).is_valid():
                    holiday_decline(customer=request.user, plan_public_id=plan.public_id)
                    messages.info(request, _("You declined the payment holiday."))
                    return redirect("repayments:plan", public_id=plan.public_id)
                confirm_decline = True
        except ApplicationError as exc:
            if action == "accept":
                apply_errors(form, exc, rename={"otp": "code"})
            else:
                messages.error(request, exc.message)
    return render(
        request,
        "installments/holiday.html",
        {
            "plan": plan,
            "offer": offer,
            "form": form,
            "code_sent": code_sent,
            "confirm_decline": confirm_decline,
        },
    )


@login_required
@require_GET
def holiday_link(request: AuthenticatedHttpRequest, ref: str) -> HttpResponse:
    """The short link of the ``holiday_offered`` SMS (/h/<short ref>/): one of the signed-in customer's
    plans by the short ref; anyone else's is a 404 like any other plan id."""
    for public_id in InstallmentPlan.objects.filter(customer=request.user).values_list(
        "public_id", flat=True
    ):
        if short_ref(public_id) == ref.lower():
            return redirect("installments:holiday", public_id)
    raise Http404

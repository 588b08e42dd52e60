import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.services import otp_request
from core.errors import ApplicationError
from core.web import apply_errors
from installments.documents import file_response
from installments.forms import AcceptForm, DocumentForm, NegotiationForm, RestageForm
from installments.models import NegotiationDocument, NegotiationState
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.next_steps import refusal_steps
from installments.selectors import (
    EXAMPLE_PRINCIPAL,
    negotiation_for_customer,
    offer_schedule,
    plan_for_customer,
    product_offers,
)
from installments.services import (
    REVIEW_PERMISSION,
    negotiation_accept,
    negotiation_apply,
    negotiation_decline,
    negotiation_document_add,
    negotiation_resubmit,
    plan_restage,
    restage_quote,
    restage_refusals,
)


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "installments/home.html",
        {"offers": product_offers(), "example_principal": EXAMPLE_PRINCIPAL},
    )


def negotiation_document(request: HttpRequest, public_id: str) -> HttpResponseBase:
    """A proof document, to its owner or to staff who review applications; anyone else gets 404 (not
    403: whether a document exists is itself not theirs to know)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    document = get_object_or_404(
        NegotiationDocument.objects.select_related("application"), public_id=public_id
    )
    is_owner = document.application.customer_id == request.user.pk
    if not (is_owner or (request.user.is_staff and request.user.has_perm(REVIEW_PERMISSION))):
        raise Http404
    return file_response(document)


# --- 二次分期 -----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def restage(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Eligibility, the quote table next to keeping the plan, and applying."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    refusals = restage_refusals(plan)
    quote = None if refusals else restage_quote(plan=plan)
    tenors = [o.tenor for o in quote.options if o.available] if quote else []
    form = RestageForm(request.POST if request.method == "POST" else None, tenors=tenors)
    if request.method == "POST" and quote and form.is_valid():
        try:
            new_plan = plan_restage(customer=request.user, plan_id=plan.pk, tenor=form.cleaned_data["tenor"])
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Your secondary installment plan is active."))
            return redirect("repayments:plan", public_id=new_plan.public_id)
    return render(
        request,
        "installments/restage.html",
        {
            "plan": plan,
            "refusals": refusals,
            "quote": quote,
            "form": form,
            "next_steps": refusal_steps(plan, restage=False) if refusals else [],
        },
    )


# --- 协商还款 -----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def negotiate(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    open_application = plan.negotiations.filter(state__in=OPEN_NEGOTIATION_STATES).first()
    if open_application is not None:
        return redirect("installments:negotiation", public_id=open_application.public_id)
    form = NegotiationForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        initial={"requested_tenor": 12},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            application = negotiation_apply(
                customer=request.user,
                plan_id=plan.pk,
                reason=data["reason"],
                reason_detail=data["reason_detail"],
                monthly_income=data["monthly_income"],
                employer=data["employer"],
                requested_tenor=data["requested_tenor"],
                documents=data["documents"],
            )
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, _("Your application is submitted. We reply by SMS within 3 working days.")
            )
            return redirect("installments:negotiation", public_id=application.public_id)
    return render(request, "installments/negotiate.html", {"plan": plan, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def negotiation(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The application's status; more documents while it is with us; the offer with accept or decline."""
    application = negotiation_for_customer(customer=request.user, public_id=public_id)
    document_form = DocumentForm()
    accept_form = AcceptForm()
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "document":
                document_form = DocumentForm(request.POST, request.FILES)
                if document_form.is_valid():
                    negotiation_document_add(
                        customer=request.user,
                        application_id=application.public_id,
                        upload=document_form.cleaned_data["document"],
                    )
                    messages.success(request, _("Document added."))
                    return redirect("installments:negotiation", public_id=application.public_id)
            elif action == "resubmit":
                negotiation_resubmit(customer=request.user, application_id=application.public_id)
                messages.success(request, _("Sent back to us. We reply by SMS."))
                return redirect("installments:negotiation", public_id=application.public_id)
            elif action == "send_code":
                otp_request(user=request.user, purpose=OtpPurpose.ACCEPT_NEGOTIATION)
                messages.info(
                    request, _("A code was sent by SMS to %(phone)s.") % {"phone": request.user.masked_phone}
                )
                return redirect("installments:negotiation", public_id=application.public_id)
            elif action == "accept":
                accept_form = AcceptForm(request.POST)
                if accept_form.is_valid():
                    new_plan = negotiation_accept(
                        customer=request.user,
                        application_id=application.public_id,
                        otp_code=accept_form.cleaned_data["code"],
                    )
                    messages.success(request, _("Your negotiated plan is active."))
                    return redirect("repayments:plan", public_id=new_plan.public_id)
            elif action == "decline":
                negotiation_decline(customer=request.user, application_id=application.public_id)
                messages.info(request, _("You declined the offer."))
                return redirect("installments:negotiation", public_id=application.public_id)
        except ApplicationError as exc:
            target = {"document": document_form, "accept": accept_form}.get(action or "")
            if target is not None:
                apply_errors(target, exc, rename={"otp": "code", "documents": "document"})
            else:
                messages.error(request, exc.message)
        application = negotiation_for_customer(customer=request.user, public_id=public_id)
    schedule = offer_schedule(application)
    income = application.declared_monthly_income
    share = (
        (application.offer_monthly_payment / income * 100).quantize(Decimal("1"))
        if schedule and income > 0
        else None
    )
    return render(
        request,
        "installments/negotiation.html",
        {
            "application": application,
            "schedule": schedule,
            "income_share": share,
            "document_form": document_form,
            "accept_form": accept_form,
            "next_steps": refusal_steps(application.plan, negotiate=False)
            if application.state == NegotiationState.REJECTED
            else [],
        },
    )

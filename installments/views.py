import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.models import OtpPurpose
from accounts.sms_code import SEND_CODE, send_code, sent_code_json, wants_json
from core.errors import ApplicationError
from core.web import apply_errors
from installments.documents import file_response
from installments.forms import (
    AcceptForm,
    DeclineForm,
    DocumentForm,
    NegotiationForm,
    RestageConfirmForm,
    RestageForm,
)
from installments.freezes import application_freeze, application_freeze_note
from installments.models import InstallmentPlan, NegotiationDocument, NegotiationState, PlanStatus
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.next_steps import refusal_steps
from installments.selectors import (
    EXAMPLE_PRINCIPAL,
    negotiation_for_customer,
    negotiation_status,
    offer_late_cost,
    offer_summary,
    plan_agreement,
    plan_for_customer,
    product_offers,
)
from installments.services import (
    REVIEW_PERMISSION,
    RestageOption,
    negotiation_accept,
    negotiation_apply,
    negotiation_decline,
    negotiation_document_add,
    negotiation_documents_held,
    negotiation_documents_hold,
    negotiation_documents_release,
    negotiation_documents_take,
    negotiation_resubmit,
    negotiation_withdraw,
    plan_restage_confirmed,
    restage_quote,
    restage_refusals,
)
from installments.signals import autodebit_card_for


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


@login_required
@require_GET
def agreement(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """借款协议: the text the customer accepted for this plan, as stored (another customer's plan: 404)."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    return render(request, "installments/agreement.html", {"plan": plan, "agreement": plan_agreement(plan)})


# --- 二次分期 -----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def restage(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Eligibility, the options next to keeping the plan, then a confirmation step with the chosen terms
    and an SMS code; only "confirm" with the right code re-stages (``plan_restage_confirmed``)."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    refusals = restage_refusals(plan)
    quote = None if refusals else restage_quote(plan=plan)
    tenors = [o.tenor for o in quote.options if o.available] if quote else []
    form = RestageForm(tenors=tenors)
    context: dict[str, object] = {
        "plan": plan,
        "refusals": refusals,
        "quote": quote,
        "next_steps": refusal_steps(plan, restage=False) if refusals else [],
    }
    if request.method == "POST" and quote:
        action = request.POST.get("action", "")
        if action == "choose":
            form = RestageForm(request.POST, tenors=tenors)
            if form.is_valid():
                tenor = form.cleaned_data["tenor"]
                confirm = RestageConfirmForm(initial={"tenor": tenor}, tenors=tenors)
                return _restage_confirm(request, plan, context, quote.option(tenor), confirm)
        elif action in (SEND_CODE, "confirm"):
            confirm = RestageConfirmForm(request.POST, tenors=tenors)
            tenor = request.POST.get("tenor", "")
            option = quote.option(int(tenor)) if tenor.isdigit() else None
            if action == SEND_CODE and option is not None:
                sent = send_code(request, OtpPurpose.RESTAGE)
                if wants_json(request):
                    return sent_code_json(request, sent)
                confirm = RestageConfirmForm(initial={"tenor": option.tenor}, tenors=tenors)
                return _restage_confirm(request, plan, context, option, confirm, code_sent=sent.ok)
            if option is not None and confirm.is_valid():
                try:
                    new_plan = plan_restage_confirmed(
                        customer=request.user,
                        plan_id=plan.pk,
                        tenor=option.tenor,
                        otp_code=confirm.cleaned_data["code"],
                    )
                except ApplicationError as exc:
                    apply_errors(confirm, exc, rename={"otp": "code"})
                else:
                    messages.success(request, _("Your secondary installment plan is active."))
                    return redirect("repayments:plan", public_id=new_plan.public_id)
            if option is not None:
                return _restage_confirm(request, plan, context, option, confirm)
    return render(request, "installments/restage.html", {**context, "form": form})


def _restage_confirm(
    request: AuthenticatedHttpRequest,
    plan: InstallmentPlan,
    context: dict[str, object],
    option: RestageOption | None,
    form: RestageConfirmForm,
    *,
    code_sent: bool = False,
) -> HttpResponse:
    if option is None:  # a tenor no longer on offer: back to the comparison
        return redirect("installments:restage", public_id=plan.public_id)
    return render(
        request,
        "installments/restage_confirm.html",
        {**context, "option": option, "form": form, "code_sent": code_sent},
    )


# --- 协商还款 -----------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def negotiate(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Apply for 协商还款. Eligibility comes first: a plan that is not overdue, or one with an application
    already open, gets the reason and where to go instead of a form. Files that pass the checks are held
    (``negotiation_documents_hold``) and carried by token, so a form error never asks for them again."""
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    open_application = plan.negotiations.filter(state__in=OPEN_NEGOTIATION_STATES).first()
    if open_application is not None or plan.status != PlanStatus.OVERDUE:
        return render(
            request,
            "installments/negotiate.html",
            {"plan": plan, "open_application": open_application, "restage_ok": not restage_refusals(plan)},
        )
    form = NegotiationForm(
        request.POST if request.method == "POST" else None, initial={"requested_tenor": 12}
    )
    held = []
    if request.method == "POST":
        held = negotiation_documents_held(customer=request.user, tokens=request.POST.getlist("held"))
        new, file_errors = negotiation_documents_hold(
            customer=request.user, uploads=request.FILES.getlist("documents")
        )
        held += new
        valid = form.is_valid()
        for message in file_errors:
            form.add_error("documents", message)
        if len(held) > settings.NEGOTIATION_DOCUMENT_MAX_FILES:
            form.add_error(
                "documents", _("At most %(n)s files.") % {"n": settings.NEGOTIATION_DOCUMENT_MAX_FILES}
            )
        if valid and form.is_valid():
            data = form.cleaned_data
            try:
                application = negotiation_apply(
                    customer=request.user,
                    plan_id=plan.pk,
                    reason=data["reason"],
                    reason_detail=data["reason_detail"],
                    monthly_income=data["monthly_income"],
                    affordable_payment=data["affordable_payment"],
                    employer=data["employer"],
                    requested_tenor=data["requested_tenor"],
                    documents=negotiation_documents_take(customer=request.user, held=held),
                    autodebit_opt_in=data["autodebit_during_review"],
                )
            except ApplicationError as exc:
                # The service names fields as the model and the API do; the form's box is shorter.
                apply_errors(form, exc, rename={"affordable_monthly_payment": "affordable_payment"})
            else:
                negotiation_documents_release(customer=request.user, held=held)
                messages.success(
                    request, _("Your application is submitted. We reply by SMS within 3 working days.")
                )
                freeze = application_freeze(application)
                if freeze is not None:
                    messages.info(
                        request,
                        _("Penalties are paused until %(date)s while your application is reviewed.")
                        % {"date": date_format(freeze.planned_end, "Y-m-d")},
                    )
                else:
                    messages.warning(request, application_freeze_note(application) or "")
                return redirect("installments:negotiation", public_id=application.public_id)
    return render(request, "installments/negotiate.html", {"plan": plan, "form": form, "held": held})


@login_required
@require_http_methods(["GET", "POST"])
def negotiation(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The application's status and timeline; more documents while it is with us; the offer with accept
    (SMS code, optional auto-debit) or decline, which asks for confirmation before it is final."""
    application = negotiation_for_customer(customer=request.user, public_id=public_id)
    card = autodebit_card_for(customer=request.user, plan=application.plan)
    document_form = DocumentForm()
    accept_form = AcceptForm(initial={"autodebit": card is not None})
    confirm_decline = confirm_withdraw = code_sent = False
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
            elif action == SEND_CODE:
                sent = send_code(request, OtpPurpose.ACCEPT_NEGOTIATION)
                if wants_json(request):
                    return sent_code_json(request, sent)
                code_sent = sent.ok
                # The tick as the customer left it (an unticked box is absent from the post).
                accept_form = AcceptForm(
                    initial={"code": "", "autodebit": request.POST.get("autodebit") in ("on", "true", "1")}
                )
            elif action == "accept":
                accept_form = AcceptForm(request.POST)
                if accept_form.is_valid():
                    new_plan = negotiation_accept(
                        customer=request.user,
                        application_id=application.public_id,
                        otp_code=accept_form.cleaned_data["code"],
                        autodebit=accept_form.cleaned_data["autodebit"],
                    )
                    messages.success(request, _("Your negotiated plan is active."))
                    return redirect("repayments:plan", public_id=new_plan.public_id)
            elif action == "withdraw":
                confirm_withdraw = True  # ask first: withdrawing is final
            elif action == "withdraw_confirm":
                negotiation_withdraw(customer=request.user, application_id=application.public_id)
                messages.info(request, _("You withdrew the application. Penalties are no longer paused."))
                return redirect("installments:negotiation", public_id=application.public_id)
            elif action == "decline":
                confirm_decline = True  # ask first: declining is final
            elif action == "decline_confirm":
                if DeclineForm(request.POST).is_valid():
                    negotiation_decline(customer=request.user, application_id=application.public_id)
                    messages.info(request, _("You declined the offer."))
                    return redirect("installments:negotiation", public_id=application.public_id)
                confirm_decline = True
        except ApplicationError as exc:
            target = {"document": document_form, "accept": accept_form}.get(action or "")
            if target is not None:
                apply_errors(target, exc, rename={"otp": "code", "documents": "document"})
            else:
                messages.error(request, exc.message)
        application = negotiation_for_customer(customer=request.user, public_id=public_id)
    offer = offer_summary(application)
    income = application.declared_monthly_income
    share = (offer.usual_payment / income * 100).quantize(Decimal("1")) if offer and income > 0 else None
    return render(
        request,
        "installments/negotiation.html",
        {
            "application": application,
            "status": negotiation_status(application),
            "offer": offer,
            "late_cost": offer_late_cost(application) if offer else None,
            "income_share": share,
            "document_form": document_form,
            "accept_form": accept_form,
            "next_steps": refusal_steps(application.plan, negotiate=False)
            if application.state == NegotiationState.REJECTED
            else [],
            "autodebit_card": card,
            "confirm_decline": confirm_decline,
            "confirm_withdraw": confirm_withdraw,
            "freeze": application_freeze(application),
            "code_sent": code_sent,
        },
    )

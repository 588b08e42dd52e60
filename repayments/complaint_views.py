"""投诉与建议 (我的账户): the customer's complaints, a new one, and one complaint with its state, deadline and
decision. Views parse input, call one service or selector and render; another customer's id is a 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthenticatedHttpRequest
from core.errors import ApplicationError
from core.web import apply_errors
from installments.documents import file_response
from repayments.complaint_forms import ComplaintDocumentForm, ComplaintForm
from repayments.complaint_selectors import complaint_days_left, complaint_for_customer, customer_complaints
from repayments.models import ComplaintChannel, ComplaintDocument
from repayments.services import HANDLE_COMPLAINT_PERMISSION, complaint_document_add, complaint_file


@login_required
@require_GET
def complaints(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows = list(customer_complaints(customer=request.user))
    return render(request, "repayments/complaints.html", {"complaints": rows})


@login_required
@require_http_methods(["GET", "POST"])
def complaint_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ComplaintForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        customer=request.user,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            complaint = complaint_file(
                customer=request.user,
                channel=ComplaintChannel.WEB,
                category=data["category"],
                text=data["text"],
                plan_id=data["plan"] or None,
                repayment_id=data["repayment"] or None,
                documents=data["documents"] or [],
            )
        except ApplicationError as exc:
            apply_errors(form, exc, rename={"plan_id": "plan", "repayment_id": "repayment"})
        else:
            messages.success(
                request,
                _("Your complaint %(ref)s is received. We answer by %(date)s and tell you by SMS.")
                % {"ref": complaint.reference, "date": date_format(complaint.deadline)},
            )
            return redirect("repayments:complaint", public_id=complaint.public_id)
    return render(request, "repayments/complaint_new.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def complaint_detail(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    complaint = complaint_for_customer(customer=request.user, public_id=public_id)
    form = ComplaintDocumentForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            for upload in form.cleaned_data["documents"]:
                complaint_document_add(customer=request.user, complaint=complaint, upload=upload)
        except ApplicationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Attachment added."))
            return redirect("repayments:complaint", public_id=complaint.public_id)
    context = {
        "complaint": complaint,
        "days_left": complaint_days_left(complaint),
        "document_form": form,
    }
    return render(request, "repayments/complaint.html", context)


@login_required
@require_GET
def complaint_document(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponseBase:
    """An attachment, to its owner or to staff who handle complaints; anyone else gets 404."""
    document = get_object_or_404(ComplaintDocument.objects.select_related("complaint"), public_id=public_id)
    is_owner = document.complaint.customer_id == request.user.pk
    if not (is_owner or (request.user.is_staff and request.user.has_perm(HANDLE_COMPLAINT_PERMISSION))):
        raise Http404
    return file_response(document)

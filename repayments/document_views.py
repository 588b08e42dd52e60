"""Customer documents on the web: 还款凭证 (receipt page and PDF), 账单明细 (statement page, PDF, CSV),
结清证明 (payoff certificate page and PDF) and the public /verify/<code>/ check.

Views parse input, call one selector or service and render; every object is looked up through the
signed-in customer (another customer's id is a 404). Files are written in the customer's language.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthenticatedHttpRequest
from accounts.ratelimit import limits_hit
from core.client_ip import client_ip
from core.errors import ApplicationError
from installments.models import InstallmentPlan, PayoffCertificate, PlanStatus
from installments.selectors import certificate_check, customer_statement, plan_for_customer
from installments.services import payoff_certificate_issue
from repayments.document_forms import StatementForm
from repayments.documents import certificate_pdf, receipt_pdf, statement_csv, statement_pdf
from repayments.selectors import repayment_receipt


def file_response(content: bytes | str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- 还款凭证 ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def receipt(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    return render(
        request,
        "repayments/receipt.html",
        {"receipt": repayment_receipt(customer=request.user, public_id=public_id)},
    )


@login_required
@require_GET
def receipt_file(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    found = repayment_receipt(customer=request.user, public_id=public_id)
    return file_response(
        receipt_pdf(found, language=request.user.language),
        content_type="application/pdf",
        filename=f"receipt-{found.short_reference}.pdf",
    )


# --- 账单明细 ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def statement(request: AuthenticatedHttpRequest, fmt: str = "html") -> HttpResponse:
    plans = list(request.user.plans.order_by("-created_at"))
    form = StatementForm(request.GET or StatementForm.defaults(plans), plans=plans)
    if not form.is_valid():
        if fmt != "html":
            return redirect(f"{reverse('repayments:statement')}?{request.GET.urlencode()}")
        return render(request, "repayments/statement.html", {"form": form, "statement": None})
    plan = next((p for p in plans if str(p.public_id) == form.cleaned_data["plan"]), None)
    found = customer_statement(
        customer=request.user,
        plan=plan,
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
    )
    name = f"statement-{found.date_from:%Y%m%d}-{found.date_to:%Y%m%d}"
    if fmt == "pdf":
        return file_response(
            statement_pdf(found, language=request.user.language),
            content_type="application/pdf",
            filename=f"{name}.pdf",
        )
    if fmt == "csv":
        # With a byte-order mark, so a spreadsheet opened by double-click reads the Chinese right.
        return file_response(
            "\ufeff" + statement_csv(found, language=request.user.language),
            content_type="text/csv; charset=utf-8",
            filename=f"{name}.csv",
        )
    query = urlencode(
        {"plan": form.cleaned_data["plan"], "date_from": found.date_from, "date_to": found.date_to}
    )
    return render(request, "repayments/statement.html", {"form": form, "statement": found, "query": query})


# --- 结清证明 ---------------------------------------------------------------------------------------------


def _verify_url(request: HttpRequest, certificate: PayoffCertificate) -> str:
    return request.build_absolute_uri(reverse("repayments:verify", args=[certificate.code]))


def _certificate(plan: InstallmentPlan) -> PayoffCertificate | None:
    """The plan's certificate, issued on the first request once the plan is paid off (idempotent)."""
    if plan.status != PlanStatus.PAID_OFF:
        return None
    return payoff_certificate_issue(plan=plan)


@login_required
@require_GET
def certificate(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    found = _certificate(plan)
    return render(
        request,
        "repayments/certificate.html",
        {
            "plan": plan,
            "certificate": found,
            "verify_url": _verify_url(request, found) if found else "",
        },
        status=200 if found else 409,
    )


@login_required
@require_GET
def certificate_file(request: AuthenticatedHttpRequest, public_id: uuid.UUID) -> HttpResponse:
    plan = plan_for_customer(customer=request.user, public_id=public_id)
    found = _certificate(plan)
    if found is None:
        raise Http404
    return file_response(
        certificate_pdf(found, customer=request.user, verify_url=_verify_url(request, found)),
        content_type="application/pdf",
        filename=f"{found.number}.pdf",
    )


@require_http_methods(["GET", "HEAD"])
def verify(request: HttpRequest, code: str = "") -> HttpResponse:
    """Public (no sign-in): whether a certificate is valid, its number, issue date and the masked name.
    Every check counts against the client's address and the site (``CERTIFICATE_VERIFY_LIMITS``), so
    codes cannot be tried in bulk; a code typed into the form is sent on to its own address."""
    if not code:
        typed = request.GET.get("code", "").strip()
        if typed:
            return redirect("repayments:verify", code=typed[:32])
        return render(request, "repayments/verify.html", {"code": "", "check": None, "asked": False})
    try:
        limits_hit(
            step="check",
            limits=settings.CERTIFICATE_VERIFY_LIMITS,
            address=client_ip(request),
            prefix="verify",
        )
    except ApplicationError as exc:
        response = render(
            request,
            "repayments/verify.html",
            {"code": code, "error": exc.message, "asked": False},
            status=429,
        )
        response["Retry-After"] = exc.fields.get("retry_after", "60")
        return response
    check = certificate_check(code=code)
    response = render(
        request,
        "repayments/verify.html",
        {"code": code, "check": check, "asked": True},
        status=200 if check else 404,
    )
    response["X-Robots-Tag"] = "noindex"
    return response

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from installments.models import NegotiationDocument
from installments.selectors import EXAMPLE_PRINCIPAL, product_offers
from installments.services.negotiation import REVIEW_PERMISSION


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "installments/home.html",
        {"offers": product_offers(), "example_principal": EXAMPLE_PRINCIPAL},
    )


def negotiation_document(request: HttpRequest, public_id: str) -> HttpResponse:
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
    response = FileResponse(
        document.file.open("rb"),
        content_type=document.content_type,
        as_attachment=True,
        filename=document.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response

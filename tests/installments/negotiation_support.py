"""Shared by the negotiation tests: valid sample documents, an upload helper, staff users, applying, an
offer."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from accounts.models import User
from installments.models import InstallmentPlan, NegotiationApplication
from installments.services import (
    OfferTerms,
    negotiation_apply,
    negotiation_make_offer,
    negotiation_offer_preview,
    negotiation_start_review,
)
from tests.factories import StaffFactory

PAGE_TEXT = b"BT /F1 12 Tf 72 720 Td (payslip) Tj ET"


def make_pdf(*, content: bytes = PAGE_TEXT, catalog: dict | None = None) -> bytes:
    """A real one-page PDF written by pypdf; ``catalog`` adds raw entries to its catalog (for attacks)."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    stream = DecodedStreamObject()
    stream.set_data(content)
    page[NameObject("/Contents")] = writer._add_object(stream)
    for key, value in (catalog or {}).items():
        writer._root_object[NameObject(key)] = value
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_image(fmt: str = "JPEG", size: tuple[int, int] = (8, 6), **save: object) -> bytes:
    """A real image written by Pillow; ``save`` passes options (a JPEG ``comment``, a PNG ``pnginfo``)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()


PDF = make_pdf()
JPEG = make_image("JPEG")
PNG = make_image("PNG")


def upload(name: str = "payslip.pdf", body: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type="application/octet-stream")


def stored_files() -> list[Path]:
    root = Path(settings.PRIVATE_MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def staff_user(phone: str, *groups: str) -> User:
    return StaffFactory(phone=phone, groups=groups)


def apply(plan: InstallmentPlan, **kwargs) -> NegotiationApplication:
    values = {
        "customer": plan.customer,
        "plan_id": plan.pk,
        "reason": "income_drop",
        "monthly_income": "6000.00",
        "requested_tenor": 12,
        "employer": "某某科技",
        "documents": [upload()],
    }
    values.update(kwargs)
    return negotiation_apply(**values)


def offered(application, agent, **terms) -> NegotiationApplication:
    negotiation_start_review(staff=agent, application=application)
    values = {"tenor": 12, "fee_rate": Decimal("0.004"), "penalty_waiver": Decimal("0")}
    values.update(terms)
    return send_offer(agent, application, OfferTerms(**values))


def send_offer(
    agent: User, application: NegotiationApplication, terms: OfferTerms | None = None, note: str = ""
) -> NegotiationApplication:
    """Make an offer as the offer page does: preview the terms, then send them with the preview's hash."""
    terms = terms or OfferTerms(12, Decimal("0.004"), Decimal("0"))
    preview = negotiation_offer_preview(application=application, terms=terms)
    return negotiation_make_offer(
        staff=agent, application=application, terms=terms, previewed_hash=preview.terms_hash, note=note
    )

"""Finding 10 of the 2026-11-30 review: polyglot uploads and customer-chosen names.

Each polyglot of the review is refused (or, for images, re-encoded so nothing rides along); what is
served goes out as an attachment under a safe name with the extension of the type we found."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image, PngImagePlugin
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from rest_framework.test import APIClient

from core.errors import ApplicationError
from installments.documents import DocumentError, download_name, verify
from installments.models import NegotiationApplication, NegotiationDocument
from tests.installments.negotiation_support import (
    PDF,
    apply,
    make_image,
    make_pdf,
    stored_files,
    upload,
)

SCRIPT = b"<html><body><script>alert(document.domain)</script></body></html>"


def _js_action(kind: str = "/JavaScript") -> DictionaryObject:
    return DictionaryObject(
        {
            NameObject("/S"): NameObject(kind),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )


def _pdf_html_after_first_kb() -> bytes:
    # The review's payslip.html: "%PDF-1.4\n%" + 1,100 x "A" + a page + a valid PDF tail.
    return b"%PDF-1.4\n%" + b"A" * 1100 + b"\n%" + SCRIPT + b"\n" + PDF[len(b"%PDF-1.3\n") :]


def _png_with_text(key: str, value: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return make_image("PNG", pnginfo=info)


POLYGLOTS = {
    "pdf_html_after_first_kb": ("payslip.html", _pdf_html_after_first_kb),
    "jpeg_html_in_comment": ("x.html", lambda: make_image("JPEG", comment=SCRIPT)),
    "pdf_openaction_javascript": ("p.pdf", lambda: make_pdf(catalog={"/OpenAction": _js_action()})),
    # "#61" is "a": hidden from a byte scan, seen by the parser.
    "pdf_obfuscated_javascript": (
        "p.pdf",
        lambda: (
            make_pdf(catalog={"/OpenAction": _js_action()})
            .replace(b"/JavaScript", b"/J#61vaScript")
            .replace(b"/JS ", b"/J#53 ")
        ),
    ),
    "pdf_launch_action": ("p.pdf", lambda: make_pdf(catalog={"/OpenAction": _js_action("/Launch")})),
    "pdf_embedded_file": (
        "p.pdf",
        lambda: make_pdf(
            catalog={
                "/Names": DictionaryObject(
                    {NameObject("/EmbeddedFiles"): DictionaryObject({NameObject("/Names"): ArrayObject()})}
                )
            }
        ),
    ),
    "pdf_markup_in_page": ("p.pdf", lambda: make_pdf(content=b"BT (" + SCRIPT + b") Tj ET")),
    "png_script_in_text_chunk": ("x.png", lambda: _png_with_text("Comment", SCRIPT.decode())),
    "jpeg_truncated_pixels": ("x.jpg", lambda: make_image("JPEG", size=(64, 64))[:400] + b"\xff\xd9"),
    "pdf_unparseable": ("p.pdf", lambda: b"%PDF-1.4\n1 0 obj <<< garbage\n%%EOF\n"),
}


@pytest.mark.parametrize("case", sorted(POLYGLOTS))
def test_each_polyglot_is_refused_and_nothing_is_kept(late_plan, case) -> None:
    name, make = POLYGLOTS[case]
    before = stored_files()
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, documents=[upload(), upload(name, make())])
    assert exc.value.code == "invalid_file", case
    assert NegotiationApplication.objects.count() == 0
    assert stored_files() == before


@pytest.mark.parametrize("name", ["payslip\u202efdp.exe", "x.pdf\x00.html", "a\u200bb.pdf", "a\u2028.pdf"])
def test_names_with_direction_or_invisible_characters_are_refused(late_plan, name) -> None:
    with pytest.raises(ApplicationError) as exc:
        apply(late_plan, documents=[upload(name, PDF)])
    assert exc.value.code == "invalid_file_name"


def test_images_are_reencoded_without_their_metadata(late_plan) -> None:
    jpeg = make_image("JPEG", size=(40, 30), comment=b"secret-comment-42")
    png = _png_with_text("Comment", "secret-text-42")
    application = apply(late_plan, documents=[upload("a.jpg", jpeg), upload("b.png", png)])
    stored = {d.content_type: d for d in application.documents.all()}
    for content_type, marker in (("image/jpeg", b"secret-comment-42"), ("image/png", b"secret-text-42")):
        document = stored[content_type]
        body = document.file.read()
        assert marker not in body
        assert document.size == len(body)
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (40, 30) if content_type == "image/jpeg" else image.size == (8, 6)
            assert "comment" not in image.info
            assert "Comment" not in image.info


def test_a_real_pdf_is_kept_as_sent(late_plan) -> None:
    application = apply(late_plan, documents=[upload("工资单.pdf", PDF)])
    document = application.documents.get()
    assert document.file.read() == PDF


def test_polyglot_through_the_api_is_a_json_422(late_plan) -> None:
    client = APIClient()
    client.force_authenticate(late_plan.customer)
    response = client.post(
        "/api/v1/negotiations/",
        {
            "plan_id": str(late_plan.public_id),
            "reason": "income_drop",
            "monthly_income": "6000.00",
            "requested_tenor": 12,
            "documents": [upload("payslip.html", _pdf_html_after_first_kb())],
        },
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid_file"


@pytest.mark.parametrize(
    ("original", "content_type", "served"),
    [
        ("payslip.html", "application/pdf", "payslip.pdf"),
        ("payslip\u202efdp.exe", "application/pdf", "payslip_fdp.pdf"),
        ("x.pdf\x00.html", "image/png", "x_pdf.png"),
        ("工资单 2026-10.jpeg", "image/jpeg", "工资单_2026-10.jpg"),
        ('a"b;c\r\nd.pdf', "application/pdf", "a_b_c_d.pdf"),
        ("...", "application/pdf", "document.pdf"),
        ("évil.svg", "image/png", "vil.png"),
    ],
)
def test_download_names_are_safe_with_our_extension(original, content_type, served) -> None:
    assert download_name(original, content_type) == served


def test_staff_download_is_an_attachment_under_our_name(client, agent, late_plan) -> None:
    application = apply(late_plan, documents=[upload("payslip.html", PDF)])
    # A document stored before these checks, under a crafted name, is served safely all the same.
    legacy = NegotiationDocument(
        application=application,
        original_name="payslip\u202efdp.exe",
        content_type="application/pdf",
        size=len(PDF),
        sha256="0" * 64,
        uploaded_by=late_plan.customer,
    )
    legacy.file.save("x", ContentFile(PDF), save=False)
    legacy.save()
    client.force_login(agent)
    for document, name in ((application.documents.first(), "payslip.pdf"), (legacy, "payslip_fdp.pdf")):
        response = client.get(reverse("installments:negotiation_document", args=[document.public_id]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == PDF


def test_verify_refuses_markup_anywhere_in_a_large_pdf() -> None:
    body = make_pdf(content=b"BT ET" + b" " * 200_000 + b"%<svg onload=alert(1)>")
    with pytest.raises(DocumentError) as exc:
        verify(body)
    assert exc.value.code == "invalid_file"

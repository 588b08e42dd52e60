"""What an uploaded proof document really is, decided by its bytes (never by its name or declared type).

Accepted: PDF, JPEG and PNG whose structure holds from the first byte to the last: the signature at the
start, and the format's end marker where the format has one. A file that is two formats at once (a
polyglot: a PDF hidden behind image bytes, script after the end marker) is refused by the end checks.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import FileResponse

    from installments.models import NegotiationDocument

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_BAD_NAME = re.compile(r"[\\/\x00-\x1f\x7f]|^\.|\.\.")


class DocumentError(ValueError):
    """Refused upload; ``code`` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    name: str


def clean_name(name: str) -> str:
    """The name the customer gave, for display only. Path parts, control characters and leading dots
    are refused rather than silently cut, so a traversal attempt is visible as an error."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name or len(name) > 120 or _BAD_NAME.search(name):
        raise DocumentError("invalid_file_name", "The file name is not acceptable.")
    return name


def sniff(head: bytes, tail: bytes) -> str:
    """The content type from the first and last bytes of a file, or DocumentError."""
    if head.startswith(b"%PDF-"):
        # Trailing whitespace after %%EOF is allowed by readers; anything else is a second payload.
        if b"%%EOF" not in tail[-1024:] or tail.rstrip()[-5:] != b"%%EOF":
            raise DocumentError("invalid_file", "This PDF is damaged or has data after its end.")
        if any(marker in head[:1024] for marker in (b"<html", b"<script", b"<svg")):
            raise DocumentError("invalid_file", "This file mixes formats.")
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        if tail.rstrip(b"\x00")[-2:] != b"\xff\xd9":
            raise DocumentError("invalid_file", "This JPEG is damaged or has data after its end.")
        if b"%PDF-" in head[:1024] or b"%PDF-" in tail:
            raise DocumentError("invalid_file", "This file mixes formats.")
        return JPEG
    if head.startswith(_PNG_SIGNATURE):
        if head[12:16] != b"IHDR" or not tail.endswith(_PNG_IEND):
            raise DocumentError("invalid_file", "This PNG is damaged or has data after its end.")
        return PNG
    raise DocumentError("unsupported_file_type", "Only PDF, JPEG or PNG files are accepted.")


def file_response(document: NegotiationDocument) -> FileResponse:
    """A stored proof document as a download, the one way every surface serves one (the API's
    ``negotiations/{id}/documents/{id}/``): an attachment in the stored (sniffed) type, nothing a
    browser may sniff, render or cache. The document-serving hardening of issue 15 point 12 owns this
    function's body (safe download name, our extension); callers stay thin and only pass the document."""
    from django.http import FileResponse

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

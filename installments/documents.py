"""What an uploaded proof document really is, decided by PARSING its bytes (never by its name or type).

Accepted: PDF, JPEG and PNG. A file is checked in three steps, and refused at the first that fails:

1. its signature and end marker (the format's structure holds from the first byte to the last);
2. no markup anywhere in the bytes (``<html``, ``<script``, ``<svg``...): a file that is also a web page
   (a polyglot) is refused wherever the page hides, not only in the first kilobyte;
3. a real parser opens it: pypdf reads the PDF's every object, and a PDF with JavaScript, launch or
   submit actions, embedded files or XFA forms is refused; Pillow decodes the whole image, which is then
   RE-ENCODED, so whatever rode along in comments, EXIF, ICC or text chunks is not what we store.

What we store is named by us (``NegotiationDocument.file``) and served by :func:`file_response` as an
attachment, under a name reduced to safe characters with OUR extension for the type we found.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from django.core.files.base import File
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from django.utils.translation import gettext as _

from core.error_codes import ErrorCode
from installments.errors import InstallmentsError

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_BAD_NAME = re.compile(r"[\\/]|^\.|\.\.")
# Markup a browser (or a mail client, or an Office viewer) would render; case-insensitive, anywhere.
_MARKUP = re.compile(
    rb"<\s*(?:html|script|svg|body|head|iframe|frame|object|embed|img|meta|link|style|form|a\s|base|"
    rb"!doctype|\?php)|javascript\s*:|vbscript\s*:",
    re.IGNORECASE,
)
# PDF names that run code, open other files or carry files; checked on every parsed object.
_PDF_BAD_KEYS = {"/JS", "/JavaScript", "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/XFA", "/RichMedia"}
_PDF_BAD_ACTIONS = {
    "/JavaScript",
    "/Launch",
    "/SubmitForm",
    "/ImportData",
    "/GoToE",
    "/GoToR",
    "/RichMediaExecute",
    "/Rendition",
    "/Sound",
    "/Movie",
}
# The same names as they appear in the raw bytes, for objects no reference reaches (a reader could
# still find them by scanning); "#" escapes are decoded by the parser step, so they are not missed there.
_PDF_BAD_RAW = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|XFA|RichMedia)(?![A-Za-z0-9])")
_PDF_MAX_OBJECTS = 100_000
# A decoded image takes width x height x 4 bytes; 40 megapixels (160 MB) is more than any phone photo.
MAX_PIXELS = 40_000_000
# What a download name may keep: ASCII letters and digits, "-", "_", and CJK ideographs (工资单).
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-\u3400-\u4dbf\u4e00-\u9fff]+")


class DocumentError(ValueError):
    """Refused upload; ``code`` is stable for clients."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Verified:
    """A document that passed every check: its type and the bytes to store (re-encoded for images)."""

    content_type: str
    body: bytes


def clean_name(name: str) -> str:
    """The name the customer gave, for display only. Path parts, control and format characters (NUL,
    the right-to-left override that shows "payslip\u202efdp.exe" as "payslipexe.pdf") and leading dots
    are refused rather than silently cut, so a crafted name is visible as an error."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if (
        not name
        or len(name) > 120
        or _BAD_NAME.search(name)
        or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in name)
    ):
        raise DocumentError(InstallmentsError.INVALID_FILE_NAME, _("The file name is not acceptable."))
    return name


def download_name(original_name: str, content_type: str) -> str:
    """The name a download is saved under: the customer's name reduced to safe characters, with the
    extension of the type WE found ("payslip.html" holding a PDF downloads as "payslip.pdf")."""
    stem = unicodedata.normalize("NFC", original_name or "").rsplit(".", 1)[0]
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip("_-")[:60] or "document"
    return stem + EXTENSIONS.get(content_type, ".bin")


def sniff(head: bytes, tail: bytes) -> str:
    """The content type from the first and last bytes of a file, or DocumentError."""
    if head.startswith(b"%PDF-"):
        # Trailing whitespace after %%EOF is allowed by readers; anything else is a second payload.
        if b"%%EOF" not in tail[-1024:] or tail.rstrip()[-5:] != b"%%EOF":
            raise DocumentError(
                InstallmentsError.INVALID_FILE, _("This PDF is damaged or has data after its end.")
            )
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        if tail.rstrip(b"\x00")[-2:] != b"\xff\xd9":
            raise DocumentError(
                InstallmentsError.INVALID_FILE, _("This JPEG is damaged or has data after its end.")
            )
        if b"%PDF-" in head[:1024] or b"%PDF-" in tail:
            raise DocumentError(InstallmentsError.INVALID_FILE, _("This file mixes formats."))
        return JPEG
    if head.startswith(_PNG_SIGNATURE):
        if head[12:16] != b"IHDR" or not tail.endswith(_PNG_IEND):
            raise DocumentError(
                InstallmentsError.INVALID_FILE, _("This PNG is damaged or has data after its end.")
            )
        return PNG
    raise DocumentError(
        InstallmentsError.UNSUPPORTED_FILE_TYPE, _("Only PDF, JPEG or PNG files are accepted.")
    )


def verify(body: bytes) -> Verified:
    """Every check on a whole file; the bytes to store, or DocumentError."""
    content_type = sniff(body[:4096], body[-4096:])
    if _MARKUP.search(body):
        raise DocumentError(InstallmentsError.INVALID_FILE, _("This file mixes formats."))
    if content_type == PDF:
        _check_pdf(body)
        return Verified(PDF, body)
    return Verified(content_type, _reencode_image(body, content_type))


def _check_pdf(body: bytes) -> None:
    """pypdf opens the file and walks every object; active content or attachments refuse it."""
    # pypdf and Pillow (about 70 ms to import) load when a document is verified, not in every process
    # (the models import this module).
    from pypdf import PdfReader  # noqa: PLC0415
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject  # noqa: PLC0415

    if _PDF_BAD_RAW.search(body):
        raise DocumentError(
            InstallmentsError.INVALID_FILE, _("PDFs with scripts, actions or attachments are not accepted.")
        )
    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            raise DocumentError(InstallmentsError.INVALID_FILE, _("Encrypted PDFs are not accepted."))
        if len(reader.pages) < 1:
            raise DocumentError(InstallmentsError.INVALID_FILE, _("This PDF has no page."))
        ids = {(idnum, gen) for gen, table in reader.xref.items() for idnum in table}
        ids |= {(idnum, 0) for idnum in reader.xref_objStm}
        if len(ids) > _PDF_MAX_OBJECTS:
            raise DocumentError(InstallmentsError.INVALID_FILE, _("This PDF is too complex."))
        roots: list[object] = [reader.trailer]
        roots += [reader.get_object(IndirectObject(idnum, gen, reader)) for idnum, gen in ids]
        seen: set[int] = set()
        stack = roots
        while stack:
            node = stack.pop()
            if isinstance(node, IndirectObject) or id(node) in seen:
                continue  # every indirect object is a root of its own
            seen.add(id(node))
            if isinstance(node, DictionaryObject):
                if _PDF_BAD_KEYS.intersection(node.keys()) or str(node.get("/S", "")) in _PDF_BAD_ACTIONS:
                    raise DocumentError(
                        InstallmentsError.INVALID_FILE,
                        _("PDFs with scripts, actions or attachments are not accepted."),
                    )
                stack.extend(node.values())
            elif isinstance(node, ArrayObject):
                stack.extend(node)
    except DocumentError:
        raise
    except Exception:  # any parser failure on untrusted bytes is a damaged file, never a 500
        raise DocumentError(InstallmentsError.INVALID_FILE, _("This PDF is damaged.")) from None


def _reencode_image(body: bytes, content_type: str) -> bytes:
    """Pillow decodes every pixel, then the image is written anew without metadata: EXIF (after
    applying its rotation), ICC profiles, comments and text chunks are not kept."""
    from PIL import Image, ImageOps  # noqa: PLC0415  (loaded on use, as pypdf above)

    expected = {JPEG: "JPEG", PNG: "PNG"}[content_type]
    try:
        with Image.open(io.BytesIO(body), formats=[expected]) as image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise DocumentError(InstallmentsError.INVALID_FILE, _("This image is too large."))
            image.load()  # decodes everything: a truncated or corrupt image raises here
            upright = ImageOps.exif_transpose(image)
            keep = ("L", "RGB") if content_type == JPEG else ("L", "LA", "RGB", "RGBA")
            clean = upright.convert(upright.mode if upright.mode in keep else keep[-1])
            clean.info = {}  # nothing of the upload's metadata travels into the new file
            out = io.BytesIO()
            if content_type == JPEG:
                clean.save(out, format="JPEG", quality=90, optimize=True)
            else:
                clean.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except DocumentError:
        raise
    except Exception:  # Pillow's errors on crafted input (OSError, SyntaxError, bombs...) all mean damaged
        raise DocumentError(InstallmentsError.INVALID_FILE, _("This image is damaged.")) from None


class StoredDocument(Protocol):
    """What serving a stored document needs: a 协商 proof document or a complaint's attachment."""

    file: FieldFile
    original_name: str
    content_type: str


def checked_upload(upload: File[bytes], *, limit: int) -> tuple[str, Verified]:
    """The upload's cleaned name and its checked content (type sniffed, an image re-encoded), or a
    DocumentError: the one check behind every stored document. The size is read, not trusted
    (``upload.size`` may be missing or wrong): at most the limit and one byte."""
    name = clean_name(upload.name or "")
    upload.seek(0)
    body = upload.read(limit + 1)
    if len(body) > limit:
        raise DocumentError(
            InstallmentsError.FILE_TOO_LARGE,
            _("Each file can be at most %(mb)s MB.") % {"mb": limit // (1024 * 1024)},
        )
    return name, verify(body)


def file_response(document: StoredDocument) -> FileResponse:
    """A stored document as a download, the one way every surface serves one: always an attachment,
    the stored (sniffed) type, our safe name with our extension, nothing a browser may sniff or run."""
    content_type = document.content_type
    if content_type not in EXTENSIONS:
        content_type = "application/octet-stream"
    response = FileResponse(
        document.file.open("rb"),
        content_type=content_type,
        as_attachment=True,
        filename=download_name(document.original_name, document.content_type),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response

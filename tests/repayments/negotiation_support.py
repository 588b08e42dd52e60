"""Shared by the negotiation tests: valid sample documents, an upload helper, staff users, applying."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from installments.models import InstallmentPlan, NegotiationApplication
from installments.services.negotiation import negotiation_apply

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def upload(name: str = "payslip.pdf", body: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type="application/octet-stream")


def stored_files() -> list[Path]:
    root = Path(settings.PRIVATE_MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def staff_user(phone: str, *groups: str) -> User:
    user = User.objects.create_user(phone, "staff-pass-1", real_name="客服", is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return User.objects.get(pk=user.pk)  # fresh permission cache


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

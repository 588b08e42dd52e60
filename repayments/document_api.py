"""API of the customer's documents: a repayment's receipt, the statement, the payoff certificate.

JSON by default; the same answer as a file with ``Accept: application/pdf`` (``text/csv`` for the
statement) or ``?format=pdf`` / ``?format=csv``. Errors stay JSON with the stable ``code`` whatever was
asked for. Everything is looked up through the caller: another customer's id is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from core.api import validated
from core.api_schema import MONEY
from core.errors import ApplicationError
from installments.errors import InstallmentsError
from installments.models import InstallmentPlan, PayoffCertificate
from installments.selectors import CustomerStatement, customer_statement
from installments.services import payoff_certificate_issue
from repayments.document_forms import MAX_STATEMENT_DAYS
from repayments.documents import certificate_pdf, receipt_pdf, statement_csv, statement_pdf
from repayments.selectors import Receipt, repayment_receipt


class _FileRenderer(BaseRenderer):
    """Passes a file's bytes through. An error (a dict) is answered as JSON instead, so a client that
    asked for a file still reads the error's ``code``."""

    charset: str | None = None

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, (bytes, str)):
            return data.encode("utf-8") if isinstance(data, str) else data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data, "application/json", renderer_context)


class PdfRenderer(_FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


class CsvRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"


class _DocumentView(APIView):
    """A view that answers in several formats. An unknown ``?format=`` is a 404 (DRF's rule) for the
    methods the view has; any other method gets its 405, whatever the query says."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        allowed = request.method is not None and request.method.upper() in self.allowed_methods
        return super().perform_content_negotiation(request, force=force or not allowed)


def _wants(request: Request, renderer: type[BaseRenderer]) -> bool:
    return isinstance(getattr(request, "accepted_renderer", None), renderer)


def _file(content: bytes | str, filename: str) -> Response:
    response = Response(content)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


FORMAT = OpenApiParameter(
    "format", str, enum=["json", "pdf"], description="pdf: the PDF (or send Accept: application/pdf)."
)


# --- 还款凭证 ---------------------------------------------------------------------------------------------


class ReceiptLineSerializer(serializers.Serializer):
    installment = serializers.IntegerField(source="sequence")
    due_date = serializers.DateField()
    component = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    waived = serializers.BooleanField()


class ReceiptSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="repayment.public_id")
    plan_id = serializers.UUIDField(source="repayment.plan.public_id")
    amount = serializers.DecimalField(source="repayment.amount", **MONEY)
    settled_at = serializers.DateTimeField(help_text="Beijing time (+08:00).")
    bank = serializers.CharField()
    card_last4 = serializers.CharField(help_text="The last four digits only; never the card number.")
    reference = serializers.CharField(help_text="The repayment's id.")
    bank_reference = serializers.CharField()
    channel = serializers.SerializerMethodField(
        help_text="active: paid by the customer (app, web, transfer); auto_debit: 自动扣款."
    )
    reversed = serializers.SerializerMethodField()
    reversed_at = serializers.DateTimeField(allow_null=True)
    paid = serializers.DecimalField(**MONEY, help_text="Money applied to the installments.")
    waived = serializers.DecimalField(**MONEY, help_text="Fees waived because of this payment.")
    lines = ReceiptLineSerializer(many=True)

    @extend_schema_field(serializers.ChoiceField(choices=["active", "auto_debit"]))
    def get_channel(self, receipt: Receipt) -> str:
        return "auto_debit" if receipt.auto_debit else "active"

    @extend_schema_field(serializers.BooleanField())
    def get_reversed(self, receipt: Receipt) -> bool:
        return receipt.reversed_at is not None


class ReceiptView(_DocumentView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        parameters=[FORMAT],
        responses={
            (200, "application/json"): ReceiptSerializer,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
        summary="还款凭证: a succeeded (or since reversed) repayment's receipt, as JSON or PDF",
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        found = repayment_receipt(customer=request.user, public_id=public_id)
        if _wants(request, PdfRenderer):
            return _file(
                receipt_pdf(found, language=request.user.language), f"receipt-{found.short_reference}.pdf"
            )
        return Response(ReceiptSerializer(found).data)


# --- 账单明细 ---------------------------------------------------------------------------------------------


class _StatementQuery(serializers.Serializer):
    plan = serializers.UUIDField(required=False)
    locals()["from"] = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    format = serializers.ChoiceField(choices=["json", "csv", "pdf"], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and start > end:
            raise serializers.ValidationError({"to": _("The end date must be on or after the start date.")})
        if start and end and (end - start).days > MAX_STATEMENT_DAYS:
            raise serializers.ValidationError({"from": _("A statement covers at most five years.")})
        return attrs


class StatementTotalSerializer(serializers.Serializer):
    category = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, as in core.api.ErrorSerializer
    amount = serializers.DecimalField(**MONEY)


class StatementLineSerializer(serializers.Serializer):
    date = serializers.DateField(source="business_date")
    plan_id = serializers.UUIDField(source="plan.public_id")
    category = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, as in core.api.ErrorSerializer
    reference = serializers.CharField()
    amount = serializers.DecimalField(
        **MONEY, help_text="Positive adds to what is owed; negative takes from it."
    )
    balance = serializers.DecimalField(**MONEY)


class StatementSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    opening_balance = serializers.DecimalField(source="opening", **MONEY)
    totals = serializers.SerializerMethodField()
    closing_balance = serializers.DecimalField(source="closing", **MONEY)
    lines = StatementLineSerializer(source="items", many=True)

    @extend_schema_field(StatementTotalSerializer(many=True))
    def get_totals(self, statement: CustomerStatement) -> Any:
        return StatementTotalSerializer(
            [{"category": c, "label": label, "amount": t} for c, label, t in statement.totals], many=True
        ).data


class StatementView(_DocumentView):
    renderer_classes = [JSONRenderer, PdfRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("plan", str, description="A plan id; all the caller's plans when left out."),
            OpenApiParameter("from", date, description="First business date (default: the first purchase)."),
            OpenApiParameter("to", date, description="Last business date, inclusive (default: today)."),
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv", "pdf"],
                description="Or send Accept: text/csv or application/pdf.",
            ),
        ],
        responses={
            (200, "application/json"): StatementSerializer,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        summary="账单明细: opening balance, movements and closing balance for a date range, per plan or all",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        q = validated(_StatementQuery, request.query_params.dict())
        plans = list(InstallmentPlan.objects.filter(customer=request.user))
        plan = None
        if q.get("plan"):
            plan = next((p for p in plans if p.public_id == q["plan"]), None)
            if plan is None:
                raise Http404
        today = timezone.localdate()
        start = q.get("from") or min((p.purchase_date for p in plans), default=today)
        end = q.get("to") or max(today, start)
        if start > end or (end - start).days > MAX_STATEMENT_DAYS:
            validated(_StatementQuery, {"from": start.isoformat(), "to": end.isoformat()})
        found = customer_statement(customer=request.user, plan=plan, date_from=start, date_to=end)
        name = f"statement-{start:%Y%m%d}-{end:%Y%m%d}"
        if _wants(request, PdfRenderer):
            return _file(statement_pdf(found, language=request.user.language), f"{name}.pdf")
        if _wants(request, CsvRenderer):
            return _file(statement_csv(found, language=request.user.language), f"{name}.csv")
        return Response(StatementSerializer(found).data)


# --- 结清证明 ---------------------------------------------------------------------------------------------


class PayoffCertificateSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField(source="plan.public_id")
    number = serializers.CharField()
    code = serializers.CharField(help_text="The verification code a third party types in at verify_url.")
    issued_at = serializers.DateTimeField()
    valid = serializers.BooleanField(source="is_valid")
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_reason = serializers.CharField()
    verify_url = serializers.SerializerMethodField()

    def get_verify_url(self, certificate: PayoffCertificate) -> str:
        request = self.context["request"]
        return request.build_absolute_uri(reverse("repayments:verify", args=[certificate.code]))


class PayoffCertificateView(_DocumentView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    def _plan(self, request: AuthenticatedRequest, public_id: str) -> InstallmentPlan:
        return get_object_or_404(InstallmentPlan, customer=request.user, public_id=public_id)

    def _answer(self, request: AuthenticatedRequest, certificate: PayoffCertificate, code: int) -> Response:
        body = PayoffCertificateSerializer(certificate, context={"request": request}).data
        if _wants(request, PdfRenderer):
            return _file(
                certificate_pdf(certificate, customer=request.user, verify_url=body["verify_url"]),
                f"{certificate.number}.pdf",
            )
        return Response(body, status=code)

    @extend_schema(
        parameters=[FORMAT],
        responses={
            (200, "application/json"): PayoffCertificateSerializer,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
        summary="结清证明: the plan's payoff certificate, once issued (the live one, else the last revoked)",
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = self._plan(request, public_id)
        certificate = (
            PayoffCertificate.objects.filter(plan=plan)
            .select_related("plan")
            .order_by("-issued_at", "-id")
            .first()
        )
        if certificate is None:
            raise ApplicationError(
                InstallmentsError.CERTIFICATE_NOT_ISSUED,
                _("No payoff certificate has been issued for this plan."),
            )
        return self._answer(request, certificate, status.HTTP_200_OK)

    @extend_schema(
        request=None,
        parameters=[FORMAT],
        responses={
            (200, "application/json"): OpenApiResponse(
                PayoffCertificateSerializer, description="Already issued."
            ),
            (201, "application/json"): OpenApiResponse(
                PayoffCertificateSerializer, description="Issued now."
            ),
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (201, "application/pdf"): OpenApiTypes.BINARY,
        },
        summary="结清证明: issue a paid-off plan's certificate (idempotent: one live certificate per plan)",
    )
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = self._plan(request, public_id)
        existed = PayoffCertificate.objects.filter(plan=plan, revoked_at__isnull=True).exists()
        certificate = payoff_certificate_issue(plan=plan)
        return self._answer(request, certificate, status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

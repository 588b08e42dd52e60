"""API: 投诉. A customer files complaints (JSON, or multipart with attachments), lists and reads their own;
another customer's id answers 404. Views parse, call one service, shape the answer."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.idempotency import idempotent
from core.api import validated
from core.api_pagination import NewestFirstCursorPagination, paginated
from core.api_parsers import JSONParser
from core.api_schema import IDEMPOTENCY_HEADER
from core.error_codes import CommonError
from core.errors import ApplicationError
from installments.api import _ContentFromTheFile
from installments.documents import file_response
from repayments.complaint_selectors import complaint_for_customer, customer_complaints
from repayments.models import Complaint, ComplaintCategory, ComplaintChannel, ComplaintDocument
from repayments.services import complaint_document_add, complaint_file


class ComplaintDocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    uploaded_at = serializers.DateTimeField()
    download = serializers.SerializerMethodField(help_text="GET it with the Bearer token: the file.")

    def get_download(self, document: ComplaintDocument) -> str:
        return reverse(
            "api_v1:complaint_document",
            kwargs={"public_id": document.complaint.public_id, "document_id": document.public_id},
        )


class ComplaintSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField(help_text="What to quote to customer service, e.g. TS-1a2b3c4d.")
    channel = serializers.CharField()
    category = serializers.CharField()
    text = serializers.CharField()
    plan_id = serializers.UUIDField(source="plan.public_id", allow_null=True, default=None)
    repayment_id = serializers.UUIDField(source="repayment.public_id", allow_null=True, default=None)
    state = serializers.CharField(help_text="received, investigating, resolved or rejected.")
    received_at = serializers.DateTimeField()
    deadline = serializers.DateField(help_text="The date we answer by (Asia/Shanghai).")
    extension_count = serializers.IntegerField(help_text="0, 1 or 2 approved deadline extensions.")
    decision = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    documents = ComplaintDocumentSerializer(many=True)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decision(self, complaint: Complaint) -> str | None:
        return complaint.decision or None


class ComplaintFileSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=ComplaintCategory.choices)
    text = serializers.CharField(max_length=2000)
    plan_id = serializers.UUIDField(required=False, allow_null=True)
    repayment_id = serializers.UUIDField(required=False, allow_null=True)
    documents = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="PDF, JPEG or PNG; at most 5 files of 5 MB."
    )


class ComplaintPagination(NewestFirstCursorPagination):
    ordering = ("-received_at", "-id")


def _complaint(request: AuthenticatedRequest, public_id: object) -> Complaint:
    return complaint_for_customer(customer=request.user, public_id=str(public_id))


class ComplaintListView(APIView):
    # Attachments come as multipart; JSON is accepted for a complaint without files.
    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = ComplaintPagination

    @extend_schema(responses=ComplaintSerializer(many=True), summary="The caller's complaints (投诉)")
    def get(self, request: AuthenticatedRequest) -> Response:
        rows = (
            customer_complaints(customer=request.user)
            .select_related("repayment")
            .prefetch_related("documents")
        )
        return paginated(self, request, rows, ComplaintSerializer)

    @extend_schema(
        request={"multipart/form-data": ComplaintFileSerializer},
        responses={201: ComplaintSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="File a complaint (multipart with attachments, or JSON without); answered within 15 days",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        v = validated(ComplaintFileSerializer, request.data)
        complaint = complaint_file(
            customer=request.user,
            channel=ComplaintChannel.API,
            category=v["category"],
            text=v["text"],
            plan_id=v.get("plan_id"),
            repayment_id=v.get("repayment_id"),
            documents=request.FILES.getlist("documents"),
        )
        return Response(ComplaintSerializer(_complaint(request, complaint.public_id)).data, status=201)


class ComplaintDetailView(APIView):
    @extend_schema(responses=ComplaintSerializer, summary="A complaint: its state, deadline and decision")
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return Response(ComplaintSerializer(_complaint(request, public_id)).data)


class ComplaintDocumentView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ComplaintDocumentUpload", {"document": serializers.FileField()}
            )
        },
        responses={201: ComplaintDocumentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Add an attachment to an open complaint",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        complaint = _complaint(request, public_id)
        upload = request.FILES.get("document")
        if upload is None:
            raise ApplicationError(
                CommonError.INVALID_REQUEST,
                "Attach the file as 'document'.",
                fields={"document": "Required."},
            )
        document = complaint_document_add(customer=request.user, complaint=complaint, upload=upload)
        return Response(ComplaintDocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class ComplaintDocumentDownloadView(APIView):
    content_negotiation_class = _ContentFromTheFile

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
        },
        summary="Download a complaint's attachment",
    )
    def get(self, request: AuthenticatedRequest, public_id: str, document_id: str) -> FileResponse:
        complaint = _complaint(request, public_id)
        document = get_object_or_404(complaint.documents.all(), public_id=document_id)
        return file_response(document)

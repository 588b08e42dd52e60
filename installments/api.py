"""API: products, quotes, plans, 二次分期, 延期还款 and 协商还款.

Views parse, call one service, shape the answer."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.idempotency import idempotent
from core.api import MoneyField, validated
from core.api_pagination import NewestFirstCursorPagination, paginated
from core.api_parsers import JSONParser
from core.api_schema import IDEMPOTENCY_HEADER, MONEY
from core.error_codes import CommonError
from core.errors import ApplicationError
from installments.documents import file_response
from installments.errors import InstallmentsError
from installments.freezes import application_freeze, application_freeze_note, open_freeze
from installments.models import (
    FreezeReason,
    InstallmentPlan,
    InstallmentProduct,
    NegotiationApplication,
    NegotiationDocument,
    NegotiationReason,
)
from installments.models.plans import CUSTOMER_PLAN_STATUS_CHOICES, PenaltyBase
from installments.selectors import (
    offer_late_cost,
    offer_schedule,
    plan_agreement,
    plan_late_cost,
    quote_late_cost,
)
from installments.services import (
    ExtensionQuote,
    extension_apply,
    extension_quote,
    negotiation_accept,
    negotiation_apply,
    negotiation_decline,
    negotiation_document_add,
    negotiation_resubmit,
    negotiation_withdraw,
    plan_create,
    plan_quote,
    plan_restage_confirmed,
    restage_quote,
)
from installments.signals import autodebit_card_for


def _plan(request: AuthenticatedRequest, public_id: object) -> InstallmentPlan:
    return get_object_or_404(
        InstallmentPlan.objects.select_related("product"), customer=request.user, public_id=public_id
    )


def _product(code: str) -> InstallmentProduct:
    product = InstallmentProduct.objects.filter(code=code, is_active=True).first()
    if product is None:
        raise ApplicationError(
            InstallmentsError.PRODUCT_NOT_FOUND,
            "No such product.",
            fields={"product": "Unknown product code."},
        )
    return product


# --- schedules, products, quotes ------------------------------------------------------------------------


class ScheduleRowSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = serializers.DecimalField(**MONEY)
    fee = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)


class ScheduleSerializer(serializers.Serializer):
    principal = serializers.DecimalField(**MONEY)
    total_fee = serializers.DecimalField(**MONEY)
    total_repayment = serializers.DecimalField(**MONEY)
    apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    rows = ScheduleRowSerializer(many=True)


class ProductSerializer(serializers.ModelSerializer):
    min_principal = serializers.DecimalField(**MONEY)
    max_principal = serializers.DecimalField(**MONEY)
    fee_rate = serializers.DecimalField(max_digits=9, decimal_places=6, coerce_to_string=True)
    max_apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    # Published v1 names of the product's restage terms (the code calls them restage_*).
    reinstallment_allowed = serializers.BooleanField(source="restage_allowed", read_only=True)
    reinstallment_tenors = serializers.ListField(
        source="restage_tenors", child=serializers.IntegerField(), read_only=True
    )

    class Meta:
        model = InstallmentProduct
        fields = [
            "code", "name", "description", "fee_method", "fee_rate", "tenors", "min_principal",
            "max_principal", "max_apr_percent", "grace_days", "reinstallment_allowed", "reinstallment_tenors",
        ]  # fmt: skip


class ProductPagination(NewestFirstCursorPagination):
    ordering = ("code", "id")


class ProductListView(APIView):
    permission_classes = [AllowAny]
    pagination_class = ProductPagination

    @extend_schema(responses=ProductSerializer(many=True), summary="Products offered")
    def get(self, request: Request) -> Response:
        products = InstallmentProduct.objects.filter(is_active=True)
        return paginated(self, request, products, ProductSerializer)


class LateCostRowSerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="Days after the due date the installment is paid.")
    penalty = serializers.DecimalField(help_text="The most penalty those days cost.", **MONEY)
    total = serializers.DecimalField(help_text="The installment plus that penalty.", **MONEY)


class LateCostSerializer(serializers.Serializer):
    """What paying late costs (README "Fair cost"): the same figures as the web pages."""

    daily_penalty_rate = serializers.DecimalField(
        max_digits=9, decimal_places=6, help_text='A fraction a day: "0.000500" is 0.05% a day.'
    )
    annualised_percent = serializers.DecimalField(
        max_digits=7, decimal_places=2, help_text="The daily rate x 365, in percent."
    )
    penalty_base = serializers.ChoiceField(
        choices=PenaltyBase.choices, help_text="What the penalty is charged on; never on penalty."
    )
    cap_amount = serializers.DecimalField(help_text="The most penalty the plan can ever owe.", **MONEY)
    cap_percent = serializers.DecimalField(
        max_digits=6, decimal_places=2, help_text="The cap as a percentage of the principal."
    )
    ceiling_percent = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        help_text="Fees and penalties together never cost more than this a year (IRR, dated flows).",
    )
    grace_days = serializers.IntegerField(help_text="Days after the due date with no penalty.")
    penalty_so_far = serializers.DecimalField(
        help_text="Penalty already charged on the plan (0 on a quote or an offer).", **MONEY
    )
    installment_sequence = serializers.IntegerField(
        allow_null=True, help_text="The installment the table is about; null: nothing left to pay."
    )
    due_date = serializers.DateField(allow_null=True)
    table = LateCostRowSerializer(
        many=True, help_text="If it is paid N days late (1, 7, 30, 90) it costs at most this; empty: none."
    )


class QuoteSerializer(ScheduleSerializer):
    late_cost = LateCostSerializer()


class QuoteRequestSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="A product code from /products/.")
    principal = MoneyField()
    tenor = serializers.IntegerField(min_value=1, max_value=120)


class QuoteView(APIView):
    @extend_schema(
        request=QuoteRequestSerializer,
        responses={200: QuoteSerializer},
        summary="What a purchase would cost: schedule, fee, APR, the cost of paying late (writes nothing)",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        v = validated(QuoteRequestSerializer, request.data)
        quote = plan_quote(product=_product(v["product"]), principal=v["principal"], tenor=v["tenor"])
        schedule = quote.schedule
        return Response(
            QuoteSerializer(
                {
                    "principal": schedule.principal,
                    "total_fee": schedule.total_fee,
                    "total_repayment": schedule.total_repayment,
                    "apr_percent": schedule.apr_percent,
                    "rows": schedule.rows,
                    "late_cost": quote_late_cost(quote),
                }
            ).data
        )


# --- plans ---------------------------------------------------------------------------------------------


class InstallmentSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    status = serializers.CharField()
    principal_due = serializers.DecimalField(**MONEY)
    fee_due = serializers.DecimalField(**MONEY)
    penalty_due = serializers.DecimalField(**MONEY)
    paid = serializers.DecimalField(source="total_paid", **MONEY)
    waived = serializers.DecimalField(source="total_waived", **MONEY)
    outstanding = serializers.DecimalField(
        source="owed",
        help_text="What is left to pay on it; 0 once restructured (the debt lives on the successor plan).",
        **MONEY,
    )


class PlanSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    product = serializers.CharField(source="product.code")
    name = serializers.CharField(source="display_name")
    principal = serializers.DecimalField(**MONEY)
    total_fee = serializers.DecimalField(**MONEY)
    apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    source_plan_id = serializers.UUIDField(source="source_plan.public_id", allow_null=True, default=None)
    status = serializers.ChoiceField(
        source="customer_status",
        choices=CUSTOMER_PLAN_STATUS_CHOICES,
        read_only=True,
        help_text="A plan written off internally is shown as overdue, with contact_us true.",
    )
    contact_us = serializers.BooleanField(
        read_only=True,
        help_text="The plan is overdue and the customer should contact customer service "
        "(no more reminders or auto-debit); it can still be repaid.",
    )
    notice = serializers.SerializerMethodField(
        help_text='What to tell the customer, in the request\'s language ("Overdue, please contact us"), '
        "or null."
    )

    class Meta:
        model = InstallmentPlan
        fields = [
            "id", "product", "kind", "name", "merchant_order_ref", "principal", "tenor", "total_fee",
            "apr_percent", "purchase_date", "first_due_date", "status", "contact_us", "notice",
            "days_past_due", "delinquency_bucket", "source_plan_id", "created_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_notice(self, plan: InstallmentPlan) -> str | None:
        return str(plan.customer_status_label) if plan.contact_us else None


class FreezeSerializer(serializers.Serializer):
    """A hardship freeze (暂停计息) covering today."""

    started_on = serializers.DateField()
    planned_end = serializers.DateField(help_text="Penalties are paused until this day at the latest.")
    reason = serializers.ChoiceField(
        choices=FreezeReason.choices, help_text="negotiation: your 协商 application is reviewed."
    )
    ended_on = serializers.DateField(allow_null=True, help_text="Set once it ended; null while it lasts.")
    autodebit_continues = serializers.BooleanField(source="autodebit_opt_in")


class PlanDetailSerializer(PlanSerializer):
    installments = InstallmentSerializer(many=True)
    late_cost = serializers.SerializerMethodField(
        help_text="What paying the next unpaid installment late costs, under the plan's frozen terms."
    )
    agreement = serializers.SerializerMethodField(
        help_text="GET it with the Bearer token: the loan agreement (借款协议) as accepted."
    )

    extensions_used = serializers.IntegerField(read_only=True, help_text="延期还款 used on this plan.")
    extension_max = serializers.IntegerField(read_only=True, help_text="延期还款 this plan allows in all.")
    freeze = serializers.SerializerMethodField(
        help_text="Penalties paused (暂停计息) while an application or hardship case is reviewed, or null."
    )

    class Meta(PlanSerializer.Meta):
        fields = [
            *PlanSerializer.Meta.fields,
            "installments",
            "late_cost",
            "agreement",
            "extensions_used",
            "extension_max",
            "freeze",
        ]

    @extend_schema_field(LateCostSerializer)
    def get_late_cost(self, plan: InstallmentPlan) -> dict:
        return LateCostSerializer(plan_late_cost(plan)).data

    def get_agreement(self, plan: InstallmentPlan) -> str:
        return reverse("api_v1:plan_agreement", kwargs={"public_id": plan.public_id})

    @extend_schema_field(FreezeSerializer(allow_null=True))
    def get_freeze(self, plan: InstallmentPlan) -> dict | None:
        freeze = open_freeze(plan.pk, today=timezone.localdate())
        return None if freeze is None else FreezeSerializer(freeze).data


class PlanCreateSerializer(serializers.Serializer):
    product = serializers.CharField()
    principal = MoneyField()
    tenor = serializers.IntegerField(min_value=1, max_value=120)
    merchant_order_ref = serializers.CharField(required=False, allow_blank=True, max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class PlanListView(APIView):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(responses=PlanSerializer(many=True), summary="The caller's plans, newest first")
    def get(self, request: AuthenticatedRequest) -> Response:
        plans = InstallmentPlan.objects.filter(customer=request.user).select_related("product", "source_plan")
        return paginated(self, request, plans, PlanSerializer)

    @extend_schema(
        request=PlanCreateSerializer,
        responses={201: PlanDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Buy on installments",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        v = validated(PlanCreateSerializer, request.data)
        plan = plan_create(
            customer=request.user,
            product=_product(v["product"]),
            principal=v["principal"],
            tenor=v["tenor"],
            merchant_order_ref=v.get("merchant_order_ref", ""),
            description=v.get("description", ""),
        )
        return Response(PlanDetailSerializer(plan).data, status=status.HTTP_201_CREATED)


class PlanDetailView(APIView):
    @extend_schema(responses=PlanDetailSerializer, summary="A plan with its schedule")
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return Response(PlanDetailSerializer(_plan(request, public_id)).data)


class AgreementSerializer(serializers.Serializer):
    versioned = serializers.BooleanField(
        help_text="False for a plan made before agreements were versioned: the other fields are null."
    )
    version = serializers.CharField(allow_null=True, help_text='e.g. "2026-11"')
    language = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_null=True, help_text="The text as the customer accepted it.")
    text_sha256 = serializers.CharField(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    notice = serializers.CharField(allow_null=True, help_text="What to tell the customer when not versioned.")


class PlanAgreementView(APIView):
    @extend_schema(
        responses=AgreementSerializer,
        summary="借款协议: the agreement the customer accepted for this plan (someone else's plan: 404)",
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _plan(request, public_id)
        agreement = plan_agreement(plan)
        if agreement is None:
            body: dict[str, object] = {
                "versioned": False,
                "version": None,
                "language": None,
                "text": None,
                "text_sha256": None,
                "accepted_at": None,
                "notice": _(
                    "This plan's agreement is from before versioning: its terms are the ones on the "
                    "plan's page. Contact us for a copy."
                ),
            }
        else:
            body = {
                "versioned": True,
                "version": agreement.version,
                "language": agreement.language,
                "text": agreement.text,
                "text_sha256": agreement.text_sha256,
                "accepted_at": agreement.accepted_at,
                "notice": None,
            }
        return Response(AgreementSerializer(body).data)


# --- 二次分期 -----------------------------------------------------------------------------------------------


class RestageOptionSerializer(serializers.Serializer):
    tenor = serializers.IntegerField()
    available = serializers.BooleanField()
    reason = serializers.CharField()
    monthly_payment = serializers.DecimalField(**MONEY)
    total_fee = serializers.DecimalField(**MONEY)
    total_cost = serializers.DecimalField(**MONEY)
    extra_cost = serializers.DecimalField(
        **MONEY, help_text="total_cost minus what is left under the current plan (negative: it saves)"
    )
    apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    end_date = serializers.DateField()
    schedule = ScheduleSerializer()


class RestageQuoteSerializer(serializers.Serializer):
    outstanding = serializers.DecimalField(source="balance.outstanding", **MONEY)
    waived = serializers.DecimalField(source="balance.waived", **MONEY)
    new_principal = serializers.DecimalField(source="balance.new_principal", **MONEY)
    current = inline_serializer(
        "KeepingThePlan",
        {
            "next_payment": serializers.DecimalField(**MONEY),
            "remaining_installments": serializers.IntegerField(),
            "total_cost": serializers.DecimalField(**MONEY),
            "end_date": serializers.DateField(allow_null=True),
        },
    )
    options = RestageOptionSerializer(
        many=True, help_text="The options a customer may choose: POST one to /reinstallments/."
    )
    dropped = RestageOptionSerializer(
        many=True,
        help_text="Options left out because they only cost more: more to pay than keeping the plan without "
        "a lower monthly payment. Shown for transparency; /reinstallments/ refuses them (422 "
        "`tenor_not_offered`).",
    )


class RestageQuoteView(APIView):
    @extend_schema(
        responses=RestageQuoteSerializer,
        summary="二次分期 quote: each tenor next to keeping the plan (422 with the reason when not eligible)",
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        quote = restage_quote(plan=_plan(request, public_id))
        return Response(RestageQuoteSerializer(quote).data)


class RestageRequestSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    tenor = serializers.IntegerField(
        min_value=1, max_value=120, help_text="One of the quote's `options` (not a `dropped` one)."
    )
    otp_code = serializers.CharField(
        max_length=6, help_text="From POST /otp/ with purpose restage, sent after the customer saw the terms."
    )


class RestageView(APIView):
    @extend_schema(
        request=RestageRequestSerializer,
        responses={201: PlanDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="二次分期: re-stage what is left of a plan, confirmed with an SMS code",
        description=(
            "The web's confirmation step, in one call. Show the customer the chosen option's terms from "
            "`GET /plans/{id}/reinstallment-quotes/` (schedule, total to pay, `extra_cost`), send the code "
            'with `POST /otp/` `{"purpose": "restage"}`, then post the option\'s `tenor` with '
            "`otp_code`. Since issue 18 the code is required: a missing one is 400 `invalid_request`; a "
            "wrong, expired or unrequested one is 422 (`otp_invalid`, `otp_expired`, `otp_not_requested`, "
            "`otp_too_many_attempts`) and re-stages nothing. A tenor not among the quote's `options` (a "
            "`dropped` one, one above the maximum APR, one the product does not offer) is 422 "
            "`tenor_not_offered`, checked before the code is spent. A plan that cannot be re-staged answers "
            "the quote's reason (`overdue_beyond_grace`, `restage_limit_reached`, ...). Use a new "
            "Idempotency-Key for each code tried."
        ),
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        data = validated(RestageRequestSerializer, request.data)
        plan = _plan(request, data["plan_id"])
        new_plan = plan_restage_confirmed(
            customer=request.user, plan_id=plan.pk, tenor=data["tenor"], otp_code=data["otp_code"]
        )
        return Response(PlanDetailSerializer(new_plan).data, status=status.HTTP_201_CREATED)


# --- 延期还款 -----------------------------------------------------------------------------------------------


class ExtensionQuoteRequestSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=366,
        help_text="Days to move the next unpaid installment by (the plan allows "
        "`min_days`..`max_days`; out of range is 422 `extension_days_out_of_range`).",
    )


class NextAmountSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.DecimalField(**MONEY)
    moved = serializers.BooleanField(help_text="The installment the extension moves.")


class ExtensionQuoteSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="The installment that moves: the next unpaid one.")
    days = serializers.IntegerField()
    min_days = serializers.IntegerField()
    max_days = serializers.IntegerField()
    old_due_date = serializers.DateField()
    new_due_date = serializers.DateField()
    fee = serializers.DecimalField(help_text="The extension fee added to that installment.", **MONEY)
    amount_due = serializers.DecimalField(
        help_text="What it asks on the new date, the fee included.", **MONEY
    )
    apr_before = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    apr_percent = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        coerce_to_string=True,
        help_text="The plan's APR over its dated cash flows after the extension (IRR, actual/365).",
    )
    max_apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    next_amounts = NextAmountSerializer(many=True, help_text="The open installments after the extension.")


class ExtensionRefusalSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.CharField(), required=False)  # type: ignore[assignment]
    reasons = inline_serializer(
        "ExtensionReason", {"code": serializers.CharField(), "message": serializers.CharField()}, many=True
    )


class ExtensionRequestSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, help_text="As quoted.")
    otp_code = serializers.CharField(
        max_length=6,
        help_text="From POST /otp/ with purpose extension, sent after the customer saw the quote.",
    )


class ExtensionSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    old_due_date = serializers.DateField()
    new_due_date = serializers.DateField()
    fee = serializers.DecimalField(**MONEY)
    apr_percent = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    created_at = serializers.DateTimeField()
    plan = PlanDetailSerializer()


_EXTENSION_REFUSALS = (
    "A plan that cannot be extended answers 422 `extension_not_allowed` with every reason in `reasons` "
    "(`plan_not_active`, `overdue_beyond_grace`, `extension_too_late`, `extension_limit_reached`, "
    "`extension_not_offered`, `nothing_to_extend`); a quote above the product's maximum APR is "
    "`apr_above_maximum`, one above the plan's all-in cost ceiling `above_cost_ceiling`."
)


class ExtensionQuoteView(APIView):
    @extend_schema(
        request=ExtensionQuoteRequestSerializer,
        responses={200: ExtensionQuoteSerializer, 422: ExtensionRefusalSerializer},
        summary="延期还款 quote: new due date, fee and APR of moving the next installment (writes nothing)",
        description=_EXTENSION_REFUSALS,
    )
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _plan(request, public_id)  # another customer's plan: 404 before anything about the body
        data = validated(ExtensionQuoteRequestSerializer, request.data)
        quote: ExtensionQuote = extension_quote(plan=plan, days=data["days"])
        return Response(ExtensionQuoteSerializer(quote).data)


class ExtensionView(APIView):
    @extend_schema(
        request=ExtensionRequestSerializer,
        responses={201: ExtensionSerializer, 422: ExtensionRefusalSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="延期还款: move the next unpaid installment's due date, confirmed with an SMS code",
        description=(
            "Show the customer `POST /plans/{id}/extension/quote/` for the chosen `days`, send the code with "
            '`POST /otp/` `{"purpose": "extension"}`, then post `days` with `otp_code`. A wrong, expired or '
            "unrequested code is 422 (`otp_invalid`, `otp_expired`, `otp_not_requested`, "
            "`otp_too_many_attempts`) and extends nothing; use a new Idempotency-Key for each code tried. "
            "The same key answers the same extension again, never a second one. 409 `payment_in_progress` "
            "while a payment on the plan is being processed. " + _EXTENSION_REFUSALS
        ),
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _plan(request, public_id)
        data = validated(ExtensionRequestSerializer, request.data)
        extension = extension_apply(
            plan=plan,
            customer=request.user,
            days=data["days"],
            code=data["otp_code"],
            idempotency_key=request.idempotency_key,
        )
        extension.plan = _plan(request, public_id)
        return Response(ExtensionSerializer(extension).data, status=status.HTTP_201_CREATED)


# --- 协商还款 -----------------------------------------------------------------------------------------------


class DocumentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    uploaded_at = serializers.DateTimeField()
    download = serializers.SerializerMethodField(help_text="GET it with the Bearer token: the file.")

    def get_download(self, document: NegotiationDocument) -> str:
        return reverse(
            "api_v1:negotiation_document",
            kwargs={"public_id": document.application.public_id, "document_id": document.public_id},
        )


class OfferSerializer(serializers.Serializer):
    tenor = serializers.IntegerField(source="offer_tenor")
    fee_rate = serializers.DecimalField(source="offer_fee_rate", max_digits=9, decimal_places=6)
    principal = serializers.DecimalField(source="offer_principal", **MONEY)
    penalty_waived = serializers.DecimalField(source="offer_penalty_waiver", **MONEY)
    monthly_payment = serializers.DecimalField(source="offer_monthly_payment", **MONEY)
    total_fee = serializers.DecimalField(source="offer_total_fee", **MONEY)
    apr_percent = serializers.DecimalField(source="offer_apr_percent", max_digits=6, decimal_places=2)
    first_due_date = serializers.DateField(source="offer_first_due_date")
    expires_at = serializers.DateTimeField(source="offer_expires_at")
    note = serializers.CharField(source="offer_note")
    autodebit_card = serializers.SerializerMethodField(
        help_text="The card auto-debit would be turned on with when accepting with `autodebit` true (the "
        "card the plan's auto-debit uses, else the default card), e.g. 工商银行 尾号1237; null: no usable "
        "card, so `autodebit` would leave it off (the plan's auto-debit setting can turn it on later)."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_autodebit_card(self, application: NegotiationApplication) -> str | None:
        return autodebit_card_for(customer=application.customer, plan=application.plan)


class NegotiationSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    plan_id = serializers.UUIDField(source="plan.public_id")
    state = serializers.CharField()
    reason = serializers.CharField()
    reason_detail = serializers.CharField()
    monthly_income = serializers.DecimalField(source="declared_monthly_income", **MONEY)
    affordable_monthly_payment = serializers.DecimalField(
        allow_null=True, help_text="What the customer said they can pay each month, or null.", **MONEY
    )
    employer = serializers.CharField()
    requested_tenor = serializers.IntegerField()
    info_request = serializers.CharField(help_text="What staff asked for, when the state is info_requested.")
    documents = DocumentSerializer(many=True)
    offer = serializers.SerializerMethodField()
    offer_schedule = serializers.SerializerMethodField()
    offer_late_cost = serializers.SerializerMethodField(
        help_text="What paying the offer's first installment late would cost (null: no offer)."
    )
    result_plan_id = serializers.UUIDField(source="result_plan.public_id", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    freeze = serializers.SerializerMethodField(
        help_text="The freeze this application started (penalties paused while it is reviewed), or null: "
        "penalties are paused on a customer's application once per plan in 12 months (freeze_note says "
        "why not)."
    )
    freeze_note = serializers.SerializerMethodField(
        help_text="Why this application did not pause penalties, in the request's language, or null."
    )

    @extend_schema_field(FreezeSerializer(allow_null=True))
    def get_freeze(self, application: NegotiationApplication) -> dict | None:
        freeze = application_freeze(application)
        return None if freeze is None else FreezeSerializer(freeze).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_freeze_note(self, application: NegotiationApplication) -> str | None:
        return application_freeze_note(application)

    @extend_schema_field(OfferSerializer(allow_null=True))
    def get_offer(self, application: NegotiationApplication) -> dict | None:
        if application.state != "offered":
            return None
        return OfferSerializer(application).data

    @extend_schema_field(ScheduleSerializer(allow_null=True))
    def get_offer_schedule(self, application: NegotiationApplication) -> dict | None:
        schedule = offer_schedule(application)
        return None if schedule is None else ScheduleSerializer(schedule).data

    @extend_schema_field(LateCostSerializer(allow_null=True))
    def get_offer_late_cost(self, application: NegotiationApplication) -> dict | None:
        if application.state != "offered":
            return None
        late_cost = offer_late_cost(application)
        return None if late_cost is None else LateCostSerializer(late_cost).data


class NegotiationApplySerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    reason = serializers.ChoiceField(choices=NegotiationReason.choices)
    reason_detail = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    monthly_income = MoneyField()
    affordable_monthly_payment = MoneyField(
        required=False,
        help_text='What the customer can really pay each month, so the offer fits it (yuan, e.g. "800.00"; '
        "above zero). Optional: staff see it next to the declared income.",
    )
    employer = serializers.CharField(required=False, allow_blank=True, max_length=100)
    requested_tenor = serializers.IntegerField(min_value=1, max_value=120)
    documents = serializers.ListField(
        child=serializers.FileField(), required=False, help_text="PDF, JPEG or PNG; at most 5 files of 5 MB."
    )
    autodebit_during_review = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Penalties are paused while the application is reviewed; auto-debit pauses too unless "
        "this is true (default false).",
    )


def _negotiation(request: AuthenticatedRequest, public_id: object) -> NegotiationApplication:
    return get_object_or_404(
        NegotiationApplication.objects.select_related("plan", "result_plan").prefetch_related("documents"),
        customer=request.user,
        public_id=public_id,
    )


class NegotiationListView(APIView):
    # Applying uploads documents (multipart); JSON is accepted for an application without files.
    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        responses=NegotiationSerializer(many=True), summary="The caller's negotiated-plan applications"
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        rows = (
            NegotiationApplication.objects.filter(customer=request.user)
            .select_related("plan", "result_plan")
            .prefetch_related("documents")
        )
        return paginated(self, request, rows, NegotiationSerializer)

    @extend_schema(
        request={"multipart/form-data": NegotiationApplySerializer},
        responses={201: NegotiationSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="协商还款: apply, with proof documents",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        v = validated(NegotiationApplySerializer, request.data)
        plan = _plan(request, v["plan_id"])
        application = negotiation_apply(
            customer=request.user,
            plan_id=plan.pk,
            reason=v["reason"],
            reason_detail=v.get("reason_detail", ""),
            monthly_income=v["monthly_income"],
            affordable_payment=v.get("affordable_monthly_payment"),
            employer=v.get("employer", ""),
            requested_tenor=v["requested_tenor"],
            documents=request.FILES.getlist("documents"),
            autodebit_opt_in=v.get("autodebit_during_review", False),
        )
        return Response(NegotiationSerializer(_negotiation(request, application.public_id)).data, status=201)


class NegotiationDetailView(APIView):
    @extend_schema(
        responses=NegotiationSerializer, summary="An application, with the offer when there is one"
    )
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return Response(NegotiationSerializer(_negotiation(request, public_id)).data)


class NegotiationDocumentView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer("DocumentUpload", {"document": serializers.FileField()})
        },
        responses={201: DocumentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Add a proof document",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        application = _negotiation(request, public_id)
        upload = request.FILES.get("document")
        if upload is None:
            raise ApplicationError(
                CommonError.INVALID_REQUEST,
                "Attach the file as 'document'.",
                fields={"document": "Required."},
            )
        document = negotiation_document_add(
            customer=request.user, application_id=application.public_id, upload=upload
        )
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class _ContentFromTheFile(BaseContentNegotiation):
    """A download answers in the file's own type whatever the client accepts (a phone's HTTP stack
    often sends ``Accept: application/pdf`` or ``*/*``); errors still come back as JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class NegotiationDocumentDownloadView(APIView):
    """A proof document the caller uploaded, with the Bearer token (the web page's download needs a
    session cookie a mobile client does not have). Someone else's document, or a document of someone
    else's application, answers 404."""

    content_negotiation_class = _ContentFromTheFile

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
        },
        summary="Download a proof document (an attachment in its stored type)",
    )
    def get(self, request: AuthenticatedRequest, public_id: str, document_id: str) -> FileResponse:
        application = _negotiation(request, public_id)
        document = get_object_or_404(application.documents.all(), public_id=document_id)
        return file_response(document)


class AcceptSerializer(serializers.Serializer):
    otp_code = serializers.CharField(
        max_length=6, help_text="From POST /otp/ with purpose accept_negotiation."
    )
    autodebit = serializers.BooleanField(
        default=False,
        help_text="The web's tick \"turn on auto-debit for the new plan\": on the card in the offer's "
        "`autodebit_card`; with no usable card the plan is still accepted and auto-debit stays off.",
    )


class NegotiationAcceptView(APIView):
    @extend_schema(
        request=AcceptSerializer,
        responses={201: PlanDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Accept the offer with the SMS code: the negotiated plan replaces the old one",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        application = _negotiation(request, public_id)
        data = validated(AcceptSerializer, request.data)
        plan = negotiation_accept(
            customer=request.user,
            application_id=application.public_id,
            otp_code=data["otp_code"],
            autodebit=data["autodebit"],
        )
        return Response(PlanDetailSerializer(plan).data, status=status.HTTP_201_CREATED)


class NegotiationDeclineView(APIView):
    @extend_schema(
        request=None,
        responses=NegotiationSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Decline the offer (final)",
        description=(
            "Declining is final: the offer cannot be accepted afterwards (apply again for a new one). "
            "The web asks the customer to confirm before it declines; through the API this stays one "
            "call, so the client must ask the customer to confirm on its side before sending it."
        ),
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        application = _negotiation(request, public_id)
        negotiation_decline(customer=request.user, application_id=application.public_id)
        return Response(NegotiationSerializer(_negotiation(request, public_id)).data)


class NegotiationWithdrawView(APIView):
    @extend_schema(
        request=None,
        responses=NegotiationSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Withdraw an application still under review (final)",
        description="Ends the review and the pause of penalties (暂停计息) it started; apply again later "
        "for a new one. Ask the customer to confirm before sending it.",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        application = _negotiation(request, public_id)
        negotiation_withdraw(customer=request.user, application_id=application.public_id)
        return Response(NegotiationSerializer(_negotiation(request, public_id)).data)


class NegotiationResubmitView(APIView):
    @extend_schema(request=None, responses=NegotiationSerializer, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        application = _negotiation(request, public_id)
        negotiation_resubmit(customer=request.user, application_id=application.public_id)
        return Response(NegotiationSerializer(_negotiation(request, public_id)).data)

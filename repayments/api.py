"""API: cards, auto-debit, bills and repayments. Views parse, call one service or selector, and shape.

Everything is looked up through the caller, so another customer's id answers 404. Money is a string
with two decimals; money-moving and plan-changing POSTs need an Idempotency-Key.
"""

from __future__ import annotations

from datetime import date

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.idempotency import idempotent
from core.api import MoneyField, validated
from core.api_pagination import NewestFirstCursorPagination, OnePagePagination, paginated
from core.api_schema import IDEMPOTENCY_HEADER, MONEY
from installments.api import FreezeSerializer
from installments.models import InstallmentPlan
from repayments.labels import failure_reason
from repayments.models import (
    AutoDebitMandate,
    BankCard,
    CardStatus,
    Repayment,
    RepaymentChannel,
    RepaymentMode,
    RepaymentStatus,
)
from repayments.selectors import Bill, customer_bills, payment_card
from repayments.services import (
    OneTimeCard,
    autodebit_set,
    card_bind,
    card_set_default,
    card_unbind,
    repayment_cancel,
    repayment_create,
)


def _plan(request: AuthenticatedRequest, public_id: object) -> InstallmentPlan:
    return get_object_or_404(InstallmentPlan, customer=request.user, public_id=public_id)


def _card(request: AuthenticatedRequest, public_id: object) -> BankCard:
    return get_object_or_404(BankCard, customer=request.user, public_id=public_id, status=CardStatus.ACTIVE)


# --- cards ---------------------------------------------------------------------------------------------


class CardSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    display = serializers.CharField(
        source="__str__",
        help_text="Bank and last four digits, in the request's language: 工商银行 尾号1234 / "
        "ICBC card ending 1234.",
    )

    class Meta:
        model = BankCard
        fields = ["id", "display", "bank_code", "bank_name", "card_type", "last4", "is_default", "bound_at"]


class CardBindSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=23, write_only=True, help_text="Never stored or returned.")
    holder_name = serializers.CharField(max_length=50)
    reserved_phone = serializers.CharField(max_length=20)
    otp_code = serializers.CharField(max_length=6, help_text="From POST /otp/ with purpose bind_card.")


class CardPagination(NewestFirstCursorPagination):
    ordering = ("-is_default", "-bound_at", "-id")


class CardListView(APIView):
    pagination_class = CardPagination

    @extend_schema(responses=CardSerializer(many=True), summary="Bound cards")
    def get(self, request: AuthenticatedRequest) -> Response:
        cards = BankCard.objects.filter(customer=request.user, status=CardStatus.ACTIVE)
        return paginated(self, request, cards, CardSerializer)

    @extend_schema(
        request=CardBindSerializer,
        responses={201: CardSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Bind",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        data = validated(CardBindSerializer, request.data)
        card = card_bind(customer=request.user, **data)
        return Response(CardSerializer(card).data, status=status.HTTP_201_CREATED)


class CardUnbindSerializer(serializers.Serializer):
    replacement = serializers.UUIDField(
        required=False, allow_null=True, help_text="Card id that takes over this card's auto-debits."
    )
    otp_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=6,
        write_only=True,
        help_text="From POST /otp/ with purpose change_autodebit_card: needed when auto-debits move to the "
        "replacement card, as for PUT /plans/{id}/auto-debit/.",
    )


def _unbind(request: AuthenticatedRequest, public_id: str, data: dict) -> Response:
    card = _card(request, public_id)
    replacement = _card(request, data["replacement"]) if data.get("replacement") else None
    card = card_unbind(
        customer=request.user, card=card, replacement=replacement, otp_code=data.get("otp_code", "")
    )
    return Response(CardSerializer(card).data)


class CardDetailView(APIView):
    @extend_schema(responses=CardSerializer, summary="One card")
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return Response(CardSerializer(_card(request, public_id)).data)

    @extend_schema(
        parameters=[
            IDEMPOTENCY_HEADER,
            OpenApiParameter(
                "replacement", str, description="Card id that takes over this card's auto-debits."
            ),
        ],
        responses=CardSerializer,
        summary="Unbind",
        description="Removes a card that pays no auto-debit. A card that pays one needs a `replacement` and "
        "the SMS code of purpose `change_autodebit_card` (`otp_code` in a JSON body, or use "
        "POST /cards/{id}/unbind/). 409 `payment_in_progress` while a charge on the card is pending.",
    )
    @idempotent
    def delete(self, request: AuthenticatedRequest, public_id: str) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        data = validated(
            CardUnbindSerializer,
            {
                "replacement": request.query_params.get("replacement") or None,
                "otp_code": body.get("otp_code", ""),
            },
        )
        return _unbind(request, public_id, data)


class CardUnbindView(APIView):
    @extend_schema(
        request=CardUnbindSerializer,
        responses=CardSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        summary="Unbind, handing its auto-debits to another card",
        description="As DELETE /cards/{id}/, with the replacement card and the SMS code (purpose "
        "`change_autodebit_card`) in the body. 409 `payment_in_progress` while a charge on the card is "
        "pending; 409 `card_in_use_by_autodebit` without a replacement for its auto-debits.",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return _unbind(request, public_id, validated(CardUnbindSerializer, request.data))


class CardDefaultView(APIView):
    @extend_schema(
        request=None, responses=CardSerializer, parameters=[IDEMPOTENCY_HEADER], summary="Make default"
    )
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        card = card_set_default(customer=request.user, card=_card(request, public_id))
        return Response(CardSerializer(card).data)


# --- auto-debit ----------------------------------------------------------------------------------------


class AutoDebitSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    card_id = serializers.UUIDField(required=False, allow_null=True)
    otp_code = serializers.CharField(
        required=False, allow_blank=True, write_only=True, help_text="Needed to move it to another card."
    )


class AutoDebitView(APIView):
    def _body(self, mandate: AutoDebitMandate | None) -> dict:
        return {
            "enabled": bool(mandate and mandate.enabled),
            "card_id": mandate.card.public_id if mandate else None,
        }

    @extend_schema(responses=AutoDebitSerializer, summary="设置自动扣款: the plan's auto-debit")
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _plan(request, public_id)
        mandate = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
        return Response(AutoDebitSerializer(self._body(mandate)).data)

    @extend_schema(
        request=AutoDebitSerializer, responses=AutoDebitSerializer, parameters=[IDEMPOTENCY_HEADER]
    )
    @idempotent
    def put(self, request: AuthenticatedRequest, public_id: str) -> Response:
        plan = _plan(request, public_id)
        data = validated(AutoDebitSerializer, request.data)
        card_id = data.get("card_id")
        mandate = autodebit_set(
            customer=request.user,
            plan=plan,
            enabled=data["enabled"],
            card=_card(request, card_id) if card_id else None,
            otp_code=data.get("otp_code", ""),
        )
        return Response(AutoDebitSerializer(self._body(mandate)).data)


# --- bills ---------------------------------------------------------------------------------------------


class BillSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField(source="plan.public_id")
    plan_name = serializers.CharField(source="plan.display_name")
    due_now = serializers.DecimalField(**MONEY)
    overdue = serializers.DecimalField(**MONEY)
    days_overdue = serializers.IntegerField()
    next_due_date = serializers.DateField(allow_null=True)
    next_amount = serializers.DecimalField(**MONEY)
    remaining = serializers.DecimalField(**MONEY)
    autodebit_enabled = serializers.SerializerMethodField()
    contact_us = serializers.BooleanField(
        source="plan.contact_us",
        help_text="The plan is overdue and the customer should contact customer service "
        "(no more reminders or auto-debit); it can still be repaid.",
    )
    notice = serializers.SerializerMethodField(
        help_text="What to tell the customer, in the request's language "
        '("Overdue, please contact us"), or null.'
    )
    freeze = FreezeSerializer(
        allow_null=True,
        help_text="Penalties paused (暂停计息) while an application or hardship case is reviewed, or null.",
    )

    @extend_schema_field(serializers.BooleanField())
    def get_autodebit_enabled(self, bill: Bill) -> bool:
        """Off for a plan whose auto-debit is stopped (charged off), whatever its mandate row says."""
        return bool(bill.mandate and bill.mandate.enabled) and not bill.plan.contact_us

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_notice(self, bill: Bill) -> str | None:
        return str(bill.plan.customer_status_label) if bill.plan.contact_us else None


class BillsView(APIView):
    # The list envelope of every list, in one page: bills are ordered by urgency (computed), not a column.
    pagination_class = OnePagePagination

    @extend_schema(
        responses=BillSerializer(many=True),
        summary="Bills (我的账单): what is due now and next, per plan, most urgent first (one page)",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return paginated(self, request, customer_bills(customer=request.user), BillSerializer)


# --- repayments ----------------------------------------------------------------------------------------


class RepaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    plan_id = serializers.UUIDField(source="plan.public_id")
    amount = serializers.DecimalField(**MONEY)
    card = serializers.CharField(source="card_display")
    card_id = serializers.UUIDField(
        source="card.public_id",
        allow_null=True,
        default=None,
        help_text="The bound card charged (as in /cards/); null for a card used once or an offline payment.",
    )
    failure_message = serializers.CharField(
        source="failure_reason",
        read_only=True,
        help_text="Why it failed, for people, in the request's language (the code's words, never the bank's "
        "own text); empty unless failed.",
    )

    failure_reason = serializers.SerializerMethodField(
        help_text="Why it failed, in the request's language, as the customer pages say it "
        "(failure_code is the stable code; failure_message the bank's own words); null unless failed."
    )

    class Meta:
        model = Repayment
        fields = [
            "id", "plan_id", "amount", "mode", "channel", "status", "card", "card_id", "scheduled_for",
            "failure_code", "failure_reason", "failure_message", "requested_at", "settled_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_failure_reason(self, repayment: Repayment) -> str | None:
        return (
            str(failure_reason(repayment.failure_code))
            if repayment.status == RepaymentStatus.FAILED
            else None
        )


class OneTimeCardSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=23, write_only=True)
    holder_name = serializers.CharField(max_length=50)


class RepaymentCreateSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=RepaymentMode.choices)
    amount = MoneyField(required=False)
    card_id = serializers.UUIDField(required=False, help_text="A bound card; or give one_time_card.")
    one_time_card = OneTimeCardSerializer(required=False)
    scheduled_for = serializers.DateField(required=False, help_text="Pay on this date instead of now.")


class RepaymentPagination(NewestFirstCursorPagination):
    ordering = ("-requested_at", "-id")


class RepaymentListView(APIView):
    pagination_class = RepaymentPagination
    throttle_scope = "payments"

    def get_throttles(self) -> list:
        """The payments budget (``API_THROTTLE_PAYMENTS``) is spent by paying only: listing, which a
        client polls after paying, is covered by the per-user rate and must not use up what paying needs."""
        throttles = super().get_throttles()
        if self.request.method in SAFE_METHODS:
            throttles = [t for t in throttles if not isinstance(t, ScopedRateThrottle)]
        return throttles

    @extend_schema(
        parameters=[
            OpenApiParameter("plan", str, description="A plan id."),
            OpenApiParameter("status", str, enum=list(RepaymentStatus.values)),
            OpenApiParameter("date_from", date, description="Requested on or after (YYYY-MM-DD)."),
            OpenApiParameter("date_to", date, description="Requested on or before."),
        ],
        responses=RepaymentSerializer(many=True),
        summary="Repayments and auto-debit results, newest first",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        # A plain dict, not the QueryDict: DRF reads "?date_to=" in a QueryDict as "not given"; it is a 400.
        f = validated(_RepaymentFilter, request.query_params.dict())
        rows = Repayment.objects.filter(customer=request.user).select_related("plan", "card")
        if f.get("plan"):
            rows = rows.filter(plan__public_id=f["plan"])
        if f.get("status"):
            rows = rows.filter(status=f["status"])
        if f.get("date_from"):
            rows = rows.filter(requested_at__date__gte=f["date_from"])
        if f.get("date_to"):
            rows = rows.filter(requested_at__date__lte=f["date_to"])
        return paginated(self, request, rows, RepaymentSerializer)

    @extend_schema(
        request=RepaymentCreateSerializer,
        responses={201: RepaymentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="立即还款: pay now or on a date",
        description="The rules of step 1 of the web page (`repayment_check`), refused with their codes: "
        "`invalid_amount` (400: not above ¥0.00), `amount_exceeds_outstanding` (422: above what can be paid "
        "now, never above the payoff figure), `nothing_due` (409: mode `due_now` with nothing due), "
        "`scheduled_date_invalid` (400: `scheduled_for` before today or after the next due date; today "
        "means now), `card_not_found` (404: another customer's or a removed card), "
        "`one_time_card_pay_now_only` (400), `credit_card_not_allowed` (422).",
    )
    @idempotent
    def post(self, request: AuthenticatedRequest) -> Response:
        v = validated(RepaymentCreateSerializer, request.data)
        one_time = v.get("one_time_card")
        repayment = repayment_create(
            customer=request.user,
            plan=_plan(request, v["plan_id"]),
            mode=v["mode"],
            amount=v.get("amount"),
            card=payment_card(customer=request.user, public_id=v["card_id"]) if v.get("card_id") else None,
            one_time_card=OneTimeCard(number=one_time["number"], holder_name=one_time["holder_name"])
            if one_time
            else None,
            scheduled_for=v.get("scheduled_for"),
            channel=RepaymentChannel.API,
            idempotency_key=f"api:{request.idempotency_key}",
        )
        return Response(RepaymentSerializer(repayment).data, status=status.HTTP_201_CREATED)


class _RepaymentFilter(serializers.Serializer):
    plan = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=RepaymentStatus.choices, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)


def _repayment(request: AuthenticatedRequest, public_id: object) -> Repayment:
    return get_object_or_404(
        Repayment.objects.select_related("plan", "card"), customer=request.user, public_id=public_id
    )


class RepaymentDetailView(APIView):
    @extend_schema(responses=RepaymentSerializer, summary="One repayment")
    def get(self, request: AuthenticatedRequest, public_id: str) -> Response:
        return Response(RepaymentSerializer(_repayment(request, public_id)).data)


class RepaymentCancelView(APIView):
    @extend_schema(request=None, responses=RepaymentSerializer, parameters=[IDEMPOTENCY_HEADER])
    @idempotent
    def post(self, request: AuthenticatedRequest, public_id: str) -> Response:
        repayment = repayment_cancel(customer=request.user, repayment=_repayment(request, public_id))
        return Response(RepaymentSerializer(repayment).data)

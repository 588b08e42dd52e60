"""API: the SMS inbox."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from core.api_pagination import NewestFirstCursorPagination, paginated
from notifications.models import Notification, NotificationStatus


class NotificationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = Notification
        fields = ["id", "template_code", "category", "text", "status", "created_at", "sent_at"]
        extra_kwargs = {
            "text": {
                "help_text": "The SMS as sent, except a one-time code, which is shown as ****** (it is "
                "readable on the phone only)."
            }
        }


class InboxPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


class InboxView(APIView):
    pagination_class = InboxPagination

    @extend_schema(responses=NotificationSerializer(many=True), summary="短信: every SMS sent to the caller")
    def get(self, request: AuthenticatedRequest) -> Response:
        rows = Notification.objects.filter(user=request.user).exclude(status=NotificationStatus.SUPPRESSED)
        return paginated(self, request, rows, NotificationSerializer)

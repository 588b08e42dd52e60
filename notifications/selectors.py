"""Reads of the outbox: the customer's SMS inbox."""

from __future__ import annotations

from django.core.paginator import Page, Paginator

from accounts.models import User
from notifications.models import Notification, NotificationStatus


def notification_inbox(*, user: User, page: int | str = 1, per_page: int = 20) -> Page:
    """Every message written to the customer, newest first; suppressed ones were never sent, so not shown."""
    queryset = (
        Notification.objects.filter(user=user)
        .exclude(status=NotificationStatus.SUPPRESSED)
        .only("public_id", "template_code", "category", "text", "status", "created_at", "sent_at")
        .order_by("-created_at", "-id")
    )
    return Paginator(queryset, per_page).get_page(page)

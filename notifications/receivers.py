"""Messages for events of apps that must not import notifications (accounts: one-time codes)."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.models import OneTimeCode, User
from accounts.signals import otp_issued
from notifications.models import NotificationCategory
from notifications.services import notification_create


@receiver(otp_issued, dispatch_uid="notifications.otp_issued")
def send_otp(
    sender: object,
    *,
    user: User,
    purpose: str,
    code: str,
    otp: OneTimeCode,
    ttl_minutes: int,
    **kwargs: object,
) -> None:
    notification_create(
        user=user,
        code="otp",
        context={"code": code, "purpose": purpose, "ttl": ttl_minutes},
        dedupe_key=f"otp:{otp.pk}",
        category=NotificationCategory.SECURITY,
    )

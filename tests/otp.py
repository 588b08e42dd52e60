"""The customer's phone in tests: catches the one-time codes sent, as the customer reading the SMS would."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import OneTimeCode, OtpPurpose, User
from accounts.services import otp_request
from accounts.signals import otp_issued


class CodeCatcher:
    """Catches the one-time codes sent, as the customer reading the SMS would."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        otp_issued.connect(self._receive, dispatch_uid="tests-code-catcher")

    def _receive(self, sender, **kwargs) -> None:
        self.codes.append(kwargs["code"])

    def close(self) -> None:
        otp_issued.disconnect(dispatch_uid="tests-code-catcher")

    def request(self, user: User, purpose: str = OtpPurpose.BIND_CARD) -> str:
        # Throttling is per minute; tests move the code's creation back so they can ask again at once.
        OneTimeCode.objects.filter(user=user).update(created_at=timezone.now() - timedelta(hours=2))
        otp_request(user=user, purpose=purpose)
        return self.codes[-1]

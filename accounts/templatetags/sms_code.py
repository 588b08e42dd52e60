"""The SMS-code field's resend wait, from the same setting the code throttle uses."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def otp_resend_seconds() -> int:
    return int(getattr(settings, "OTP_MIN_INTERVAL_SECONDS", 60))

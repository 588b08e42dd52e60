""" "发送验证码" beside a code field: the button submits its own form with ``action=send_code``, so the
page comes back with everything typed (no redirect); with ``X-Requested-With: fetch`` (static/js/sms-code.js)
the answer is JSON and the page does not reload at all. Views call ``send_code`` and, when it is not a
script asking, re-render their bound data (templates/_code_field.html shows the button and the countdown).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from accounts.http import AuthenticatedHttpRequest
from accounts.services import otp_request
from core.errors import ApplicationError

SEND_CODE = "send_code"


def is_send_code(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("action") == SEND_CODE


@dataclass(frozen=True)
class SentCode:
    ok: bool
    message: str
    retry_after: int = 0


def send_code(request: AuthenticatedHttpRequest, purpose: str) -> SentCode:
    """Ask for a code for ``purpose``; the outcome is also a message for the page that is re-rendered."""
    try:
        otp_request(user=request.user, purpose=purpose)
    except ApplicationError as exc:
        retry = (exc.fields or {}).get("retry_after", "0")
        sent = SentCode(False, exc.message, int(retry) if str(retry).isdigit() else 0)
        messages.error(request, sent.message)
        return sent
    sent = SentCode(True, _("A code was sent by SMS to %(phone)s.") % {"phone": request.user.masked_phone})
    messages.info(request, sent.message)
    return sent


def wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def sent_code_json(request: HttpRequest, sent: SentCode) -> JsonResponse:
    """The script shows the message itself: the flash message the page would have shown is dropped."""
    list(messages.get_messages(request))  # consume it, or it would show on the next page
    return JsonResponse(
        {"ok": sent.ok, "message": sent.message, "retry_after": sent.retry_after},
        status=200 if sent.ok else 429,
    )

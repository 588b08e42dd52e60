"""``POST /webhooks/bank/``: the bank's signed result notifications. Outside the customer API (no
session, no CSRF token: the signature is the authentication).

The bank signs ``f"{timestamp}\\n".encode() + body`` with HMAC-SHA256 and ``BANK_WEBHOOK_SECRET``
(by default the API secret, ``GATEWAY_HTTP_SECRET``), sent as hex in ``X-Signature`` with the unix
seconds in ``X-Timestamp``. A wrong signature or a timestamp outside ``BANK_WEBHOOK_WINDOW_SECONDS`` is
401 with an empty body (nothing to learn from it). A signed event is answered 200 once acted on, and
200 again when its id was seen before (nothing done: the bank stops retrying); a charge key that is
not one of our repayments is 200 and a warning in the log, so the bank does not retry it forever.
With neither ``BANK_WEBHOOK_SECRET`` nor ``GATEWAY_HTTP_SECRET`` set the endpoint is off (404): an empty
key would let anyone sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from repayments.services import BankEvent, bank_webhook_receive


def webhook_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}\n".encode() + body, hashlib.sha256).hexdigest()


def _secret() -> bytes:
    return str(getattr(settings, "BANK_WEBHOOK_SECRET", "") or settings.GATEWAY_HTTP_SECRET).encode()


def _verified(request: HttpRequest) -> bool:
    timestamp = request.headers.get("X-Timestamp", "")
    signature = request.headers.get("X-Signature", "")
    expected = webhook_signature(_secret(), timestamp, request.body)
    # Constant time, and before the age is looked at.
    if not hmac.compare_digest(expected, signature):
        return False
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    return age <= settings.BANK_WEBHOOK_WINDOW_SECONDS


@csrf_exempt
@require_POST
def bank_webhook(request: HttpRequest) -> HttpResponse:
    if not _secret():
        # No secret configured (production with an acquirer adapter that sends none): an empty HMAC key
        # would let anyone sign, so the endpoint is off.
        return HttpResponse(status=404)
    if not _verified(request):
        return HttpResponse(status=401)
    try:
        event = BankEvent.parse(json.loads(request.body))
        outcome = bank_webhook_receive(event)
    except (ValueError, UnicodeDecodeError):  # MalformedEvent is a ValueError, as is bad JSON
        return JsonResponse({"error": "bad_event"}, status=400)
    return JsonResponse({"outcome": str(outcome)})

"""``Idempotency-Key`` for API requests that move money or change a plan (Brandur Leach's recipe, small).

The key row is committed before the work starts, so of many simultaneous requests with one key exactly one
runs; the others are told it is running (409) or, once it is done, get its response again with the header
``Idempotent-Replayed: true``. A body that differs under the same key is refused (422): the key names one
request. A response of 5xx, 409 or 429 is not kept, so a retry with the same key runs again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from accounts.errors import AccountsError
from accounts.http import AuthenticatedRequest
from accounts.models import IdempotencyKey
from core.errors import ApplicationError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
STALE_AFTER = timedelta(minutes=10)  # a request that died without finishing frees its key after this
_NOT_KEPT = {409, 429}


def request_key(request: Request) -> str:
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        raise ApplicationError(
            AccountsError.IDEMPOTENCY_KEY_REQUIRED,
            _("This request needs an Idempotency-Key header (for example a UUID)."),
        )
    if len(key) > 100 or not key.isprintable():
        raise ApplicationError(
            AccountsError.IDEMPOTENCY_KEY_INVALID, _("An Idempotency-Key is 1 to 100 printable characters.")
        )
    return key


def _fingerprint_key() -> bytes:
    return hashlib.sha256(b"accounts.idempotency.fingerprint:" + settings.SECRET_KEY.encode()).digest()


def _method(request: Request) -> str:
    """The HTTP method; ``None`` only on a request built by hand, never on one a view is given."""
    if request.method is None:
        raise ValueError("An idempotent request needs its HTTP method.")
    return request.method


def _fingerprint(request: Request) -> str:
    """What the request asks for: method, path and body. A multipart body is hashed from its parsed fields
    and files, streamed: reading it whole would hold every upload in memory (and trip Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE for documents above 2.5 MB).

    Keyed (HMAC with a key derived from SECRET_KEY), never a plain hash: the body of ``POST /cards/``
    holds a card number, and a card number has so little entropy that a plain SHA-256 of the body, kept
    in the database, gives the number back to anyone who tries every Luhn-valid number of a BIN."""
    digest = hmac.new(_fingerprint_key(), digestmod=hashlib.sha256)
    digest.update(_method(request).encode())
    digest.update(request.path.encode())
    if request.content_type.startswith("multipart/"):
        data = request.data
        if not isinstance(data, QueryDict):  # DRF parses a multipart body into a QueryDict
            raise TypeError(f"A multipart body parsed into {type(data).__name__}, not a QueryDict.")
        for name in sorted(data.keys()):
            if name not in request.FILES:
                digest.update(f"{name}={data.getlist(name)}".encode())
        for name in sorted(request.FILES.keys()):
            for upload in request.FILES.getlist(name):
                digest.update(f"{name}:{upload.name}:{upload.size}".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _claim(request: AuthenticatedRequest, key: str, fingerprint: str) -> IdempotencyKey | Response:
    """The key's row, newly ours; or the response to send instead of running the request."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                user=request.user,
                key=key,
                method=_method(request),
                path=request.path[:255],
                fingerprint=fingerprint,
            )
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyKey.objects.select_for_update().get(user=request.user, key=key)
        if record.fingerprint != fingerprint:
            raise ApplicationError(
                AccountsError.IDEMPOTENCY_KEY_REUSED,
                _("This Idempotency-Key was used for a different request."),
            )
        if record.state == IdempotencyKey.State.DONE:
            return Response(record.response_body, status=record.response_status, headers={REPLAYED: "true"})
        if record.created_at > timezone.now() - STALE_AFTER:
            raise ApplicationError(
                AccountsError.IDEMPOTENCY_KEY_IN_PROGRESS,
                _("A request with this Idempotency-Key is still being processed. Retry shortly."),
            )
        record.created_at = timezone.now()  # the first try died: this one takes the key over
        record.save(update_fields=["created_at"])
        return record


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an APIView handler (``post``/``put``/``delete``): the key is required and honoured."""

    @wraps(handler)
    def wrapper(view: APIView, request: AuthenticatedRequest, *args: object, **kwargs: object) -> Response:
        key = request_key(request)
        claimed = _claim(request, key, _fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        request.idempotency_key = key
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            try:
                response = view.handle_exception(exc)  # re-raises a 5xx
            except Exception:
                claimed.delete()
                raise
        if response.status_code >= 500 or response.status_code in _NOT_KEPT:
            claimed.delete()
            return response
        claimed.state = IdempotencyKey.State.DONE
        claimed.response_status = response.status_code
        claimed.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
        claimed.finished_at = timezone.now()
        claimed.save(update_fields=["state", "response_status", "response_body", "finished_at"])
        return response

    return wrapper


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than ``API_IDEMPOTENCY_KEEP_HOURS``; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.API_IDEMPOTENCY_KEEP_HOURS)
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

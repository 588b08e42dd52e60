"""Context on every log line: the request id of a web/API request, the task, run and chunk of a Celery
task. Set with contextvars, read by ``ContextFilter``; the JSON formatter (python-json-logger) prints it.

Log lines never carry personal data: services log ids, masked phones and last four digits only.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task: contextvars.ContextVar[str] = contextvars.ContextVar("task", default="")
run_id: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")
chunk: contextvars.ContextVar[str] = contextvars.ContextVar("chunk", default="")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task = task.get()
        record.run_id = run_id.get()
        record.chunk = chunk.get()
        return True


class ClientErrorFilter(logging.Filter):
    """A 4xx is the client's mistake, not ours: its one warning line says enough. Django logs a refused
    permission (403) with the exception's traceback, which reads like a crash in a terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.") and isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the proxy when it is a plain id, else makes one; echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        value = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(value)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = value
        return response

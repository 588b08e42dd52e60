"""/healthz, /readyz, request ids and the JSON log format."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pythonjsonlogger.json import JsonFormatter

from config.celery import app
from core import logcontext
from core.logcontext import ClientErrorFilter, ContextFilter


def test_healthz_reports_database_and_broker(client, db) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["broker"] == "ok"


def test_healthz_fails_when_the_broker_is_unreachable(client, db, settings) -> None:
    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = old
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable"


def test_readyz(client, db) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "broker": True, "migrations": True, "cache": True}


def test_request_id_is_echoed_and_made_when_missing(client, db) -> None:
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert made["X-Request-ID"] != "<script>"
    assert len(made["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_context() -> None:
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(run_id)s %(chunk)s"
    )
    record = logging.LogRecord("repayments.tasks", logging.INFO, __file__, 1, "debit chunk done", (), None)
    token_run, token_chunk = logcontext.run_id.set("42"), logcontext.chunk.set("1-500")
    try:
        ContextFilter().filter(record)
    finally:
        logcontext.run_id.reset(token_run)
        logcontext.chunk.reset(token_chunk)
    line = json.loads(formatter.format(record))
    assert line["run_id"] == "42"
    assert line["chunk"] == "1-500"
    assert line["message"] == "debit chunk done"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_get_only(client, db, path) -> None:
    assert client.post(path).status_code == 405


def _console_lines(record: logging.LogRecord) -> list[str]:
    """What our console handler(s) print for ``record`` (pytest's own capture handlers left out)."""
    console = [
        h for h in logging.getLogger().handlers if any(isinstance(f, ClientErrorFilter) for f in h.filters)
    ]
    assert console, "the console handler lost its client-error filter"
    return [h.format(record) for h in console if all(f.filter(record) for f in h.filters)]


def _record(status: int, exc: Exception) -> logging.LogRecord:
    try:
        raise exc
    except type(exc):
        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "refused", (), exc_info)
    record.status_code = status
    return record


def test_a_client_error_logs_one_line_without_a_traceback() -> None:
    """A 403 in the terminal of `make run` is one warning line: printed once (not by Django's own console
    handler and again by the root's) and without the PermissionDenied traceback; a 500 keeps its traceback."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate
    assert all("Traceback" not in line for line in _console_lines(_record(403, PermissionError("no"))))
    assert all("Traceback" in line for line in _console_lines(_record(500, RuntimeError("boom"))))

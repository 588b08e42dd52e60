"""Security suite: no full card number anywhere, and a BOLA sweep over every customer page with an id."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import IdempotencyKey
from installments.models import NegotiationApplication
from repayments.models import Repayment, RepaymentStatus
from repayments.services import OneTimeCard, complaint_file, repayment_create
from tests.cards import CMB_DEBIT, ICBC_DEBIT, luhn_complete
from tests.installments.negotiation_support import PDF, apply, upload

DIGIT_RUNS = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){15,18}\d(?![0-9A-Za-z])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_like(text: str) -> list[str]:
    """Runs of 16 to 19 digits (spaces or dashes allowed between) that pass Luhn, as a PAN would."""
    found = []
    for match in DIGIT_RUNS.findall(text):
        digits = re.sub(r"\D", "", match)
        if 16 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def database_text() -> str:
    """Every row of every table as text: the database as a dump would show it."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names)
            for row in cursor.fetchall():
                parts.append(" | ".join("" if v is None else str(v) for v in row))
    return "\n".join(parts)


def test_no_full_card_number_in_the_database_logs_or_responses(
    client, customer, codes, current_plan, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    one_time = luhn_complete("622848000000999")
    numbers = [ICBC_DEBIT, CMB_DEBIT, one_time]
    responses = []
    # Bind through the web page and through the API; pay once with a card used once.
    client.force_login(customer)
    client.post("/cards/bind/", {"action": "send_code"})
    responses.append(
        client.post(
            "/cards/bind/",
            {"number": ICBC_DEBIT, "holder_name": customer.real_name, "reserved_phone": "13811112222",
             "code": codes.codes[-1]},
        )
    )  # fmt: skip
    api = APIClient()
    api.force_authenticate(customer)
    api.post("/api/v1/otp/", {"purpose": "bind_card"}, format="json")
    responses.append(
        api.post(
            "/api/v1/cards/",
            {"number": CMB_DEBIT, "holder_name": customer.real_name, "reserved_phone": "13811112222",
             "otp_code": codes.codes[-1]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    )  # fmt: skip
    repayment = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="10.00",
        one_time_card=OneTimeCard(number=one_time, holder_name=customer.real_name),
        channel="web",
        idempotency_key="once",
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    for page in ("/cards/", "/records/", "/messages/", f"/repayments/{repayment.public_id}/"):
        responses.append(client.get(page))
    responses.append(api.get("/api/v1/cards/"))
    responses.append(api.get("/api/v1/repayments/"))

    dump = database_text()
    logs = "\n".join(record.getMessage() for record in caplog.records)
    bodies = "\n".join(r.content.decode() for r in responses)
    for number in numbers:
        for where, text in (("database", dump), ("logs", logs), ("responses", bodies)):
            assert number not in text, f"a full card number is in the {where}"
    assert card_like(dump) == []
    assert card_like(logs) == []
    assert card_like(bodies) == []
    # The scanner itself finds a card number when there is one.
    assert card_like(f"x {ICBC_DEBIT} y") == [ICBC_DEBIT]
    assert card_like(f"x {ICBC_DEBIT[:4]} {ICBC_DEBIT[4:8]} {ICBC_DEBIT[8:12]} {ICBC_DEBIT[12:]} y") == [
        ICBC_DEBIT
    ]


def test_idempotency_fingerprints_cannot_be_reversed_to_a_card_number(customer, codes) -> None:
    """The idempotency record of ``POST /cards/`` fingerprints a body that holds a card number. A plain
    SHA-256 of it (as before) gives the number back to anyone with the table who tries each Luhn-valid
    number of the BIN (~10^9 hashes); the fingerprint is keyed with a secret the table does not hold."""
    api = APIClient()
    api.force_authenticate(customer)
    api.post("/api/v1/otp/", {"purpose": "bind_card"}, format="json")
    body = {
        "number": CMB_DEBIT,
        "holder_name": customer.real_name,
        "reserved_phone": "13811112222",
        "otp_code": codes.codes[-1],
    }
    response = api.post("/api/v1/cards/", body, format="json", HTTP_IDEMPOTENCY_KEY="bind-1")
    assert response.status_code == 201, response.content
    record = IdempotencyKey.objects.get(key="bind-1")
    request_body = response.wsgi_request.body if hasattr(response, "wsgi_request") else b""
    plain = hashlib.sha256(b"POST" + b"/api/v1/cards/" + request_body).hexdigest()
    assert request_body
    assert CMB_DEBIT.encode() in request_body
    assert record.fingerprint != plain
    # The attacker's loop over candidate numbers, run against the stored value: no candidate matches.
    template = request_body.replace(CMB_DEBIT.encode(), b"%s")
    candidates = [CMB_DEBIT[:-3] + f"{n:03d}" for n in range(1000)]
    assert CMB_DEBIT in candidates
    guesses = {hashlib.sha256(b"POST/api/v1/cards/" + template % c.encode()).hexdigest() for c in candidates}
    assert record.fingerprint not in guesses
    # The same request again is still recognised as the same (a replay, not a reuse).
    again = api.post("/api/v1/cards/", body, format="json", HTTP_IDEMPOTENCY_KEY="bind-1")
    assert again.status_code == 201
    assert again.json() == response.json()


# --- BOLA over the web pages ----------------------------------------------------------------------------


def id_routes() -> list[str]:
    """Every non-admin, non-API route that takes a public id, from the URL configuration itself."""
    routes: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<uuid:public_id>" in route:
                if not route.startswith(("admin/", "api/")):
                    routes.append(route)

    walk(get_resolver().url_patterns, "")
    return routes


@pytest.mark.parametrize("method", ["get", "post"])
def test_bola_sweep_over_the_pages(
    client, customer, other_customer, card, current_plan, late_plan, method
) -> None:
    repayment = Repayment.objects.create(
        customer=customer,
        plan=current_plan,
        amount=Decimal("1.00"),
        mode="custom",
        channel="web",
        card=card,
        idempotency_key="bola",
        status=RepaymentStatus.SCHEDULED,
        scheduled_for=current_plan.first_due_date,
    )
    application = apply(late_plan, documents=[upload("p.pdf", PDF)])
    complaint = complaint_file(
        customer=customer, channel="web", category="fees", text="x", documents=[upload("c.pdf", PDF)]
    )
    ids = {
        "plans": current_plan.public_id,
        "repayments": repayment.public_id,
        "cards": card.public_id,
        "negotiations": application.public_id,
        "documents": application.documents.get().public_id,
        "complaints": complaint.public_id,
        "complaint-files": complaint.documents.get().public_id,
    }
    routes = id_routes()
    assert len(routes) >= 11
    client.force_login(other_customer)
    for route in routes:
        url = "/" + route.replace("<uuid:public_id>", str(ids[route.split("/")[0]]))
        response = getattr(client, method)(url, {"enabled": "on", "action": "decline", "step": "review"})
        assert response.status_code in (404, 405), (method, url, response.status_code)
    repayment.refresh_from_db()
    card.refresh_from_db()
    assert repayment.status == RepaymentStatus.SCHEDULED
    assert card.status == "active"
    assert NegotiationApplication.objects.get(pk=application.pk).state == "submitted"

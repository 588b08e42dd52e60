"""A mobile team's first hour: generate a Python client from the live /api/schema/ with
openapi-python-client (pinned in requirements-dev.txt; the generator runs offline), import it, and walk
sign-in -> bills -> plan -> pay -> replay -> lists through it against a live server.

On main this failed at the first step a developer takes: the generated package did not import
(``NameError: Unset``: every JSON body also advertised form and multipart), and sign-in documented "200: No
response body", so the client could not read its token. Runs on PostgreSQL and SQLite (transactional: the
live server's thread reads what the test committed)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from repayments.models import Repayment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_throttles")]

PACKAGE = "installment_repayment_api_client"  # from the schema's (ASCII) title
# What a mobile team would put in its generator config: documents are bytes, whatever their type; no
# formatter run (the generated code is imported as it is).
GENERATOR_CONFIG = """\
post_hooks: []
content_type_overrides:
  application/pdf: application/octet-stream
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
"""


@pytest.fixture
def generated(live_server, tmp_path: Path, monkeypatch):
    """The client package generated from the live server's schema, imported."""
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json", timeout=30) as response:  # noqa: S310
        schema = json.load(response)
    (tmp_path / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    generator = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run(  # noqa: S603 (our own pinned tool, fixed arguments)
        [
            str(generator),
            "generate",
            "--path",
            "schema.json",
            "--meta",
            "none",
            "--config",
            "config.yaml",
            "--fail-on-warning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / PACKAGE / "__init__.py").exists(), run.stdout
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    yield importlib.import_module(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def _api(name: str):
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_signs_in_pays_replays_and_lists(
    generated, live_server, customer, card, current_plan
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    anonymous = generated.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    # Sign in: the token comes back as a typed body.
    tokens = _api("auth.auth_token_create").sync(
        client=anonymous, body=models.SignInRequest(phone="13811112222", password="secret-pass-1")
    )
    assert isinstance(tokens, models.SignInTokens)
    assert tokens.access
    assert tokens.refresh
    api = generated.AuthenticatedClient(
        base_url=live_server.url, token=tokens.access, raise_on_unexpected_status=True
    )

    # Bills, then the plan they point at.
    bills = _api("bills.bills_list").sync(client=api)
    assert [b.plan_id for b in bills.results] == [current_plan.public_id]
    plan = _api("plans.plans_retrieve").sync(client=api, public_id=bills.results[0].plan_id)
    assert plan.id == current_plan.public_id
    assert len(plan.installments) == 12

    # Pay, then replay the same request with the same Idempotency-Key: the same repayment, charged once.
    key = str(uuid.uuid4())
    body = models.RepaymentCreateRequest(
        plan_id=plan.id, mode=models.ModeEnum.CUSTOM, amount="50.00", card_id=card.public_id
    )
    paid = _api("repayments.repayments_create").sync_detailed(client=api, body=body, idempotency_key=key)
    assert paid.status_code == 201, paid.content
    assert paid.parsed.status == "succeeded"
    assert paid.parsed.amount == "50.00"
    assert paid.parsed.card_id == card.public_id
    replay = _api("repayments.repayments_create").sync_detailed(client=api, body=body, idempotency_key=key)
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.parsed.id == paid.parsed.id
    assert Repayment.objects.filter(customer=customer).count() == 1

    # A refusal is a typed error with its published code.
    refused = _api("repayments.repayments_create").sync_detailed(
        client=generated.AuthenticatedClient(base_url=live_server.url, token=tokens.access),
        body=models.RepaymentCreateRequest(
            plan_id=plan.id, mode=models.ModeEnum.CUSTOM, amount="99999.00", card_id=card.public_id
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert refused.status_code == 422
    assert refused.parsed.code == "amount_exceeds_outstanding"

    # Lists: one envelope for all.
    repayments = _api("repayments.repayments_list").sync(client=api)
    assert [r.id for r in repayments.results] == [paid.parsed.id]
    assert [p.id for p in _api("plans.plans_list").sync(client=api).results] == [current_plan.public_id]
    assert [c.id for c in _api("cards.cards_list").sync(client=api).results] == [card.public_id]
    inbox = _api("notifications.notifications_list").sync(client=api)
    assert "repayment_received" in {n.template_code for n in inbox.results}
    products = _api("products.products_list").sync(client=anonymous)
    assert [p.code for p in products.results] == ["baitiao"]
    after = _api("plans.plans_retrieve").sync(client=api, public_id=plan.id)
    assert sum(Decimal(i.paid) for i in after.installments) == Decimal("50.00")

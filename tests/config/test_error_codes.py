"""The published error-code catalogue covers every code the code base can raise."""

from __future__ import annotations

import re
from pathlib import Path

from config.error_codes import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
RAISERS = re.compile(
    r"(?:ApplicationError|Refusal|DocumentError|_wait_error|CardRejected)\(\s*f?\"([a-z_]+)\"", re.S
)


def raised_codes() -> set[str]:
    codes = set()
    for app in ("accounts", "config", "installments", "notifications", "repayments"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for code in RAISERS.findall(path.read_text(encoding="utf-8")):
                codes.add(code)
    # CardRejected codes reach clients prefixed: ApplicationError(f"card_{exc.code}").
    card_codes = {f"card_{c}" for c in ("invalid_number", "not_supported", "holder_mismatch")}
    return {c for c in codes if c not in {"invalid_number", "not_supported", "holder_mismatch"}} | card_codes


def test_every_raised_code_is_published() -> None:
    missing = raised_codes() - set(ERROR_CODES)
    assert not missing, f"add to config/error_codes.py: {sorted(missing)}"


def test_the_schema_lists_the_codes(client, db) -> None:
    text = client.get("/api/schema/").content.decode()
    for code in ("amount_exceeds_outstanding", "idempotency_key_reused", "overdue_beyond_grace"):
        assert code in text

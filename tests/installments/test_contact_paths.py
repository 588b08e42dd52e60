"""No path writes a contact-log entry or a collection SMS around the contact gate (issue 19, item 6).

The writes have one home each, and that home asks the gate: a ``ContactLog`` is created only by
``contact_log_create`` (installments/services/negotiation.py); an overdue SMS (``overdue_reminder``,
``overdue_summary``) only by repayments/services/reminders.py; the payment-link SMS only by
repayments/services/payment_link.py. This test reads the source: a new writer elsewhere fails it, and
the behavioural tests (test_contact_gate.py, tests/repayments/test_contact_gate_sms.py) prove each home
refuses what the gate refuses.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "tests", "migrations", "node_modules", "var", "bench"}

# A model call (an instance to save) or a manager write; not the class statement itself.
CONTACT_LOG_WRITE = re.compile(
    r"(?<!class )ContactLog\s*\(|ContactLog\.objects\.(create|bulk_create|get_or_create|update_or_create)"
)
GATED_SMS_CODES = {
    "overdue_reminder": "repayments/services/reminders.py",
    "overdue_summary": "repayments/services/reminders.py",
    "payment_link": "repayments/services/payment_link.py",
}


def _sources() -> dict[str, str]:
    found = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP & set(relative.parts):
            continue
        found[relative.as_posix()] = path.read_text(encoding="utf-8")
    return found


def test_contact_log_rows_are_written_only_by_the_gated_service() -> None:
    writers = {name for name, text in _sources().items() if CONTACT_LOG_WRITE.search(text)}
    assert writers == {"installments/services/negotiation.py"}
    text = (ROOT / "installments/services/negotiation.py").read_text(encoding="utf-8")
    body = text[text.index("def contact_log_create(") :]
    body = body[: body.index("\ndef ") if "\ndef " in body else len(body)]
    assert "ContactLog.objects.create(" in body, "the write left contact_log_create"
    assert body.index("contact_allowed(") < body.index("ContactLog.objects.create("), "write before the gate"
    assert text.count("ContactLog.objects.create(") == 1


def test_collection_sms_are_written_only_where_the_gate_is_asked() -> None:
    sources = _sources()
    for code, home in GATED_SMS_CODES.items():
        users = {
            name
            for name, text in sources.items()
            if re.search(rf"[\"']{code}[\"']", text) and name != "notifications/messages.py"
        }
        assert users <= {home, "installments/models/contact.py"}, (code, users)
        assert home in users, code
        assert "contact_allowed(" in sources[home], home

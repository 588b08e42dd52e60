"""The Chinese catalogue: every message translated, placeholders kept, and the compiled .mo up to date."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]|\{[a-z_0-9]+\}")


def _unquote(lines: list[str]) -> str:
    return "".join(eval(line) for line in lines)  # noqa: S307 (the .po's own quoted C strings)


PLURALS: dict[str, str] = {}  # msgid -> msgid_plural, filled by po_entries


def po_entries() -> dict[str, str]:
    entries: dict[str, str] = {}
    for block in (ROOT / "django.po").read_text(encoding="utf-8").split("\n\n")[1:]:
        current, parts = None, {"msgctxt": [], "msgid": [], "msgid_plural": [], "msgstr": []}
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr|msgstr\[0\]) (".*")$', line)
            if match:
                key = match.group(1)
                kept = key in ("msgctxt", "msgid", "msgid_plural")
                current = key if kept else ("msgstr" if key.startswith("msgstr") else None)
                if current:
                    parts[current].append(match.group(2))
            elif line.startswith('"') and current:
                parts[current].append(line)
        if parts["msgid"]:
            # A message with a context is stored in the .mo as "context\x04msgid" (what pgettext looks up).
            context = _unquote(parts["msgctxt"]) + "\x04" if parts["msgctxt"] else ""
            entries[context + _unquote(parts["msgid"])] = _unquote(parts["msgstr"])
            if parts["msgid_plural"]:
                PLURALS[context + _unquote(parts["msgid"])] = _unquote(parts["msgid_plural"])
    return entries


def test_every_message_is_translated_with_its_placeholders() -> None:
    entries = po_entries()
    assert len(entries) > 500
    for msgid, msgstr in entries.items():
        assert msgstr, f"untranslated: {msgid!r}"
        # Chinese has one plural form: it follows the plural source ("once" has no count; "%(n)s times" has).
        source = PLURALS.get(msgid, msgid)
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(msgstr)), msgid


def test_the_compiled_catalogue_matches_the_source() -> None:
    with (ROOT / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in po_entries().items():
        assert compiled.gettext(msgid) == msgstr or compiled.ngettext(msgid, msgid, 1) == msgstr, msgid

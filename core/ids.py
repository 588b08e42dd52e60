"""Public ids (the ``public_id`` of every model that shows one, and the simulators' references).

UUIDv7 (RFC 9562): a millisecond timestamp first, then 74 random bits. Still unguessable, but new ids
sort after old ones, so each insert lands at the right edge of its unique index instead of on a random
page. With random UUIDv4 the five such indexes written per debit (repayment, SMS, the bank's charge)
outgrew the buffer cache near a million rows and every insert read, dirtied and logged a cold page.
The timestamp in the id says when the row was made, which the row shows anyway.
"""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_public_id() -> uuid.UUID:
    """A time-ordered UUID, as a plain ``uuid.UUID`` (``uuid6`` returns its own subclass)."""
    return uuid.UUID(int=uuid7().int)


def short_ref(public_id: uuid.UUID) -> str:
    """Eight characters to tell records apart on a screen or in an SMS: the id's random end (its start is
    the timestamp, the same for everything made in the same minute)."""
    return public_id.hex[-8:]

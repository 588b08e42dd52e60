"""Public ids are UUIDv7: unguessable, but each new one sorts after the last (index locality)."""

from __future__ import annotations

import uuid

from core.ids import new_public_id
from notifications.models import Notification
from repayments.models import Repayment


def test_public_ids_are_version_7_plain_uuids_in_creation_order() -> None:
    ids = [new_public_id() for _ in range(2000)]
    assert all(type(i) is uuid.UUID and i.version == 7 for i in ids)
    assert len(set(ids)) == len(ids)
    # Within one millisecond the order comes from the random part; across milliseconds it follows time.
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert ids[-1] > ids[0]


def test_repayments_and_sms_take_them_by_default() -> None:
    assert Repayment._meta.get_field("public_id").default is new_public_id
    assert Notification._meta.get_field("public_id").default is new_public_id

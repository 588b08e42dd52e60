"""notifications 0007 gives SMS rows already written the renamed template codes (one name per meaning)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User

BEFORE = [("notifications", "0006_simulators_leave_notifications")]
AFTER = [("notifications", "0007_template_codes_renamed")]


def _migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_rows_take_the_new_codes_and_dedupe_prefixes_and_back() -> None:
    apps = _migrate(BEFORE)
    Notification = apps.get_model("notifications", "Notification")
    # accounts is not migrated back: its table is today's, so the user is written with today's model.
    user = User.objects.create(phone="+8613800000077", real_name="张三", password="!")
    common = {"user_id": user.pk, "phone": "+8613800000077", "category": "transactional", "text": "t"}
    Notification.objects.create(
        template_code="reinstallment_approved", dedupe_key="reinstallment_approved:x", **common
    )
    Notification.objects.create(
        template_code="reinstallment_offer", dedupe_key="negotiation:y:offer", **common
    )
    Notification.objects.create(template_code="due_reminder", dedupe_key="due_reminder:z", **common)

    apps = _migrate(AFTER)
    rows = dict(
        apps.get_model("notifications", "Notification").objects.values_list("template_code", "dedupe_key")
    )
    assert rows == {
        "plan_restaged": "plan_restaged:x",
        "negotiation_offer": "negotiation:y:offer",
        "due_reminder": "due_reminder:z",
    }

    apps = _migrate(BEFORE)
    codes = set(
        apps.get_model("notifications", "Notification").objects.values_list("template_code", flat=True)
    )
    assert codes == {"reinstallment_approved", "reinstallment_offer", "due_reminder"}
    _migrate(AFTER)

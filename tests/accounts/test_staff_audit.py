"""The staff audit trail's one writer, and the ``lead`` group kept in code."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.audit import ACTION_LABELS, action_label, staff_action_record
from accounts.models import StaffAction
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_an_action_is_recorded_with_its_words() -> None:
    staff, customer = StaffFactory(), CustomerFactory()
    row = staff_action_record(
        staff=staff, customer=customer, action="phone_revealed", detail={"field": "phone"}
    )
    assert StaffAction.objects.get() == row
    assert row.detail == {"field": "phone"}
    assert action_label("phone_revealed") == str(ACTION_LABELS["phone_revealed"])


def test_an_action_without_words_is_refused() -> None:
    staff, customer = StaffFactory(), CustomerFactory()
    with pytest.raises(ValueError, match="no words"):
        staff_action_record(staff=staff, customer=customer, action="made_up")
    assert not StaffAction.objects.exists()


def test_the_lead_has_every_approver_right_and_agents_read_the_trail() -> None:
    lead = set(Group.objects.get(name=LEAD).permissions.values_list("codename", flat=True))
    approver = set(Group.objects.get(name=APPROVER).permissions.values_list("codename", flat=True))
    agent = set(Group.objects.get(name=AGENT).permissions.values_list("codename", flat=True))
    assert approver <= lead
    assert "view_staffaction" in agent
    assert "approve_negotiation" in lead

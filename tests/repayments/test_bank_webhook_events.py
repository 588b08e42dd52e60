"""The record of bank webhooks acted on (``BankWebhookEvent``): read-only in the admin for staff allowed to
see it, pruned after ``BANK_WEBHOOK_KEEP_DAYS`` by a daily beat task; and the endpoint is off when no
secret is configured (an empty HMAC key would let anyone sign)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from repayments.models import BankWebhookEvent
from repayments.services import bank_webhook_events_prune
from repayments.staff import AGENT
from repayments.tasks import prune_webhook_events
from tests.factories import StaffFactory

CHANGELIST = "admin:repayments_bankwebhookevent_changelist"


def _event(event_id: str, *, days_old: float, kind: str = "charge.succeeded") -> BankWebhookEvent:
    event = BankWebhookEvent.objects.create(
        event_id=event_id, kind=kind, idempotency_key=f"repayment:{event_id}"
    )
    BankWebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=days_old))
    return event


def test_the_endpoint_is_off_without_any_secret(client, db, settings) -> None:
    settings.BANK_WEBHOOK_SECRET = ""
    settings.GATEWAY_HTTP_SECRET = ""
    response = client.post("/webhooks/bank/", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert not BankWebhookEvent.objects.exists()


def test_prune_deletes_only_events_past_the_retention(db, settings) -> None:
    settings.BANK_WEBHOOK_KEEP_DAYS = 30
    _event("old-1", days_old=31)
    _event("old-2", days_old=400)
    _event("recent", days_old=29)
    assert bank_webhook_events_prune() == 2
    assert list(BankWebhookEvent.objects.values_list("event_id", flat=True)) == ["recent"]
    assert bank_webhook_events_prune() == 0  # again: nothing left to do


def test_prune_works_through_a_backlog_in_batches(db, settings, monkeypatch) -> None:
    monkeypatch.setattr("repayments.services.webhooks.PRUNE_BATCH", 2)
    settings.BANK_WEBHOOK_KEEP_DAYS = 1
    for i in range(5):
        _event(f"old-{i}", days_old=3)
    assert bank_webhook_events_prune() == 5
    assert not BankWebhookEvent.objects.exists()


def test_the_beat_task_prunes_daily(db, settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["prune-webhook-events"]
    assert entry["task"] == "repayments.prune_webhook_events"
    _event("old", days_old=settings.BANK_WEBHOOK_KEEP_DAYS + 1)
    assert prune_webhook_events.apply().get() == 1


def test_the_admin_lists_events_read_only_with_filters(client, db) -> None:
    _event("evt-charge", days_old=0)
    _event("evt-refund", days_old=0, kind="refund.succeeded")
    client.force_login(StaffFactory(is_superuser=True))
    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "evt-charge" in page
    assert "evt-refund" in page
    filtered = client.get(reverse(CHANGELIST), {"kind": "refund.succeeded"}).content.decode()
    assert "evt-refund" in filtered
    assert "evt-charge" not in filtered
    assert "evt-charge" in client.get(reverse(CHANGELIST), {"q": "evt-charge"}).content.decode()
    event = BankWebhookEvent.objects.get(event_id="evt-charge")
    change = reverse("admin:repayments_bankwebhookevent_change", args=[event.pk])
    assert client.get(change).status_code == 200  # viewable
    assert client.post(change, {"kind": "charge.declined"}).status_code == 403
    assert client.get(reverse("admin:repayments_bankwebhookevent_add")).status_code == 403
    assert client.get(reverse("admin:repayments_bankwebhookevent_delete", args=[event.pk])).status_code == 403
    event.refresh_from_db()
    assert event.kind == "charge.succeeded"


def test_the_admin_list_needs_the_view_permission(client, db) -> None:
    agent = StaffFactory(groups=[AGENT])
    client.force_login(agent)
    assert client.get(reverse(CHANGELIST)).status_code == 403
    agent.user_permissions.add(Permission.objects.get(codename="view_bankwebhookevent"))
    client.force_login(agent)
    assert client.get(reverse(CHANGELIST)).status_code == 200


def test_the_retention_default_outlives_the_bank_retry_horizon() -> None:
    """Pruning is only safe past the bank's retries (minutes apart) and the signature window."""
    assert settings.BANK_WEBHOOK_KEEP_DAYS * 86400 > 100 * settings.BANK_WEBHOOK_WINDOW_SECONDS

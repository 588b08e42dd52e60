"""Debit runs in the staff workspace (issue 19, item 8; review: "a run with nothing due stays 运行中 0/0 for
ever", "slot shown as 1 not 08:00", "no auto-refresh", agents and approvers got a bare 403)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from config.celery import app
from repayments.models import DebitRun, DebitRunStatus
from repayments.services import debit_run_plan
from repayments.staff import APPROVER, LEAD
from repayments.tasks import debit_slot
from tests.factories import StaffFactory

SLOTS = ["08:00", "12:00", "20:00"]


@pytest.fixture(autouse=True)
def slot_times(settings) -> None:
    settings.AUTODEBIT_SLOTS = SLOTS


@pytest.fixture
def team_lead(db) -> User:
    return StaffFactory(phone="+8613700000031", groups=[LEAD])


@pytest.fixture
def operator(db) -> User:
    """Staff with the change right on runs (operations), not a superuser."""
    user = StaffFactory(phone="+8613700000032")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="repayments", codename__in=["view_debitrun", "change_debitrun"]
        )
    )
    return user


# --- a run with nothing due ------------------------------------------------------------------------------


def test_planning_a_slot_with_nothing_due_finishes_the_run(db) -> None:
    """The workers' path plans the run and fans out its chunks; with no chunk, nothing else would ever
    finish it."""
    run, chunks = debit_run_plan(business_date=timezone.localdate(), slot=2)
    assert chunks == []
    run.refresh_from_db()
    assert run.status == DebitRunStatus.FINISHED
    assert run.finished_at is not None
    assert (run.chunks_total, run.chunks_done, run.attempts, run.succeeded, run.failed) == (0, 0, 0, 0, 0)


def test_the_slot_task_with_nothing_due_leaves_a_finished_run(db) -> None:
    today = timezone.localdate()
    assert debit_slot(3, today.isoformat()) == 0  # the task body, as the worker runs it
    assert DebitRun.objects.get(business_date=today, slot=3).status == DebitRunStatus.FINISHED


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_finishes_an_empty_slot_at_once() -> None:
    today = timezone.localdate()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert debit_slot.delay(2, today.isoformat()).get(timeout=30) == 0
    run = DebitRun.objects.get(business_date=today, slot=2)
    assert run.status == DebitRunStatus.FINISHED
    assert run.chunks_total == 0


def test_a_run_with_chunks_still_out_is_not_finished_by_an_empty_replan(db) -> None:
    """Planning again with nothing new to debit must not finish a run whose earlier chunks still run."""
    today = timezone.localdate()
    run = DebitRun.objects.create(business_date=today, slot=1, chunks_total=1, chunks_done=0)
    run.chunks.create(first_plan_id=1, last_plan_id=5)
    run, _chunks = debit_run_plan(business_date=today, slot=1)
    assert run.status == DebitRunStatus.RUNNING


def test_the_runs_list_says_nothing_was_due(client, operator) -> None:
    debit_run_plan(business_date=timezone.localdate(), slot=1)
    client.force_login(operator)
    html = client.get(reverse("admin:repayments_debitrun_changelist")).content.decode()
    assert "已完成" in html  # finished
    assert "无应扣款项" in html
    assert "0/0" not in html


# --- slots as times ------------------------------------------------------------------------------------


def test_slots_read_as_times(client, operator) -> None:
    run = DebitRun.objects.create(business_date=timezone.localdate(), slot=2, status=DebitRunStatus.FINISHED)
    client.force_login(operator)
    listing = client.get(reverse("admin:repayments_debitrun_changelist")).content.decode()
    assert ">12:00<" in listing
    page = client.get(reverse("admin:repayments_debitrun_change", args=[run.pk])).content.decode()
    assert "12:00" in page
    form = client.get(reverse("admin:repayments_debitrun_run_now")).content.decode()
    for time in SLOTS:
        assert f">{time}</option>" in form or f">{time}</label>" in form
    assert ">1: 08:00<" not in form


def test_a_slot_the_setting_no_longer_has_keeps_its_number(client, operator, settings) -> None:
    settings.AUTODEBIT_SLOTS = ["09:00"]
    DebitRun.objects.create(business_date=timezone.localdate(), slot=3, status=DebitRunStatus.FINISHED)
    client.force_login(operator)
    assert ">#3<" in client.get(reverse("admin:repayments_debitrun_changelist")).content.decode()


# --- refreshing while a run runs -----------------------------------------------------------------------


def test_pages_refresh_themselves_only_while_a_run_is_running(client, operator) -> None:
    run = DebitRun.objects.create(business_date=timezone.localdate(), slot=1, chunks_total=4, chunks_done=1)
    client.force_login(operator)
    listing = reverse("admin:repayments_debitrun_changelist")
    page = reverse("admin:repayments_debitrun_change", args=[run.pk])
    assert 'http-equiv="refresh"' in client.get(listing).content.decode()
    assert 'http-equiv="refresh"' in client.get(page).content.decode()
    assert "1 / 4" in client.get(listing).content.decode()
    DebitRun.objects.filter(pk=run.pk).update(status=DebitRunStatus.FINISHED, finished_at=timezone.now())
    assert 'http-equiv="refresh"' not in client.get(listing).content.decode()
    assert 'http-equiv="refresh"' not in client.get(page).content.decode()


def test_an_old_run_page_does_not_refresh_because_another_runs(client, operator) -> None:
    today = timezone.localdate()
    done = DebitRun.objects.create(
        business_date=today - timedelta(days=1), slot=1, status=DebitRunStatus.FINISHED
    )
    DebitRun.objects.create(business_date=today, slot=1)
    client.force_login(operator)
    page = client.get(reverse("admin:repayments_debitrun_change", args=[done.pk])).content.decode()
    assert 'http-equiv="refresh"' not in page


# --- who may read and who may start --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["agent", "approver", "team_lead"])
def test_support_groups_read_runs_but_cannot_start_one(client, request, who) -> None:
    user = request.getfixturevalue(who)
    run = DebitRun.objects.create(business_date=timezone.localdate(), slot=1, status=DebitRunStatus.FINISHED)
    client.force_login(user)
    listing = client.get(reverse("admin:repayments_debitrun_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:repayments_debitrun_run_now") not in listing.content.decode()
    assert client.get(reverse("admin:repayments_debitrun_change", args=[run.pk])).status_code == 200
    assert client.get(reverse("admin:repayments_debitrun_run_now")).status_code == 403
    assert client.post(reverse("admin:repayments_debitrun_run_now"), {"slot": "1"}).status_code == 403
    assert client.get(reverse("admin:repayments_debitattempt_changelist")).status_code == 200


def test_the_change_right_starts_a_slot(client, operator, django_capture_on_commit_callbacks) -> None:
    client.force_login(operator)
    listing = client.get(reverse("admin:repayments_debitrun_changelist")).content.decode()
    assert reverse("admin:repayments_debitrun_run_now") in listing
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("admin:repayments_debitrun_run_now"), {"slot": "2"}, follow=True)
    assert len(callbacks) == 1
    assert "12:00" in response.content.decode()  # "today's 12:00 slot is queued"


def test_groups_are_as_the_code_says(db) -> None:
    """The approver and lead groups hold the agent's view right on runs, and no group the change right."""
    for name in (APPROVER, LEAD):
        perms = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert "view_debitrun" in perms
        assert "change_debitrun" not in perms

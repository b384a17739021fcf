"""The job protocol's heartbeat: one writer, and it writes only for the attempt that holds the run."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cldweb import jobs
from cldweb.models import Run

pytestmark = pytest.mark.django_db


def test_a_stale_attempts_heartbeat_writes_nothing(run):
    long_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(status="distilling", attempt=2, heartbeat_at=long_ago)

    assert jobs.beat(run.pk, 1) is False  # attempt 1 lost the run to attempt 2
    assert Run.objects.get(pk=run.pk).heartbeat_at == long_ago

    assert jobs.beat(run.pk, 2) is True
    assert Run.objects.get(pk=run.pk).heartbeat_at > long_ago


def test_an_ended_run_takes_no_heartbeat(run):
    Run.objects.filter(pk=run.pk).update(status="distilling", attempt=1)
    jobs.mark_failed(Run.objects.get(pk=run.pk), "internal", "boom", attempt=1)
    ended_at = Run.objects.get(pk=run.pk).heartbeat_at

    assert jobs.beat(run.pk, 1) is False
    assert Run.objects.get(pk=run.pk).heartbeat_at == ended_at


def test_a_stale_attempts_stage_changes_nothing(run):
    long_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(status="distilling", attempt=2, heartbeat_at=long_ago)

    Run.objects.get(pk=run.pk).mark_stage("evaluating", {"device": "cpu"}, attempt=1)

    row = Run.objects.get(pk=run.pk)
    assert (row.status, row.heartbeat_at) == ("distilling", long_ago)


def test_the_unchecked_heartbeat_writer_is_gone():
    assert not hasattr(Run, "touch_heartbeat") and not hasattr(Run, "beat")  # jobs.beat is the one writer

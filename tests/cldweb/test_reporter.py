"""WebReporter: points stored with consecutive seqs; cancel read and stage progress stored at most once a second."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from cldweb import jobs
from cldweb.models import Run
from cldweb.reporting import WebReporter

pytestmark = pytest.mark.django_db


def test_it_stores_every_point_before_sending_and_continues_numbering(run):
    clock = [0.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])
    reporter.on_step("teacher", {"step": 1, "loss": 2.0})
    reporter.on_eval("teacher", {"step": 1, "dev_accuracy": float("nan")})
    reporter.close()

    again = WebReporter(run.pk, clock=lambda: clock[0])  # a retried task continues after the last seq
    again.on_step("student", {"step": 1, "loss": 1.0})
    again.close()

    points = run.points_after(0)
    assert [(p["seq"], p["phase"], p["kind"]) for p in points] == [
        (1, "teacher", "step"), (2, "teacher", "eval"), (3, "student", "step")]
    assert points[1]["values"] == {"step": 1, "dev_accuracy": None}  # NaN is not valid JSON


def test_it_stores_the_engines_notes_as_points_in_the_same_numbering(run):
    reporter = WebReporter(run.pk, clock=lambda: 0.0)
    reporter.on_step("student", {"step": 1, "loss": 1.0})
    reporter.on_message("Student initialised from the teacher's weights.", code="student_from_teacher")
    reporter.on_message("Student trained for 1,200 steps.", code="student_trained", params={"steps": 1200})
    reporter.close()

    assert [(p["seq"], p["kind"], p["phase"], p["values"]) for p in run.points_after(0)] == [
        (1, "step", "student", {"step": 1, "loss": 1.0}),
        (2, "note", "", {"text": "Student initialised from the teacher's weights.", "code": "student_from_teacher",
                         "params": {}}),
        (3, "note", "", {"text": "Student trained for 1,200 steps.", "code": "student_trained",
                         "params": {"steps": 1200}})]


def test_it_reads_the_cancel_flag_at_most_once_a_second(run):
    clock = [10.0]
    reporter = WebReporter(run.pk, attempt=run.attempt, clock=lambda: clock[0])
    run.mark_stage("distilling", {"device": "cpu"})

    assert reporter.should_stop() is False
    run.request_cancel()
    clock[0] += 0.5
    assert reporter.should_stop() is False  # not polled again yet
    clock[0] += 0.6
    assert reporter.should_stop() is True

    run.refresh_from_db()
    assert run.heartbeat_at is not None


def test_it_writes_the_heartbeat_only_while_the_run_is_its_attempts(run):
    Run.objects.filter(pk=run.pk).update(status="distilling", attempt=2)  # attempt 2 took over from attempt 1
    stale_time = timezone.now() - timedelta(hours=1)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=stale_time)
    clock = [0.0]

    lost = WebReporter(run.pk, attempt=1, clock=lambda: clock[0])
    assert lost.should_stop() is False
    assert Run.objects.get(pk=run.pk).heartbeat_at == stale_time  # the lost worker keeps nothing alive

    current = WebReporter(run.pk, attempt=2, clock=lambda: clock[0])
    current.should_stop()
    assert Run.objects.get(pk=run.pk).heartbeat_at > stale_time


def test_it_records_the_stage_and_device(run):
    WebReporter(run.pk).on_stage("labelling", {"device": "cpu", "cached": False})

    run.refresh_from_db()
    assert (run.status, run.device) == (Run.Status.LABELLING, "cpu")


def test_it_stores_progress_at_most_once_a_second_and_always_the_last_point(run):
    clock = [50.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])
    reporter.on_stage("labelling", {"device": "cpu"})

    reporter.on_progress("labelling", {"done": 64, "total": 1000, "eta_s": 90.0})
    clock[0] += 0.4
    reporter.on_progress("labelling", {"done": 128, "total": 1000, "eta_s": 80.0})  # within the second: skipped
    run.refresh_from_db()
    assert run.progress == {"stage": "labelling", "done": 64, "total": 1000, "eta_s": 90.0}

    clock[0] += 0.7
    reporter.on_progress("labelling", {"done": 192, "total": 1000, "eta_s": 70.0})
    run.refresh_from_db()
    assert run.progress["done"] == 192

    clock[0] += 0.1
    reporter.on_progress("labelling", {"done": 1000, "total": 1000, "eta_s": 0.0})  # the end of the pass: stored
    run.refresh_from_db()
    assert run.progress == {"stage": "labelling", "done": 1000, "total": 1000, "eta_s": 0.0}
    assert run.status_message()["progress"] == run.progress


def test_it_clears_progress_when_the_next_stage_begins(run):
    clock = [0.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])
    reporter.on_stage("labelling", {})
    reporter.on_progress("labelling", {"done": 10, "total": 20, "eta_s": float("inf")})
    run.refresh_from_db()
    assert run.progress == {"stage": "labelling", "done": 10, "total": 20, "eta_s": None}  # inf is not JSON

    reporter.on_stage("distilling", {})

    run.refresh_from_db()
    assert run.progress == {}
    assert run.status_message()["progress"] == {}


def test_it_leaves_a_run_that_ended_or_left_the_stage_as_it_is(run):
    run.mark_stage("labelling")
    assert run.record_progress("labelling", {"done": 5, "total": 10, "eta_s": 3.0}) is True
    run.mark_stage("distilling")

    assert run.record_progress("labelling", {"done": 6, "total": 10, "eta_s": 2.0}) is False  # a late point
    run.refresh_from_db()
    assert run.progress == {}

    run.mark_stage("labelling")
    jobs.mark_failed(run, "internal", "boom")
    assert run.record_progress("labelling", {"done": 7, "total": 10, "eta_s": 1.0}) is False
    run.refresh_from_db()
    assert (run.status, run.progress) == (Run.Status.FAILED, {})


def test_it_reports_progress_only_for_the_stage_the_run_is_in(run):
    run.mark_stage("labelling")
    run.record_progress("labelling", {"done": 5, "total": 10, "eta_s": 3.0})
    # The worker died mid-labelling and the watchdog queued the run again: the point stays
    # stored, but it describes no work in progress.
    later = run.heartbeat_at + timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S + 1)
    assert jobs.watchdog(now=later).requeued == [run.pk]
    run.refresh_from_db()

    assert (run.status, run.progress["done"]) == (Run.Status.QUEUED, 5)
    assert run.status_message()["progress"] == {}

"""WebReporter: points stored with consecutive seqs; cancel read at most once a second."""
from __future__ import annotations

import pytest

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


def test_it_reads_the_cancel_flag_at_most_once_a_second(run):
    clock = [10.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])
    run.mark_stage("distilling", {"device": "cpu"})

    assert reporter.should_stop() is False
    run.request_cancel()
    clock[0] += 0.5
    assert reporter.should_stop() is False  # not polled again yet
    clock[0] += 0.6
    assert reporter.should_stop() is True

    run.refresh_from_db()
    assert run.heartbeat_at is not None


def test_it_records_the_stage_and_device(run):
    WebReporter(run.pk).on_stage("labelling", {"device": "cpu", "cached": False})

    run.refresh_from_db()
    assert (run.status, run.device) == (Run.Status.LABELLING, "cpu")

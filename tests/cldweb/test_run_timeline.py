"""The run page's story (cldweb.timeline): each stage's time from the stage marks and the engine's stage times,
and one bar over the whole run that reaches 100% only when the run is done."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cldweb import timeline
from cldweb.models import MetricPoint, Run

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0) - timedelta(hours=1)


def at(seconds: float):
    return START + timedelta(seconds=seconds)


def mark(run: Run, stage: str, second: float, **values) -> None:
    point = MetricPoint.objects.create(run=run, seq=MetricPoint.next_seq(run.pk), phase=MetricPoint.PHASE_STAGE,
                                       kind=MetricPoint.KIND_NOTE, values={"stage": stage, **values})
    MetricPoint.objects.filter(pk=point.pk).update(created_at=at(second))  # auto_now_add: set afterwards


@pytest.fixture
def started(run) -> Run:
    """Queued at 0 s, preparing from 10 s, fine-tuning the teacher from 15 s, labelling from 75 s."""
    Run.objects.filter(pk=run.pk).update(created_at=at(0))
    for stage, second in (("preparing", 10), ("finetuning_teacher", 15), ("labelling", 75)):
        mark(run, stage, second)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.LABELLING, attempt=1)
    run.refresh_from_db()
    return run


def states(rows):
    return [(row["stage"], row["state"], row["seconds"]) for row in rows]


def test_it_times_each_stage_from_its_mark_to_the_next(started):
    rows = timeline.rows(started, now=at(95))

    assert states(rows) == [
        ("queued", "done", 10.0), ("preparing", "done", 5.0), ("finetuning_teacher", "done", 60.0),
        ("labelling", "current", 20.0), ("distilling", "pending", None), ("baseline", "pending", None),
        ("evaluating", "pending", None), ("exporting", "pending", None)]
    assert [row["time"] for row in rows[:4]] == ["10.0 s", "5.0 s", "1 min 0 s", "20.0 s so far"]
    assert rows[0]["label"] == "Waiting in the queue" and rows[3]["label"] == "Teacher labelling"


def test_it_says_a_stage_the_run_passed_without_was_not_needed(run):
    Run.objects.filter(pk=run.pk).update(created_at=at(0), status=Run.Status.DISTILLING, attempt=1)
    mark(run, "preparing", 1)
    mark(run, "labelling", 2)  # the teacher had a head for these labels: no fine-tuning
    mark(run, "distilling", 3)
    run.refresh_from_db()

    assert ("finetuning_teacher", "skipped", None) in states(timeline.rows(run, now=at(4)))


def test_a_done_run_shows_the_engines_stage_times_and_earlier_attempts_measured(started):
    # Cancelled while labelling at 100 s, resumed at 500 s (the idle time between is not labelling's).
    mark(started, "queued", 500, stopped_at=at(100).isoformat())
    mark(started, "preparing", 502)
    Run.objects.filter(pk=started.pk).update(
        status=Run.Status.DONE, finished_at=at(600),
        result={"stage_seconds": {"preparing": 2.5, "loading_teacher": 1.0, "labelling": 30.0, "distilling": 50.0,
                                  "evaluating": 5.0, "exporting": 3.0}})
    started.refresh_from_db()

    assert states(timeline.rows(started)) == [
        ("queued", "done", 12.0), ("preparing", "done", 7.5), ("loading_teacher", "done", 1.0),
        ("finetuning_teacher", "done", 60.0), ("labelling", "done", 55.0), ("distilling", "done", 50.0),
        ("evaluating", "done", 5.0), ("exporting", "done", 3.0)]
    assert timeline.overall(started)["fraction"] == 1.0


def test_a_stopped_run_says_where_it_stopped_and_shows_no_bar(started):
    Run.objects.filter(pk=started.pk).update(status=Run.Status.CANCELLED, finished_at=at(90))
    started.refresh_from_db()

    assert states(timeline.rows(started))[-1] == ("labelling", "stopped", 15.0)
    assert timeline.overall(started) == {}


def test_the_whole_runs_bar_uses_the_stages_measured_speed_and_never_reads_done_early(started):
    before = timeline.overall(started, now=at(95))  # the fine-tune measured seconds per unit of work
    assert 0 < before["fraction"] < 1 and before["eta_s"] > 0
    assert before["text"].endswith("min left")

    Run.objects.filter(pk=started.pk).update(
        status=Run.Status.EVALUATING, progress={"stage": "evaluating", "done": 1, "total": 1, "eta_s": 0.0})
    mark(started, "distilling", 100)
    mark(started, "evaluating", 4000)
    started.refresh_from_db()
    late = timeline.overall(started, now=at(100_000))  # far longer than any estimate
    assert late["fraction"] == timeline.MOST_BEFORE_DONE and late["fraction"] < 1


def test_the_whole_runs_bar_waits_for_a_measured_stage_before_it_says_the_time_left(run):
    Run.objects.filter(pk=run.pk).update(created_at=at(0), status=Run.Status.PREPARING, attempt=1)
    mark(run, "preparing", 1)
    run.refresh_from_db()

    bar = timeline.overall(run, now=at(3))
    assert bar["eta_s"] is None and bar["text"] == "0% of the whole run; estimating the time left…"


def test_the_run_page_and_its_status_carry_the_timeline(owner_client, started):
    page = owner_client.get(reverse("run-detail", args=[started.pk]))

    html = page.content.decode()
    assert 'id="stage-timeline"' in html and 'data-stage="labelling" data-state="current"' in html
    assert page.context["run_page"]["story"]["stage_names"]["queued"] == "Waiting in the queue"
    status = started.status_message()
    assert [row["stage"] for row in status["timeline"]][:4] == ["queued", "preparing", "finetuning_teacher", "labelling"]
    assert set(status["timeline"][0]) == {"stage", "state", "seconds"}  # data only: each page words it
    assert set(status["overall"]) == {"fraction", "eta_s"}
    # Stage marks are the timeline's, not sentences of the notes list.
    assert page.context["notes"] == []


def test_it_marks_the_engines_warnings_among_its_notes(owner_client, run):
    for seq, code in enumerate(("teacher_outputs_cached", "corpus_unbalanced"), start=1):
        MetricPoint.objects.create(run=run, seq=seq, kind=MetricPoint.KIND_NOTE, values={
            "text": "...", "code": code, "params": {"largest": 90, "smallest": 10}})

    html = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert '<li data-seq="1">Teacher outputs read from the cache.</li>' in html
    assert '<li data-seq="2" class="warning"><strong>Warning: </strong>The classes are unbalanced' in html

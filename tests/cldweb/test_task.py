"""run_distillation: the Celery task, run in-process with Task.apply() against the real engine."""
from __future__ import annotations

import json
import zipfile

import pytest
from django.urls import reverse

from cldweb import jobs
from cldweb.models import Run, Teacher
from cldweb.tasks import run_distillation

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_it_trains_a_student_and_stores_the_result(run, owner_client):
    run_distillation.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    assert run.attempt == 1 and run.started_at and run.finished_at and run.heartbeat_at
    assert run.device == "cpu"
    assert run.result["student"]["parameters"] > 0
    assert zipfile.is_zipfile(run.export_path)
    seqs = list(run.points.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert {"student"} <= set(run.points.values_list("phase", flat=True))
    assert run.points.filter(kind="eval", phase="student").exists()
    page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert reverse("run-download", args=[run.pk]) in page
    # The labels-only baseline (on by default) trained in its own stage and phase, and the report shows every model.
    assert run.points.filter(kind="step", phase="baseline").exists()
    assert set(run.result["metrics"]) == {"teacher", "student", "baseline", "classical", "majority"}
    assert {"baseline", "exporting"} <= set(run.result["stage_seconds"])
    assert 'id="report"' in page and 'id="confusion-baseline"' in page


def test_it_ignores_a_run_that_already_ended(run):
    jobs.mark_cancelled(run)

    run_distillation.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and run.attempt == 0


def test_it_cancels_a_run_whose_cancel_came_before_it_started(run):
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)

    run_distillation.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert not run.points.exists()


def test_it_fails_with_the_engines_error_code_for_an_unsafe_teacher(owner, corpus, tmp_path):
    folder = tmp_path / "pickled-teacher"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    teacher = Teacher.objects.create(name="pickled", kind=Teacher.KIND_IMPORTED, path=str(folder))
    run = Run.create(owner=owner, corpus=corpus, teacher=teacher, epochs=1)

    run_distillation.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error_code == "unsafe_checkpoint_pickle"
    assert "Traceback" not in run.error_message


def test_it_drops_a_task_for_a_run_that_does_not_exist(db, caplog):
    outcome = run_distillation.apply(args=(987_654,))

    assert outcome.successful()  # dropped, not failed: a retry would find no run either
    assert "run 987654 does not exist; task dropped" in caplog.text
    assert not Run.objects.exists()  # nothing was created for it

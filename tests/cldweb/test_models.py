from __future__ import annotations

from pathlib import Path

import pytest

from cldweb import jobs
from cldweb.models import MetricPoint, Run, Teacher
from distill.config import RunConfig

pytestmark = pytest.mark.django_db


def test_it_builds_a_config_for_the_demo_teacher(run, corpus, settings):
    config = run.build_config()

    assert isinstance(config, RunConfig)
    assert config.teacher.demo is True
    assert config.output_dir == str(Path(settings.CLD_RUNS_DIR) / str(run.pk))
    assert config.cache_dir == str(settings.CLD_TEACHER_CACHE_DIR)
    assert config.data.train_path == str(corpus.path)
    assert (config.data.text_column, config.data.label_column) == ("text", "label")
    assert (config.train.epochs, config.data.max_length) == (2, 64)
    assert (config.student.architecture, config.student.preset) == ("textcnn", "tiny")  # the form's default


def test_it_stores_the_resolved_config_on_the_run(run):
    assert RunConfig.from_dict(run.config) == run.build_config()


def test_it_builds_a_config_for_hub_and_imported_teachers(owner, corpus, hub_teacher, tmp_path):
    hub_run = Run.create(owner=owner, corpus=corpus, teacher=hub_teacher)
    assert hub_run.build_config().teacher.name_or_path == "bert-base-chinese"
    assert hub_run.build_config().teacher.demo is False

    imported = Teacher.objects.create(name="mine", kind=Teacher.KIND_IMPORTED, path=str(tmp_path / "t"))
    imported_run = Run.create(owner=owner, corpus=corpus, teacher=imported)
    teacher_config = imported_run.build_config().teacher
    assert teacher_config.name_or_path == str(tmp_path / "t")
    assert teacher_config.local_files_only is True


def test_it_cancels_a_queued_run_at_once(run):
    assert run.request_cancel() is True

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert run.finished_at is not None
    assert not run.is_active


def test_it_asks_a_running_run_to_stop_at_its_next_step(run):
    run.mark_stage("distilling", {"device": "cpu"})

    assert run.request_cancel() is True

    run.refresh_from_db()
    assert run.status == "distilling"
    assert run.cancel_requested is True
    assert jobs.cancel_requested(run.pk) is True


def test_it_does_not_cancel_a_finished_run(run):
    jobs.record_result(run, {"status": "done", "export_path": "", "device": "cpu"})

    assert run.request_cancel() is False
    run.refresh_from_db()
    assert run.status == Run.Status.DONE


def test_it_records_stage_and_device_but_never_reopens_a_finished_run(run):
    run.mark_stage("labelling", {"device": "cuda"})
    run.refresh_from_db()
    assert (run.status, run.device) == ("labelling", "cuda")

    jobs.mark_cancelled(run)
    run.mark_stage("distilling", {})
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_it_numbers_points_and_returns_those_after_a_seq(run):
    for step in (10, 20, 30):
        MetricPoint.objects.create(run=run, seq=MetricPoint.next_seq(run.pk), phase="student", kind="step",
                                   step=step, values={"step": step, "loss": 1.0 / step})

    assert [p["seq"] for p in run.points_after(0)] == [1, 2, 3]
    assert [p["step"] for p in run.points_after(1)] == [20, 30]
    assert run.points_after(3) == []
    assert MetricPoint.next_seq(run.pk) == 4

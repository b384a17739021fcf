"""A teacher fine-tuned once is reused by every later run with the same corpus, split and teacher settings."""
from __future__ import annotations

from pathlib import Path

from distill import run, teachers
from distill.progress import STAGE_FINETUNING_TEACHER, RecordingReporter

from .conftest import demo_run_config


def _teacher_steps(reporter: RecordingReporter) -> list[dict]:
    return [point for kind, phase, point in reporter.events if kind == "step" and phase == "teacher"]


def test_it_reuses_the_fine_tuned_teacher_in_a_second_run_folder(tmp_path: Path) -> None:
    first_cfg = demo_run_config(tmp_path, "first")
    first_reporter = RecordingReporter()
    first = run(first_cfg, first_reporter)
    assert _teacher_steps(first_reporter) and STAGE_FINETUNING_TEACHER in first.stage_seconds
    tuned = list((tmp_path / "cache" / teachers.FINETUNED_TEACHERS).iterdir())
    assert len(tuned) == 1 and (tuned[0] / teachers.FINETUNE_MARKER).is_file()

    second_reporter = RecordingReporter()
    second = run(demo_run_config(tmp_path, "second"), second_reporter)

    assert _teacher_steps(second_reporter) == []  # not one fine-tune step
    assert STAGE_FINETUNING_TEACHER not in second.stage_seconds
    assert second.teacher_finetuned and second.teacher_cache_hit  # its outputs: the same teacher's, from the cache
    assert (second.teacher.dev_accuracy, second.teacher.test_accuracy) == (first.teacher.dev_accuracy,
                                                                           first.teacher.test_accuracy)
    assert any("Reusing the teacher fine-tuned earlier" in message for kind, message, _ in second_reporter.events
               if kind == "message")
    assert not (tmp_path / "second" / "teacher").exists()


def test_it_fine_tunes_again_when_a_fine_tune_setting_changes(tmp_path: Path) -> None:
    run(demo_run_config(tmp_path, "first"), RecordingReporter())
    cfg = demo_run_config(tmp_path, "second")
    cfg.teacher.demo_learning_rate = cfg.teacher.demo_learning_rate / 2
    reporter = RecordingReporter()

    run(cfg, reporter)

    assert _teacher_steps(reporter)
    assert len(list((tmp_path / "cache" / teachers.FINETUNED_TEACHERS).iterdir())) == 2

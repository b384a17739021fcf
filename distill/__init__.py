"""cld's distillation engine: a teacher labels text, a small student learns to copy it.

Pure Python + torch/transformers; never imports Django, Celery or Channels
(tests/distill/test_purity.py checks this in a fresh interpreter).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DataConfig, RunConfig, StudentConfig, TeacherConfig, TrainConfig
from .errors import ConfigError, CorpusError, DistillError, TeacherUnavailable, UnsafeCheckpoint
from .progress import NullReporter, Reporter, RunCancelled
from .result import ModelReport, RunResult

if TYPE_CHECKING:  # torch is heavy; import the pipeline only when a run starts
    pass


def run(config: RunConfig, reporter: Reporter | None = None) -> RunResult:
    """Fine-tune the teacher if needed, label the transfer set, distill, evaluate, export.

    Resumes from the last checkpoint in ``config.output_dir`` when one exists.
    """
    from .pipeline import run_pipeline

    return run_pipeline(config, reporter or NullReporter())


def check_teacher_folder(folder: str | Path, *, delete_pickles: bool = False) -> None:
    """Raise a DistillError unless ``folder`` is a teacher checkpoint cld loads without running code.

    Pickle-only weights and auto_map (remote code) are refused; config.json must name a model_type,
    tokenizer files must be there and every safetensors header must read. ``delete_pickles`` removes
    pickle files lying beside the safetensors weights (for folders cld owns, like an unpacked upload).
    """
    from .teachers.safety import check_teacher_folder as check

    check(folder, delete_pickles=delete_pickles)


def describe_teacher_folder(folder: str | Path) -> dict[str, Any]:
    """Architecture, size, vocabulary and heads of a checked teacher folder, from its config and headers."""
    from .teachers.safety import describe_teacher_folder as describe

    return describe(folder)


__all__ = [
    "ConfigError", "CorpusError", "DataConfig", "DistillError", "ModelReport", "NullReporter",
    "Reporter", "RunCancelled", "RunConfig", "RunResult", "StudentConfig", "TeacherConfig",
    "TeacherUnavailable", "TrainConfig", "UnsafeCheckpoint", "check_teacher_folder", "describe_teacher_folder", "run",
]

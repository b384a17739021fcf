"""A finished run's teacher, loaded as that run used it, to predict next to its student.

The teacher a run labelled with is the fine-tuned one in the shared cache
(``cache_dir/finetuned-teachers/<finetune_key>``) when the run fine-tuned it, else the source teacher
itself. The run's ``result.json`` names that folder and its fingerprint (``teacher_directory``,
``teacher_fingerprint``): the folder is loaded and its fingerprint checked, so a teacher replaced
since is refused rather than shown as the run's. A missing or changed teacher is a
``TeacherUnavailable`` with a code saying why, never another teacher.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from ..errors import DistillError, TeacherUnavailable
from ..evaluate import softmax
from .finetune import FINETUNE_MARKER, FINETUNED_TEACHERS, finetune_key, finetuned_dir, finished_finetune, reload_finetuned
from .labelling import tokenize_batch
from .loading import LoadedTeacher, fingerprint_folder, load_teacher

DEMO_TEACHER_INIT = "teacher_init"  # the run folder's demo teacher before fine-tuning (pipeline._resolve_teacher)


@dataclass
class TeacherPredictor:
    """A teacher with the student predictor's interface: ``labels``, ``logits``, ``probabilities``, ``predict``."""

    teacher: LoadedTeacher
    labels: list[str]
    max_length: int  # the run's data.max_length: the teacher read the run's texts cut to it
    batch_size: int  # texts per forward pass (the run's teacher.inference_batch_size)
    device: torch.device
    finetuned: bool  # True when this is the run's fine-tune from the shared cache

    def logits(self, texts: list[str]) -> np.ndarray:
        """Logits (N, C) float32 in the order of ``texts``."""
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # alike lengths per batch: little padding
        model = self.teacher.model
        with torch.inference_mode():
            for begin in range(0, len(order), self.batch_size):
                rows = order[begin:begin + self.batch_size]
                encoded = tokenize_batch(self.teacher.tokenizer, [texts[i] for i in rows], self.max_length, self.device)
                out[rows] = model(**encoded).logits.float().cpu().numpy()  # (B, C)
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Every label's probability (N, C) float32, in the order of ``texts`` and of ``labels``."""
        return softmax(self.logits(texts)).astype(np.float32)  # (N, C)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, probability of that label) per text."""
        probabilities = self.probabilities(texts)  # (N, C)
        return [(self.labels[int(row.argmax())], float(row.max())) for row in probabilities]


def load_run_teacher(output_dir: str | Path, device: str = "cpu") -> TeacherPredictor:
    """The teacher of the finished run in ``output_dir``, as the run used it. See the module docstring."""
    out = Path(output_dir)
    cfg, result = _saved_run(out)
    labels = list(result.get("labels") or [])
    if "teacher_directory" in result:
        return _recorded_teacher(cfg, result, labels, device)
    # A result.json written before runs recorded their teacher's folder: the fine-tune is found again
    # by its key, which means reading the corpus the way the pipeline did. Kept for those runs only.
    if not result.get("teacher_finetuned"):
        loaded = load_teacher(cfg.teacher, labels)
        if loaded.needs_finetune:  # the folder or hub model changed since: its head no longer fits these labels
            raise TeacherUnavailable(f"teacher {cfg.teacher.name_or_path} no longer has a head for this run's labels",
                                     code="run_teacher_changed", teacher=cfg.teacher.name_or_path)
        return _predictor(loaded, cfg, labels, device, finetuned=False)
    directory = _finetuned_directory(cfg, labels, out)
    return _predictor(reload_finetuned(cfg.teacher, labels, directory), cfg, labels, device, finetuned=True)


def _recorded_teacher(cfg: RunConfig, result: dict[str, Any], labels: list[str], device: str) -> TeacherPredictor:
    """The teacher in the folder result.json names, if it still holds the very weights that labelled the run."""
    directory, fingerprint = str(result.get("teacher_directory") or ""), str(result.get("teacher_fingerprint") or "")
    if not directory:  # the run ended (cancelled, failed) before its teacher was resolved
        raise TeacherUnavailable("this run recorded no teacher", code="run_teacher_not_recorded",
                                 teacher=cfg.teacher.name_or_path)
    finetuned = bool(result.get("teacher_finetuned"))
    if finetuned:
        if not (Path(directory) / FINETUNE_MARKER).is_file():  # the cache was cleared, or this fine-tune only
            raise TeacherUnavailable("the teacher this run fine-tuned is no longer in the teacher cache",
                                     code="run_teacher_gone", teacher=cfg.teacher.name_or_path)
        loaded = reload_finetuned(cfg.teacher, labels, directory)
    else:
        # A hub teacher's snapshot folder can be gone while the hub id still loads: then by the id,
        # and the fingerprint below says whether it is still the same teacher.
        loaded = load_teacher(cfg.teacher, labels, name_or_path=directory if Path(directory).is_dir() else None)
    if loaded.fingerprint != fingerprint or (not finetuned and loaded.needs_finetune):
        raise TeacherUnavailable(f"teacher {cfg.teacher.name_or_path} has changed since this run labelled with it",
                                 code="run_teacher_changed", teacher=cfg.teacher.name_or_path)
    return _predictor(loaded, cfg, labels, device, finetuned=finetuned)


def _saved_run(out: Path) -> tuple[RunConfig, dict[str, Any]]:
    config_path, result_path = out / "config.json", out / "result.json"
    if not (config_path.is_file() and result_path.is_file()):
        raise TeacherUnavailable(f"{out} holds no finished run", code="run_teacher_not_recorded", path=str(out))
    return RunConfig.load(config_path), json.loads(result_path.read_text(encoding="utf-8"))


def _finetuned_directory(cfg: RunConfig, labels: list[str], out: Path) -> Path:
    """The run's fine-tuned teacher folder in the shared cache, found by its finetune_key (older runs only)."""
    gone = TeacherUnavailable("the teacher this run fine-tuned is no longer in the teacher cache",
                              code="run_teacher_gone", teacher=cfg.teacher.name_or_path)
    if cfg.teacher.demo:
        source = out / DEMO_TEACHER_INIT
        if not (source / "model.safetensors").is_file():
            raise gone
        source_fingerprint = fingerprint_folder(source)
    elif Path(cfg.teacher.name_or_path).is_dir():
        source_fingerprint = fingerprint_folder(cfg.teacher.name_or_path)
    else:  # a hub id: its fingerprint is the snapshot's, as loading gives it
        source_fingerprint = load_teacher(cfg.teacher, labels).fingerprint
    shelf = Path(cfg.cache_dir) / FINETUNED_TEACHERS
    # Cheap first: without any fine-tune of this teacher for these labels, there is no corpus to read.
    if not shelf.is_dir() or not any(finished_finetune(folder, source_fingerprint, labels) for folder in shelf.iterdir()):
        raise gone
    # The pipeline's own reader and targets, so the rows, and with them the key, are the run's by construction.
    from ..pipeline import _read_splits, class_targets

    with tempfile.TemporaryDirectory(prefix="cld-run-teacher-") as scratch:
        try:
            splits = _read_splits(cfg, Path(scratch))
        except DistillError as error:
            raise TeacherUnavailable(f"the corpus the teacher was fine-tuned on cannot be read: {error}",
                                     code="run_teacher_corpus_gone", teacher=cfg.teacher.name_or_path) from error
        key = finetune_key(source_fingerprint, labels, splits.train.texts, class_targets(splits.train),
                           splits.dev.texts, class_targets(splits.dev), cfg)
    directory = finetuned_dir(cfg.cache_dir, key)
    if not finished_finetune(directory, source_fingerprint, labels):
        raise gone
    return directory


def _predictor(loaded: LoadedTeacher, cfg: RunConfig, labels: list[str], device: str, *,
               finetuned: bool) -> TeacherPredictor:
    target = torch.device(device)
    loaded.model.to(target).eval()
    return TeacherPredictor(teacher=loaded, labels=labels, max_length=cfg.data.max_length,
                            batch_size=cfg.teacher.inference_batch_size, device=target, finetuned=finetuned)

"""A finished run's teacher, loaded as that run used it, to predict next to its student.

The teacher a run labelled with is the fine-tuned one in the shared cache
(``cache_dir/finetuned-teachers/<finetune_key>``) when the run fine-tuned it, else the source teacher
itself. The run's folder does not name the fine-tuned folder, so its key is computed again the way
the pipeline computed it: from the run's saved ``config.json`` and ``result.json`` and the corpus
read with the pipeline's own reader (the key hashes the train and dev rows). That read is done only
when the cache holds a fine-tune of this source teacher for these labels at all; either way a
missing teacher is a ``TeacherUnavailable`` with a code saying why, never another teacher.
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
from .finetune import FINETUNED_TEACHERS, finetune_key, finetuned_dir, finished_finetune, reload_finetuned
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
    if not result.get("teacher_finetuned"):
        loaded = load_teacher(cfg.teacher, labels)
        if loaded.needs_finetune:  # the folder or hub model changed since: its head no longer fits these labels
            raise TeacherUnavailable(f"teacher {cfg.teacher.name_or_path} no longer has a head for this run's labels",
                                     code="run_teacher_changed", teacher=cfg.teacher.name_or_path)
        return _predictor(loaded, cfg, labels, device, finetuned=False)
    directory = _finetuned_directory(cfg, labels, out)
    return _predictor(reload_finetuned(cfg.teacher, labels, directory), cfg, labels, device, finetuned=True)


def _saved_run(out: Path) -> tuple[RunConfig, dict[str, Any]]:
    config_path, result_path = out / "config.json", out / "result.json"
    if not (config_path.is_file() and result_path.is_file()):
        raise TeacherUnavailable(f"{out} holds no finished run", code="run_teacher_not_recorded", path=str(out))
    return RunConfig.load(config_path), json.loads(result_path.read_text(encoding="utf-8"))


def _finetuned_directory(cfg: RunConfig, labels: list[str], out: Path) -> Path:
    """The run's fine-tuned teacher folder in the shared cache, found by its finetune_key."""
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

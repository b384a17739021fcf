"""The download: a zip a user can load without cld's training code, and the loader for it.

Contents: model.safetensors (weights, no pickle), student_config.json (what
rebuilds the architecture), vocab.json (the student tokenizer), labels.json
(class names in index order) and README.txt with a usage example.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import students
from .atomic import atomic_path
from .errors import ConfigError
from .teachers.safety import check_model_files
from .tokens.batches import pad_batch
from .tokens.tokenizer import StudentTokenizer, load_tokenizer

VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
README_FILE = "README.txt"
EXPORT_FILES = (students.WEIGHTS_FILE, students.CONFIG_FILE, VOCAB_FILE, LABELS_FILE, README_FILE)
PREDICT_BATCH_SIZE = 64  # texts per forward pass when predicting

README = """cld student model ({architecture}, {parameters:,} parameters, labels: {labels})

Usage, from a checkout of cld (its distill/ folder; requirements.txt lists what it needs):

    python -m distill predict --model student.zip "这本书写得真好" "质量太差了"
    python -m distill evaluate --model student.zip --data test.csv

or from Python:

    from distill.export import load_exported
    predictor = load_exported("student.zip")
    print(predictor.predict(["这本书写得真好", "质量太差了"]))  # [(label, probability), ...]

Files: model.safetensors (weights), student_config.json (architecture), vocab.json (tokenizer),
labels.json (class names in index order). Max length: {max_length} tokens.
"""


def export_student(model: students.StudentModel, tokenizer: StudentTokenizer, labels: list[str],
                   resolved_student_config: dict[str, Any] | None, directory: str | Path, zip_path: str | Path,
                   max_length: int = 128) -> Path:
    """Write the student folder and zip it (atomically, through ``distill.atomic``); returns the zip path.

    ``resolved_student_config`` adds keys the model's own config lacks (it normally has them all).
    """
    directory = Path(directory)
    config = dict(resolved_student_config or {})
    config.update(model.config)
    config["max_length"] = int(max_length)
    model.config = config
    students.save_student(model, directory)
    tokenizer.save(directory / VOCAB_FILE)
    (directory / LABELS_FILE).write_text(json.dumps(list(labels), ensure_ascii=False), encoding="utf-8")
    (directory / README_FILE).write_text(README.format(
        architecture=config.get("architecture", "?"), parameters=students.count_parameters(model),
        labels=", ".join(labels), max_length=max_length), encoding="utf-8")
    zip_path = Path(zip_path)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in EXPORT_FILES:
            archive.write(directory / name, arcname=name)
    return zip_path


@dataclass
class Predictor:
    model: students.StudentModel
    tokenizer: StudentTokenizer
    labels: list[str]
    max_length: int
    device: torch.device

    def logits(self, texts: list[str]) -> np.ndarray:
        """Logits (N, C) float32 in the order of ``texts``."""
        token_ids = [self.tokenizer.encode(text, self.max_length) for text in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))  # little padding per batch
        with torch.inference_mode():
            for begin in range(0, len(order), PREDICT_BATCH_SIZE):
                rows = order[begin:begin + PREDICT_BATCH_SIZE]
                input_ids, attention_mask = pad_batch([token_ids[i] for i in rows], self.tokenizer.pad_id)  # (B, T)
                logits = self.model(input_ids.to(self.device), attention_mask.to(self.device))  # (B, C)
                out[rows] = logits.float().cpu().numpy()
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Every label's probability (N, C) float32, in the order of ``texts`` and of ``labels``."""
        logits = self.logits(texts)  # (N, C)
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))  # minus the row's max: exp never overflows
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, probability of that label) per text."""
        if not texts:
            return []
        probs = torch.from_numpy(self.logits(texts)).softmax(dim=-1).numpy()  # (N, C)
        best = probs.argmax(axis=-1)
        return [(self.labels[int(i)], float(probs[row, i])) for row, i in enumerate(best)]


def load_exported(path: str | Path, device: str | torch.device = "cpu") -> Predictor:
    """Load a student from an export zip or folder; safetensors only, never pickle."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="cld-student-") as folder:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                missing = [name for name in EXPORT_FILES[:4] if name not in names]
                if missing:
                    raise ConfigError(f"{path} is not a cld student export (missing {', '.join(missing)})",
                                      code="export_invalid", path=str(path))
                for name in EXPORT_FILES[:4]:  # only the known flat names: no path traversal from the archive
                    (Path(folder) / name).write_bytes(archive.read(name))
            return _load_folder(Path(folder), torch.device(device), str(path))
    if path.is_dir():
        return _load_folder(path, torch.device(device), str(path))
    raise ConfigError(f"{path} is neither a student folder nor a student zip", code="export_invalid", path=str(path))


def _load_folder(folder: Path, device: torch.device, display: str) -> Predictor:
    def invalid(message: str) -> ConfigError:
        return ConfigError(f"{display}: {message}", code="export_invalid", path=display)

    # The file-safety part of the teacher check: safetensors only, no pickle, no remote code, headers readable.
    if not check_model_files(folder, weight_names=(students.WEIGHTS_FILE,), invalid=invalid):
        raise ConfigError(f"{display} has no model.safetensors", code="export_invalid", path=display)
    for name in (students.CONFIG_FILE, VOCAB_FILE, LABELS_FILE):
        if not (folder / name).is_file():
            raise ConfigError(f"{display} has no {name}", code="export_invalid", path=display)
    model = students.load_student(folder, device)
    tokenizer = load_tokenizer(folder / VOCAB_FILE)
    labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
    return Predictor(model=model, tokenizer=tokenizer, labels=labels,
                     max_length=int(model.config.get("max_length", 128)), device=device)

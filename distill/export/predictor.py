"""Loading a downloaded student back into PyTorch: the predictor cld itself uses (CLI, web, API)."""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import students
from ..errors import ConfigError
from ..evaluate import softmax
from ..teachers.safety import check_model_files
from ..tokens.batches import pad_batch
from ..tokens.tokenizer import StudentTokenizer, load_tokenizer
from .files import CONFIG_FILE, LABELS_FILE, OLD_CONFIG_FILE, VOCAB_FILE

PREDICT_BATCH_SIZE = 64  # texts per forward pass when predicting


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
        return softmax(self.logits(texts)).astype(np.float32)  # (N, C)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, probability of that label) per text."""
        if not texts:
            return []
        probs = self.probabilities(texts)  # (N, C)
        best = probs.argmax(axis=-1)
        return [(self.labels[int(i)], float(probs[row, i])) for row, i in enumerate(best)]


    @property
    def task(self) -> str:
        """"single", "pair" (texts are joined pairs, tasks.join_pair) or "tagging" (use ``entities``)."""
        return str(self.model.config.get("task", "single"))

    def entities(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        """A tagger's entities per text: {"start", "end" (exclusive), "label", "text"}, offsets in characters."""
        from ..tasks.tagging_schemes import bio_to_spans
        from ..tokens.characters import encode_characters

        if self.task != "tagging":
            raise ConfigError("this student labels whole texts; it finds no entities", code="export_not_tagger")
        found: list[list[dict[str, Any]]] = []
        with torch.inference_mode():
            for text in texts:
                ids = encode_characters(self.tokenizer, text, self.max_length)
                if not ids:
                    found.append([])
                    continue
                input_ids, attention_mask = pad_batch([ids], self.tokenizer.pad_id)  # (1, T)
                emissions = self.model(input_ids.to(self.device), attention_mask.to(self.device)).float()  # (1, T, C)
                tags = [self.labels[tag] for tag in self.model.decode(emissions, attention_mask.to(self.device))[0]]
                found.append([{"start": start, "end": end, "label": label, "text": text[start:end]}
                              for start, end, label in bio_to_spans(tags)])
        return found


def load_exported(path: str | Path, device: str | torch.device = "cpu") -> Predictor:
    """Load a student from an export zip or folder; safetensors only, never pickle."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="cld-student-") as folder:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                config = CONFIG_FILE if CONFIG_FILE in names else OLD_CONFIG_FILE
                needed = (students.WEIGHTS_FILE, config, VOCAB_FILE, LABELS_FILE)
                missing = [name for name in needed if name not in names]
                if missing:
                    raise ConfigError(f"{path} is not a cld student export (missing {', '.join(missing)})",
                                      code="export_invalid", path=str(path))
                for name in needed:  # only the known flat names: no path traversal from the archive
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
    # Zips made before the ONNX export called the config student_config.json; they still load.
    config = CONFIG_FILE if (folder / CONFIG_FILE).is_file() else OLD_CONFIG_FILE
    for name in (config, VOCAB_FILE, LABELS_FILE):
        if not (folder / name).is_file():
            raise ConfigError(f"{display} has no {name}", code="export_invalid", path=display)
    model = students.load_student(folder, device, config_file=config)
    tokenizer = load_tokenizer(folder / VOCAB_FILE)
    labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
    return Predictor(model=model, tokenizer=tokenizer, labels=labels,
                     max_length=int(model.config.get("max_length", 128)), device=device)

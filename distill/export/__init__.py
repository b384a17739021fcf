"""The download: a zip that runs without cld, checked against the PyTorch student when it is made.

What is in it (``files`` names them): ``model.onnx`` and ``model.int8.onnx`` (``onnx_graph``),
``model.safetensors`` + ``config.json`` for PyTorch, ``vocab.json`` (the student tokenizer),
``labels.json``, ``README.md`` (the model card, ``card``) and ``predict.py``
(``standalone/predict.py``, copied unchanged: numpy + onnxruntime only). ``verify`` proves the graphs
give PyTorch's probabilities and fails the export otherwise; ``predictor`` loads a download back
into PyTorch (``distill.load_student``).
"""
from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import students
from ..atomic import atomic_path
from ..tokens.tokenizer import StudentTokenizer
from .card import model_card
from .files import (CARD_FILE, CONFIG_FILE, EXPORT_FILES, LABELS_FILE, ONNX_FILE, ONNX_INT8_FILE, PREDICT_FILE,
                    STANDALONE_PREDICT, VOCAB_FILE)
from .onnx_graph import export_onnx, quantize_int8
from .predictor import Predictor, load_exported
from .tagger import TaggerExport, TaggerExportCheck, export_tagger
from .verify import ExportCheck, ExportCheckFailed, check_export

@dataclass
class Export:
    zip_path: Path
    check: ExportCheck  # the parity numbers, also in the model card


def export_student(model: students.StudentModel, tokenizer: StudentTokenizer, labels: list[str],
                   directory: str | Path, zip_path: str | Path, *, max_length: int = 128,
                   check_texts: Sequence[str] = (), result: dict[str, Any] | None = None,
                   task: str = "single") -> Export:
    """Write the student folder, check its ONNX graphs against PyTorch, and zip it (atomically).

    ``check_texts`` (the dev texts) measure the int8 graph's agreement; ``result`` (the run's
    RunResult as a dict, as far as it is known) fills the model card. Raises ExportCheckFailed
    when the fp32 graph does not give the student's answers; an int8 graph that disagrees too often
    is left out of the zip, and the card says why. ``task`` "pair" makes predict.py take two texts.
    """
    directory = Path(directory)
    config = dict(model.config)
    config["max_length"] = int(max_length)
    config["task"] = task  # predict.py reads it: a pair student takes two texts
    model.config = config
    students.save_student(model, directory)
    # The download calls the config config.json, as the PyTorch world expects beside model.safetensors.
    (directory / students.CONFIG_FILE).replace(directory / CONFIG_FILE)
    tokenizer.save(directory / VOCAB_FILE)
    (directory / LABELS_FILE).write_text(json.dumps(list(labels), ensure_ascii=False), encoding="utf-8")
    export_onnx(model, directory / ONNX_FILE)
    quantize_int8(directory / ONNX_FILE, directory / ONNX_INT8_FILE)
    check = check_export(model, tokenizer, max_length, directory / ONNX_FILE, directory / ONNX_INT8_FILE, check_texts,
                         vocab_path=directory / VOCAB_FILE)
    if not check.int8_included:
        (directory / ONNX_INT8_FILE).unlink()
    (directory / CARD_FILE).write_text(model_card(config=config, labels=list(labels), tokenizer_kind=tokenizer.kind,
                                                  parameters=students.count_parameters(model), folder=directory,
                                                  check=check, result=result), encoding="utf-8")
    shutil.copyfile(STANDALONE_PREDICT, directory / PREDICT_FILE)
    zip_path = Path(zip_path)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in EXPORT_FILES:
            if name != ONNX_INT8_FILE or check.int8_included:
                archive.write(directory / name, arcname=name)
    return Export(zip_path=zip_path, check=check)


__all__ = ["EXPORT_FILES", "Export", "ExportCheck", "ExportCheckFailed", "Predictor", "TaggerExport", "TaggerExportCheck",
           "export_student", "export_tagger", "load_exported"]

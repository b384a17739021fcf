"""A tagging student's download: the text student's files with the tags as labels, the CRF's scores, and
a check that the ONNX graph gives PyTorch's emissions and predict.py its tags.

The graph outputs emissions (batch, sequence, tags); a CRF's start, transition and end scores travel
in ``crf.json`` for predict.py's numpy Viterbi. No int8 graph is shipped: its agreement bar is defined
for one label per text, and a tagger's (per character, per entity) has not been measured yet.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import students
from ..atomic import atomic_path
from ..students.taggers import TaggerModel, crf_scores
from ..tokens.batches import pad_batch
from ..tokens.characters import encode_characters
from ..tokens.tokenizer import StudentTokenizer
from .card import tagger_model_card
from .files import CARD_FILE, CONFIG_FILE, LABELS_FILE, ONNX_FILE, PREDICT_FILE, STANDALONE_PREDICT, VOCAB_FILE
from .onnx_graph import INPUT_NAMES, OUTPUT_NAME, export_onnx
from .verify import FP32_TOLERANCE, ExportCheckFailed

CRF_FILE = "crf.json"  # a CRF tagger's {"start", "transitions", "end"} scores; absent without a CRF
TAGGER_FILES = (ONNX_FILE, students.WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE, LABELS_FILE, CRF_FILE, CARD_FILE,
                PREDICT_FILE)
# One text of each kind a traced graph or the per-character encoding gets wrong first, beside dev texts.
TAGGER_EDGE_TEXTS = ("好", "江泽民在北京", "  空白 \t 很多  ", "Ｆｕｌｌ　ｗｉｄｔｈ ＡＢＣ１２３…", "未见过的字：龘靐齉😀")
CHECK_DEV_TEXTS = 200  # dev texts whose emissions and tags are compared: a few seconds for a small tagger


@dataclass
class TaggerExportCheck:
    fp32_max_abs_diff: float  # max |emission_onnx - emission_torch| over every character checked
    tag_agreement: float  # share of checked texts whose predict.py tags equal PyTorch's decode exactly
    texts: int  # texts checked (edge cases and dev texts)
    fp32_tolerance: float = FP32_TOLERANCE
    standalone_problem: str = ""  # why predict.py's character ids differ from the engine's ("" when they agree)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TaggerExport:
    zip_path: Path
    check: TaggerExportCheck


def _check_texts(dev_texts: Sequence[str], max_length: int) -> list[str]:
    ordinary = [text for text in dev_texts[:CHECK_DEV_TEXTS] if text]
    long_text = "".join(ordinary[:8]) or "江泽民在北京"
    while len(long_text) < max_length + 8:  # past max_length: the graph sees exactly max_length characters
        long_text += long_text
    return [*TAGGER_EDGE_TEXTS, long_text, *ordinary]


def check_tagger_export(model: TaggerModel, tokenizer: StudentTokenizer, max_length: int, onnx_path: Path,
                        dev_texts: Sequence[str], *, vocab_path: Path) -> TaggerExportCheck:
    """Compare the graph's emissions with PyTorch's on edge cases and dev texts, padded together; raise
    ExportCheckFailed when they differ by more than FP32_TOLERANCE, else return the numbers."""
    import onnxruntime

    cpu_model = copy.deepcopy(model).cpu().float().eval()
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    predict = _load_predict()
    texts = _check_texts(dev_texts, max_length)
    token_ids = [encode_characters(tokenizer, text, max_length) for text in texts]
    standalone = predict.load_tokenizer(vocab_path)
    problem = next((f"predict.py reads {text[:30]!r} as other character ids than the engine"
                    for text, ids in zip(texts, token_ids) if standalone.encode_characters(text, max_length) != ids), "")
    scores = crf_scores(cpu_model)
    worst, agree = 0.0, 0
    for begin in range(0, len(texts), 32):
        chunk = token_ids[begin:begin + 32]
        input_ids, attention_mask = pad_batch(chunk, tokenizer.pad_id)  # (B, T), (B, T)
        with torch.inference_mode():
            expected = cpu_model(input_ids, attention_mask)  # (B, T, C)
            expected_tags = cpu_model.decode(expected, attention_mask)
        emissions = session.run([OUTPUT_NAME], dict(zip(INPUT_NAMES, (input_ids.numpy(), attention_mask.numpy()))))[0]
        real = attention_mask.bool().numpy()  # (B, T)
        worst = max(worst, float(np.abs(emissions[real] - expected.numpy()[real]).max()))
        for row, ids in enumerate(chunk):
            own = emissions[row, :len(ids)]  # (L, C)
            if scores is None:
                tags = [int(best) for best in own.argmax(axis=-1)]
            else:
                tags = predict.viterbi_decode(own, np.asarray(scores["start"]), np.asarray(scores["transitions"]),
                                              np.asarray(scores["end"]))
            agree += int(tags == expected_tags[row])
    check = TaggerExportCheck(fp32_max_abs_diff=worst, tag_agreement=agree / len(texts), texts=len(texts),
                              standalone_problem=problem)
    if not worst <= FP32_TOLERANCE:  # "not <=" also catches NaN
        raise ExportCheckFailed(
            f"the ONNX export of the {model.architecture} tagger differs from PyTorch by up to {worst:.2e} in an "
            f"emission score (allowed {FP32_TOLERANCE:.0e}); nothing was exported", code="export_onnx_differs",
            architecture=model.architecture, difference=worst, tolerance=FP32_TOLERANCE)
    return check


def export_tagger(model: TaggerModel, tokenizer: StudentTokenizer, tag_names: Sequence[str], directory: str | Path,
                  zip_path: str | Path, *, max_length: int = 128, check_texts: Sequence[str] = (),
                  result: dict[str, Any] | None = None) -> TaggerExport:
    """Write the tagger's folder, check its ONNX graph against PyTorch, and zip it (atomically).

    ``labels.json`` holds the tag list, ``config.json`` says ``"task": "tagging"`` (predict.py then
    finds entities), ``crf.json`` the CRF's scores when the model has one. ``check_texts`` are dev
    texts for the parity check; ``result`` (the run's RunResult as a dict) fills the model card.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = dict(model.config)
    config["max_length"] = int(max_length)
    config["task"] = "tagging"
    model.config = config
    students.save_student(model, directory)
    (directory / students.CONFIG_FILE).replace(directory / CONFIG_FILE)
    tokenizer.save(directory / VOCAB_FILE)
    (directory / LABELS_FILE).write_text(json.dumps(list(tag_names), ensure_ascii=False), encoding="utf-8")
    scores = crf_scores(model)
    (directory / CRF_FILE).unlink(missing_ok=True)
    if scores is not None:
        (directory / CRF_FILE).write_text(json.dumps(scores), encoding="utf-8")
    export_onnx(model, directory / ONNX_FILE)
    check = check_tagger_export(model, tokenizer, max_length, directory / ONNX_FILE, check_texts,
                                vocab_path=directory / VOCAB_FILE)
    (directory / CARD_FILE).write_text(tagger_model_card(
        config=config, tags=list(tag_names), parameters=students.count_parameters(model), folder=directory,
        check=check, result=result), encoding="utf-8")
    shutil.copyfile(STANDALONE_PREDICT, directory / PREDICT_FILE)
    zip_path = Path(zip_path)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in TAGGER_FILES:
            if (directory / name).is_file():
                archive.write(directory / name, arcname=name)
    return TaggerExport(zip_path=zip_path, check=check)


def _load_predict() -> Any:
    spec = importlib.util.spec_from_file_location("cld_standalone_predict", STANDALONE_PREDICT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

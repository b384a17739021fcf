"""The export's proof: the ONNX graphs give the probabilities PyTorch gives, or the export fails.

Checked on one batch that holds the cases a traced graph gets wrong first (an empty text, a
one-character text, a text at the maximum length) beside ordinary texts, padded together so
masking is tested too; the int8 graph must also pick PyTorch's label on (up to) 2,000 dev texts.
"""
from __future__ import annotations

import copy
import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DistillError
from ..students import StudentModel
from ..tasks.pair import PAIR_SEPARATOR, join_pair, split_pair
from ..tokens.batches import pad_batch
from ..tokens.tokenizer import StudentTokenizer
from .files import STANDALONE_PREDICT
from .onnx_graph import INPUT_NAMES, OUTPUT_NAME

FP32_TOLERANCE = 1e-4  # max |probability difference| fp32 ONNX vs PyTorch; measured ≤ 1e-6 on every student
INT8_MIN_AGREEMENT = 0.99  # share of dev texts where the int8 graph picks PyTorch's label (issue 10)
AGREEMENT_TEXTS = 2_000  # dev texts the int8 agreement is measured on: ±0.5 points at 99%, a few seconds
ORDINARY_TEXTS = 8  # dev texts in the edge-case batch besides the edge cases
FALLBACK_TEXTS = ("这家酒店很好，服务周到。", "质量太差了，不会再买。", "物流很快", "还行吧")  # when there is no dev text


class ExportCheckFailed(DistillError):
    """An exported graph does not give the student's answers; nothing is shipped."""

    code = "export_check_failed"


@dataclass
class ExportCheck:
    fp32_max_abs_diff: float  # max |p_onnx - p_torch| over the edge-case batch, fp32 graph
    int8_max_abs_diff: float  # the same for the int8 graph (reported, not bounded: quantisation moves it)
    int8_agreement: float  # share of agreement texts where int8 and PyTorch pick the same label
    agreement_texts: int  # how many texts that share is over
    edge_texts: int  # texts in the edge-case batch
    fp32_tolerance: float = FP32_TOLERANCE
    int8_min_agreement: float = INT8_MIN_AGREEMENT
    int8_included: bool = True  # False: the int8 graph disagreed too often and is not in the download
    # Why predict.py cannot run this student without cld ("" when its tokenizer gives the engine's ids on
    # the edge-case and agreement texts): a teacher tokenizer that is not BERT WordPiece, say.
    standalone_problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def edge_case_texts(dev_texts: Sequence[str], max_length: int) -> list[str]:
    """Empty, one character, at (past) the maximum length, and ordinary texts."""
    ordinary = [text for text in dev_texts[:ORDINARY_TEXTS] if text.strip()] or list(FALLBACK_TEXTS)
    long_text = "".join(ordinary)
    while len(long_text) < max_length + 8:  # longer than max_length in any tokenizer: it is cut to exactly that
        long_text += long_text or "好"
    long_text = long_text.replace(PAIR_SEPARATOR, "")
    one_char = next((char for char in "".join(ordinary) if not char.isspace() and char != PAIR_SEPARATOR), "好")
    if ordinary and split_pair(ordinary[0])[1] is not None:
        # A pair model's edges: both texts empty, one character each, one text long and the other short, both long.
        return [join_pair("", ""), join_pair(one_char, one_char), join_pair(long_text, one_char),
                join_pair(one_char, long_text), join_pair(long_text, long_text), *ordinary]
    return ["", one_char, long_text, *ordinary]


def check_export(model: StudentModel, tokenizer: StudentTokenizer, max_length: int, fp32_path: Path, int8_path: Path,
                 dev_texts: Sequence[str], *, vocab_path: Path | None = None) -> ExportCheck:
    """Compare both graphs with PyTorch; raise ExportCheckFailed when the fp32 graph is off, else return the numbers
    (``int8_included`` False when the int8 graph picks PyTorch's label on too few dev texts).

    With ``vocab_path`` (the saved tokenizer), also checks that predict.py's tokenizer gives the engine's ids.
    """
    import onnxruntime

    cpu_model = copy.deepcopy(model).cpu().float().eval()
    sessions = [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in (fp32_path, int8_path)]
    edge = edge_case_texts(dev_texts, max_length)
    edge_ids = [tokenizer.encode(text, max_length) for text in edge]
    reference = _torch_probabilities(cpu_model, edge_ids, tokenizer.pad_id)  # (N, C)
    fp32_diff, int8_diff = (float(np.abs(_onnx_probabilities(session, edge_ids, tokenizer.pad_id) - reference).max())
                            for session in sessions)

    agreement_texts = list(dev_texts[:AGREEMENT_TEXTS]) or edge
    agreement_ids = sorted((tokenizer.encode(text, max_length) for text in agreement_texts),
                           key=len)  # sorted by length: little padding per batch
    agree = 0
    for begin in range(0, len(agreement_ids), 64):
        chunk = agreement_ids[begin:begin + 64]
        agree += int((_torch_probabilities(cpu_model, chunk, tokenizer.pad_id).argmax(-1)
                      == _onnx_probabilities(sessions[1], chunk, tokenizer.pad_id).argmax(-1)).sum())
    check = ExportCheck(fp32_max_abs_diff=fp32_diff, int8_max_abs_diff=int8_diff,
                        int8_agreement=agree / len(agreement_ids), agreement_texts=len(agreement_ids),
                        edge_texts=len(edge), standalone_problem="" if vocab_path is None else
                        standalone_tokenizer_problem(vocab_path, tokenizer, [*edge, *agreement_texts], max_length))
    if not fp32_diff <= FP32_TOLERANCE:  # "not <=" also catches NaN
        raise ExportCheckFailed(
            f"the ONNX export of the {model.architecture} student differs from PyTorch by up to {fp32_diff:.2e} in a "
            f"probability (allowed {FP32_TOLERANCE:.0e}); nothing was exported", code="export_onnx_differs",
            architecture=model.architecture, difference=fp32_diff, tolerance=FP32_TOLERANCE)
    # An int8 graph below the agreement bar is left out of the download (export_student), not shipped and
    # not fatal: the fp32 graph is exact, and a run of hours should not be lost to quantisation flipping a
    # student's near-ties (one of 40 dev texts was enough for a barely trained TextCNN).
    check.int8_included = check.int8_agreement >= INT8_MIN_AGREEMENT
    return check


def standalone_tokenizer_problem(vocab_path: Path, tokenizer: StudentTokenizer, texts: Sequence[str],
                                 max_length: int) -> str:
    """Why predict.py's copy of the tokenizer is not the engine's on ``texts``; "" when it gives the same ids."""
    spec = importlib.util.spec_from_file_location("cld_standalone_predict", STANDALONE_PREDICT)
    assert spec is not None and spec.loader is not None
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    try:
        standalone = predict.load_tokenizer(vocab_path)
    except SystemExit as refusal:  # predict.py refuses what it cannot read exactly, with a sentence
        return str(refusal)
    for text in texts:
        first, second = split_pair(text)
        if standalone.encode(first, max_length, second) != tokenizer.encode(text, max_length):
            return f"predict.py tokenises {text[:30]!r} differently from the engine"
    return ""


def _torch_probabilities(model: StudentModel, token_ids: list[list[int]], pad_id: int) -> np.ndarray:
    input_ids, attention_mask = pad_batch(token_ids, pad_id)  # (B, T)
    with torch.inference_mode():
        return model(input_ids, attention_mask).softmax(dim=-1).numpy()  # (B, C)


def _onnx_probabilities(session: Any, token_ids: list[list[int]], pad_id: int) -> np.ndarray:
    input_ids, attention_mask = pad_batch(token_ids, pad_id)  # (B, T)
    logits = session.run([OUTPUT_NAME], dict(zip(INPUT_NAMES, (input_ids.numpy(), attention_mask.numpy()))))[0]
    return torch.from_numpy(logits).softmax(dim=-1).numpy()  # (B, C)

"""Which precision the teacher labels in: bf16 where the hardware does it natively and it gives float32's answers.

Labelling is the teacher's largest cost in a run that has to label (issue 14). On a CPU with native
bf16 (AMX or AVX512-BF16), bf16 autocast labelled a bert-base-shaped teacher 2.3x faster than
float32 (docs/benchmarks.md, "labelling-precision"); a CPU without it emulates bf16 and is slower.
Faster is only worth it if the soft labels stay the teacher's: so before a pass the same dev texts
are labelled both ways, and bf16 is used only when the top labels agree (at most
BF16_MAX_CHANGED of them move) and no probability moves by more than BF16_MAX_PROBABILITY_CHANGE.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..evaluate import softmax
from .labelling import length_order, logits_in_memory
from .loading import LoadedTeacher

LABELLING_PRECISIONS = ("auto", "fp32", "bf16")  # TeacherConfig.labelling_precision
BF16_CHECK_TEXTS = 64  # dev texts labelled both ways before bf16 is trusted: seconds even for bert-base on a CPU
BF16_MAX_CHANGED = 0.01  # share of the checked texts whose top label may differ from float32's
BF16_MAX_PROBABILITY_CHANGE = 0.02  # largest allowed change of any class probability on a checked text


@dataclass
class PrecisionChoice:
    amp: str  # what the labelling pass passes to autocast: "auto", "off" (float32) or "bf16"
    precision: str  # in words for the report: "float32", "bf16" or "auto" (bf16 on a GPU that has it)
    checked_texts: int = 0  # texts labelled both ways; 0 when no check ran
    top_label_changed: int = 0  # of those, how many got another top label in bf16
    largest_probability_change: float = 0.0  # the largest |p_bf16 - p_fp32| over the checked texts and classes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (a CPU without it would emulate it, slower than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume none, float32 is always correct
        return False


def choose_labelling_precision(loaded: LoadedTeacher, check_texts: Sequence[str], max_length: int, batch_size: int,
                               device: torch.device, setting: str) -> PrecisionChoice:
    """The precision for this teacher's labelling passes on ``device``, per ``setting`` (LABELLING_PRECISIONS)."""
    if setting == "fp32":
        return PrecisionChoice(amp="off", precision="float32")
    if setting == "bf16":
        return PrecisionChoice(amp="bf16", precision="bf16")
    if device.type == "cuda":
        return PrecisionChoice(amp="auto", precision="auto")  # bf16 autocast where the GPU has it, as training does
    if not native_bf16(device) or not len(check_texts):
        return PrecisionChoice(amp="off", precision="float32")
    texts = [check_texts[i] for i in range(min(BF16_CHECK_TEXTS, len(check_texts)))]
    order = length_order(texts)  # (K,)
    model, tokenizer = loaded.model, loaded.tokenizer
    reference = softmax(logits_in_memory(model, tokenizer, texts, order, max_length, batch_size, device, "off"))
    candidate = softmax(logits_in_memory(model, tokenizer, texts, order, max_length, batch_size, device, "bf16"))
    changed = int((reference.argmax(-1) != candidate.argmax(-1)).sum())
    largest = float(np.abs(reference - candidate).max())
    trusted = changed <= BF16_MAX_CHANGED * len(texts) and largest <= BF16_MAX_PROBABILITY_CHANGE
    return PrecisionChoice(amp="bf16" if trusted else "off", precision="bf16" if trusted else "float32",
                           checked_texts=len(texts), top_label_changed=changed,
                           largest_probability_change=round(largest, 6))


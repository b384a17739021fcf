"""The student as ONNX graphs: fp32 from torch.onnx.export and int8 by ONNX Runtime's dynamic quantisation.

The TorchScript exporter (``dynamo=False``) is used: on torch 2.13 it exports every student in well
under a second, where the dynamo exporter took ~15 s for a BiLSTM and fixed the sequence length in
the output's shape. Tracing records no Python branches, which is why the students' forwards have
none that depend on the data (students/architectures.py); ``verify`` proves the graphs equal anyway.
"""
from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ..students import StudentModel

OPSET = 17  # has LayerNormalization and every op the students need; ONNX Runtime ≥ 1.14 runs it
INPUT_NAMES = ("input_ids", "attention_mask")  # both int64 (batch, sequence)
OUTPUT_NAME = "logits"  # float32 (batch, labels); a tagger's emissions (batch, sequence, tags)


class _LogitsOnly(nn.Module):
    """The student's forward with exactly two tensor inputs and the logits out, as the graph has it."""

    def __init__(self, student: StudentModel) -> None:
        super().__init__()
        self.student = student

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.student(input_ids, attention_mask)


def export_onnx(model: StudentModel, path: str | Path) -> Path:
    """Write ``model`` (a CPU float32 copy of it, in eval mode) as an ONNX graph with dynamic batch and length."""
    path = Path(path)
    cpu_model = _LogitsOnly(copy.deepcopy(model).cpu().float().eval())
    # Two rows of different lengths, so nothing in the trace can mistake one length for all.
    input_ids = torch.tensor([[2, 3, 4, 5, 6, 7], [2, 3, 0, 0, 0, 0]], dtype=torch.long)  # (2, 6)
    attention_mask = (input_ids != 0).long()  # (2, 6)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # A tagger's logits are per token (batch, sequence, tags): their length follows the input's.
        per_token = cpu_model(input_ids, attention_mask).dim() == 3
        output_axes = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
        dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES} | {OUTPUT_NAME: output_axes}
        # The TorchScript exporter is deprecated (and says so at every call); it is the one that works here.
        warnings.simplefilter("ignore")
        torch.onnx.export(cpu_model, (input_ids, attention_mask), str(path), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT_NAME], dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    return path


def quantize_int8(source: str | Path, destination: str | Path) -> Path:
    """Dynamic int8 quantisation: weights stored as int8, activations quantised on the fly at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice (pre-processing, int64 tensors it leaves alone) on the root logger at every call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2 only, e.g. this project's 2-core CI
        # machines) ONNX Runtime's u8s8 kernels saturate on full-range weights: a small BiLSTM then picked
        # PyTorch's label on 86.7% of dev texts; with 7 bits it agrees on every one (ONNX Runtime's advice).
        quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8, reduce_range=True)
    finally:
        root.setLevel(level)
    return Path(destination)

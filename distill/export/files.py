"""The names of the files in a student download (the zip and the folder it is made from)."""
from __future__ import annotations

from pathlib import Path

from ..students.saving import WEIGHTS_FILE  # model.safetensors: the PyTorch weights, no pickle

CONFIG_FILE = "config.json"  # the student's resolved config + max_length: rebuilds the architecture
OLD_CONFIG_FILE = "student_config.json"  # what downloads made before the ONNX export called config.json
ONNX_FILE = "model.onnx"  # float32 graph: input_ids, attention_mask (int64, batch × length) -> logits
ONNX_INT8_FILE = "model.int8.onnx"  # the same graph with int8 weights (ONNX Runtime dynamic quantisation)
VOCAB_FILE = "vocab.json"  # the student tokenizer: {"kind": "char"|"word", "tokens": [...]} or the teacher's
LABELS_FILE = "labels.json"  # class names in index order
CARD_FILE = "README.md"  # the model card
PREDICT_FILE = "predict.py"  # runs the ONNX graph with numpy + onnxruntime only
EXPORT_FILES = (ONNX_FILE, ONNX_INT8_FILE, WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE, LABELS_FILE, CARD_FILE, PREDICT_FILE)

STANDALONE_PREDICT = Path(__file__).parent / "standalone" / PREDICT_FILE  # the file copied into every download

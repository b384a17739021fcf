"""Checkpoint safety: a model folder is refused before anything in it can run code.

Two layers. ``check_model_files`` is what every model folder cld reads must pass, a teacher's or
an exported student's: weights in safetensors (pickle files can execute code when loaded), no
config asking for custom Python (``auto_map``), every safetensors header readable.
``check_teacher_folder`` builds on it with what a teacher also needs to load with transformers:
config.json with a model_type, and tokenizer files. The upload, ``import_teacher``,
``load_teacher`` and the export loader all go through here.

Only file names, JSON and safetensors headers are read: nothing is unpickled, no custom code is
imported, no tensor is loaded. This module itself needs no torch (headers are read with
safetensors' numpy reader, imported when a check runs); importing it through the ``teachers``
package does load torch, which is why ``distill.check_teacher_folder`` imports it only when called.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DistillError, TeacherUnavailable, UnsafeCheckpoint

# Files that hold pickled Python: loading them can execute arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SAFE_WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json")  # single file or sharded
# At least one must be present for transformers to build the teacher's tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
# Configs whose auto_map would make transformers import Python shipped with the checkpoint.
CODE_CONFIG_NAMES = ("config.json", "tokenizer_config.json")


def check_model_files(folder: str | Path, *, weight_names: Sequence[str] = SAFE_WEIGHT_NAMES,
                      invalid: Callable[[str], DistillError]) -> bool:
    """The file-safety part of every model folder; returns whether its safetensors weights are there.

    Raises UnsafeCheckpoint when the weights are pickle only or a config asks for custom code
    (auto_map), and ``invalid(message)`` when a config is not JSON or a safetensors header cannot
    be read. A folder with no weights at all returns False: what to say then is the caller's.
    """
    folder = Path(folder)
    names = {path.name for path in folder.iterdir() if path.is_file()}
    has_weights = any(name in names for name in weight_names)
    pickles = sorted(name for name in names if name.endswith(PICKLE_SUFFIXES))
    if not has_weights and pickles:
        raise UnsafeCheckpoint(
            f"{folder} holds only pickle weights ({', '.join(pickles)}), which can run code when loaded. "
            "Convert it to model.safetensors (save_pretrained(..., safe_serialization=True)) and import again.",
            code="unsafe_checkpoint_pickle", path=str(folder), files=pickles,
        )
    for config_name in CODE_CONFIG_NAMES:
        path = folder / config_name
        if path.is_file():
            refuse_remote_code(_read_json(path, invalid), str(path))
    for weights in sorted(folder.glob("*.safetensors")):
        _check_safetensors_header(weights, invalid)
    return has_weights


def check_teacher_folder(folder: str | Path, *, delete_pickles: bool = False) -> None:
    """Raise a DistillError unless ``folder`` is a teacher checkpoint cld can load without running code.

    Beyond ``check_model_files``: safetensors weights must be present, config.json must be a JSON
    object with a model_type, and tokenizer files must be there. ``delete_pickles`` removes every
    pickle file in the folder (the safetensors weights beside them are what loads), so nothing can
    ever load them from here: for folders cld owns, such as an unpacked upload, never a user's own.
    """
    folder = Path(folder)

    def invalid(message: str) -> DistillError:
        return TeacherUnavailable(message, code="teacher_invalid", teacher=str(folder))

    if not check_model_files(folder, invalid=invalid):
        raise TeacherUnavailable(f"Teacher folder {folder} holds no model.safetensors.", code="teacher_no_weights",
                                 teacher=str(folder))
    config_path = folder / "config.json"
    config = _read_json(config_path, invalid) if config_path.is_file() else None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise invalid(f"{folder}/config.json has no model_type")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise invalid(f"{folder} has no tokenizer files")
    if delete_pickles:
        for path in folder.rglob("*"):
            if path.is_file() and path.name.endswith(PICKLE_SUFFIXES):
                path.unlink()


def refuse_remote_code(config: Any, where: str) -> None:
    """Raise UnsafeCheckpoint when a (config.json-like) dict asks for custom Python code via auto_map."""
    if isinstance(config, dict) and config.get("auto_map"):
        raise UnsafeCheckpoint(
            f"{where} asks for custom Python code (auto_map); cld never runs remote code. "
            "Use a checkpoint of a built-in transformers architecture.",
            code="unsafe_checkpoint_remote_code", path=where,
        )


def describe_teacher_folder(folder: str | Path) -> dict[str, Any]:
    """What a save_pretrained folder holds, from config.json and the safetensors headers (no tensor is read).

    For the import confirmation: architecture, size, vocabulary, and which heads the weights carry
    (a sequence-classification head is used as is when its labels match; a masked-LM head means a
    pretrained encoder that cld fine-tunes first).
    """
    from safetensors import safe_open

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    keys: list[str] = []
    weight_bytes = 0
    for weights in sorted(folder.glob("*.safetensors")):
        weight_bytes += weights.stat().st_size
        with safe_open(str(weights), framework="numpy") as tensors:
            keys.extend(tensors.keys())
    architectures = config.get("architectures") or []
    id2label = config.get("id2label") or {}
    has_classifier = any(key.startswith(("classifier.", "score.")) or ".classifier." in key for key in keys)
    return {
        "architecture": ", ".join(architectures) or str(config.get("model_type", "")),
        "model_type": str(config.get("model_type", "")),
        "layers": config.get("num_hidden_layers") or config.get("n_layer") or 0,
        "hidden_size": config.get("hidden_size") or config.get("dim") or 0,
        "vocab_size": config.get("vocab_size") or 0,
        "classification_head": has_classifier,
        "classification_labels": [str(id2label[k]) for k in sorted(id2label, key=int)] if has_classifier else [],
        "masked_lm_head": any(key.startswith(("cls.predictions.", "lm_head.")) for key in keys),
        "weight_bytes": weight_bytes,
    }


def _read_json(path: Path, invalid: Callable[[str], DistillError]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise invalid(f"{path}: not valid JSON ({error})") from error


def _check_safetensors_header(path: Path, invalid: Callable[[str], DistillError]) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as tensors:  # numpy: reading a header needs no torch
            tensors.keys()
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise invalid(f"{path.name} is not a safetensors file ({error})") from error

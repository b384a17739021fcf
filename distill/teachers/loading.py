"""Loading a teacher: from a local folder or the hub, safetensors only, never remote code; its fingerprint.

Loading is ``from_pretrained`` with ``use_safetensors=True`` and ``trust_remote_code=False``, and
a local folder passes ``safety.check_teacher_folder`` first: a checkpoint that would need pickle
or custom Python is refused before anything in it runs.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TeacherConfig
from ..errors import TeacherUnavailable, UnsafeCheckpoint
from .safety import check_teacher_folder, refuse_remote_code


@dataclass
class LoadedTeacher:
    model: Any  # a transformers PreTrainedModel for sequence (or, for tagging, token) classification, in eval mode
    tokenizer: Any  # its tokenizer (tokenizers-backed)
    needs_finetune: bool  # no trained head for these labels: fine-tune before labelling
    fingerprint: str  # sha256 over weights + config: the cache key's teacher part
    source: str  # what the user named (hub id or folder)
    directory: str = ""  # local folder the files were read from (hub cache snapshot for hub ids)


def unavailable_message(name: str) -> str:
    return (
        f"Teacher '{name}' is not available offline. Import a local copy with: "
        "python manage.py import_teacher PATH (a save_pretrained folder with safetensors weights), "
        "or upload it on the Teachers page."
    )



def fingerprint_folder(directory: str | Path) -> str:
    """sha256 over config.json and every safetensors file, by name and content, in name order."""
    directory = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.name == "config.json" or path.name.endswith(".safetensors"):
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def weight_shapes(directory: str | Path) -> dict[str, list[int]]:
    """Every tensor's shape in a folder's safetensors weights (sharded or not), read from the headers only."""
    directory = Path(directory)
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
    else:
        shards = ["model.safetensors"] if (directory / "model.safetensors").is_file() else []
    shapes: dict[str, list[int]] = {}
    for shard in shards:
        with (directory / shard).open("rb") as handle:
            # safetensors: an 8-byte little-endian header length, then the JSON header naming every tensor.
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        shapes.update({name: list(entry.get("shape", [])) for name, entry in header.items() if name != "__metadata__"})
    return shapes


# Where a transformers sequence-classification model keeps its output layer (BERT, RoBERTa, decoder-style).
_HEAD_WEIGHTS = ("classifier.weight", "classifier.out_proj.weight", "score.weight")


def head_ready(directory: str | Path, labels: list[str]) -> bool:
    """Whether the folder's checkpoint already classifies into exactly ``labels``, from its files alone.

    True means load_teacher would find needs_finetune False, so a run whose teacher outputs and
    speed are all cached need not load the weights just to learn that. False when unsure: the
    caller then loads the model and asks it.
    """
    directory = Path(directory)
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        shapes = weight_shapes(directory)
    except (OSError, ValueError, struct.error):
        return False
    if not any(str(name).endswith("ForSequenceClassification") for name in config.get("architectures") or []):
        return False
    id2label = config.get("id2label") or {}
    try:
        names = [id2label[key] for key in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return False
    heads = [shapes[name] for name in _HEAD_WEIGHTS if name in shapes]
    return names == list(labels) and len(heads) == 1 and bool(heads[0]) and heads[0][0] == len(labels)


def load_teacher(cfg: TeacherConfig, labels: list[str], name_or_path: str | None = None,
                 task: str = "single") -> LoadedTeacher:
    """Load a sequence-classification teacher for ``labels`` from a local folder or the hub.

    ``name_or_path`` overrides ``cfg.name_or_path`` (the pipeline points it at a demo or fine-tuned folder).
    ``task="tagging"`` loads a token-classification model instead, ``labels`` being its tags.
    """
    from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification,
                              AutoTokenizer, PretrainedConfig)

    model_class = AutoModelForTokenClassification if task == "tagging" else AutoModelForSequenceClassification

    name = name_or_path or cfg.name_or_path
    local = Path(name)
    is_local = local.is_dir()
    if is_local:
        check_teacher_folder(local)
    elif name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        # Looks like a path, not "org/model": a missing folder, not a hub id.
        raise TeacherUnavailable(unavailable_message(name), code="teacher_unavailable", teacher=name)

    try:
        if not is_local:
            raw_config, _ = PretrainedConfig.get_config_dict(name, local_files_only=cfg.local_files_only)
            refuse_remote_code(raw_config, f"{name}/config.json")
        checkpoint_config = AutoConfig.from_pretrained(name, local_files_only=cfg.local_files_only, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=cfg.local_files_only, trust_remote_code=False)
        id2label = {i: label for i, label in enumerate(labels)}
        model, loading_info = model_class.from_pretrained(
            name,
            num_labels=len(labels),
            id2label=id2label,
            label2id={label: i for i, label in id2label.items()},
            use_safetensors=True,
            local_files_only=cfg.local_files_only,
            trust_remote_code=False,
            ignore_mismatched_sizes=True,  # a head for other labels is replaced, then fine-tuned
            output_loading_info=True,
        )
    except UnsafeCheckpoint:
        raise
    except (OSError, ValueError) as error:
        # OSError covers "could not connect" and missing files (huggingface_hub's HTTP and
        # entry-not-found errors subclass it); ValueError covers malformed repo ids.
        if is_local:
            raise TeacherUnavailable(
                f"Teacher folder {name} cannot be loaded: {error}", code="teacher_invalid", teacher=name
            ) from error
        raise TeacherUnavailable(unavailable_message(name), code="teacher_unavailable", teacher=name) from error

    directory = str(local) if is_local else _hub_snapshot_dir(name)
    missing = set(loading_info.get("missing_keys", ())) | {k[0] if isinstance(k, tuple) else k for k in loading_info.get("mismatched_keys", ())}
    head_missing = any(key.startswith(("classifier", "score")) or ".classifier" in key for key in missing)
    checkpoint_labels = [checkpoint_config.id2label[i] for i in sorted(checkpoint_config.id2label)] if checkpoint_config.id2label else []
    needs_finetune = head_missing or checkpoint_labels != list(labels)
    model.eval()
    return LoadedTeacher(
        model=model, tokenizer=tokenizer, needs_finetune=needs_finetune,
        fingerprint=fingerprint_folder(directory) if directory else hashlib.sha256(name.encode()).hexdigest(),
        source=name, directory=directory,
    )


def _hub_snapshot_dir(name: str) -> str:
    """The hub cache folder holding a downloaded teacher, so it can be fingerprinted by content."""
    from transformers.utils import cached_file

    config_path = cached_file(name, "config.json", local_files_only=True)
    return str(Path(config_path).parent) if config_path else ""

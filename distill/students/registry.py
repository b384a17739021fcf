"""The student registry: architectures by name, their size presets, and building one from the config.

A student is rebuilt from its resolved config dict alone, so that dict is what ``saving`` stores
beside the weights.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from ..config import StudentConfig
from ..errors import ConfigError
from .architectures import (BiGRUStudent, BiLSTMStudent, SiameseBiGRUStudent, SiameseBiLSTMStudent, StudentModel,
                            TextCNNStudent, TransformerStudent)
from .taggers import BiGRUTagger, BiLSTMTagger, TaggerModel, TransformerTagger

_RECURRENT_SMALL = {"embedding_dim": 128, "hidden_size": 128, "num_layers": 1, "pooling": "max"}
_RECURRENT_BASE = {"embedding_dim": 256, "hidden_size": 256, "num_layers": 2, "pooling": "attention"}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "bilstm": {"small": dict(_RECURRENT_SMALL), "base": dict(_RECURRENT_BASE)},
    "bigru": {"small": dict(_RECURRENT_SMALL), "base": dict(_RECURRENT_BASE)},
    # hidden_size = filters per kernel size; TextCNN has one convolution layer.
    "textcnn": {
        # The web's default student: 64-wide embeddings and 64 filters per width keep it 9x smaller
        # than the demo teacher (the embedding table dominates both); "small" is only ~4x smaller.
        # On 8,000 reviews it scored 2.7 points below "small" (noise there: ±2.8); docs/benchmarks.md "demo".
        "tiny": {"embedding_dim": 64, "hidden_size": 64, "num_layers": 1, "pooling": "max", "kernel_sizes": [2, 3, 4]},
        "small": {"embedding_dim": 128, "hidden_size": 128, "num_layers": 1, "pooling": "max", "kernel_sizes": [2, 3, 4]},
        "base": {"embedding_dim": 256, "hidden_size": 256, "num_layers": 1, "pooling": "max", "kernel_sizes": [2, 3, 4]},
    },
    # embedding_dim = hidden_size: a transformer adds embeddings and states together.
    "transformer": {
        "small": {"embedding_dim": 256, "hidden_size": 256, "num_layers": 4, "num_heads": 4, "intermediate_size": 1024,
                  "pooling": "mean", "max_positions": 512},
        "base": {"embedding_dim": 384, "hidden_size": 384, "num_layers": 6, "num_heads": 6, "intermediate_size": 1536,
                 "pooling": "mean", "max_positions": 512},
    },
}
POOLINGS = ("max", "mean", "attention")


def resolve_student_config(cfg: StudentConfig, teacher_config: Any = None) -> dict[str, Any]:
    """The config with preset sizes filled in: what is saved with the student and rebuilds it.

    For a transformer that copies teacher layers (``cfg.teacher_layers``), width,
    heads, feed-forward size and positions follow ``teacher_config`` (a Hugging
    Face BertConfig or similar), since copied weights only fit the same shapes.
    """
    if cfg.architecture not in PRESETS:
        raise ConfigError(f"unknown student {cfg.architecture!r}; choose one of {', '.join(PRESETS)}",
                          code="unknown_student", architecture=cfg.architecture)
    if cfg.preset not in PRESETS[cfg.architecture]:
        raise ConfigError(f"unknown preset {cfg.preset!r} for {cfg.architecture}; choose {' or '.join(PRESETS[cfg.architecture])}", code="unknown_preset",
                          preset=cfg.preset)
    resolved: dict[str, Any] = dataclasses.asdict(cfg)
    preset = PRESETS[cfg.architecture][cfg.preset]
    for key, value in preset.items():
        if not resolved.get(key):
            resolved[key] = value
    if cfg.architecture == "transformer":
        if cfg.teacher_layers:
            resolved["num_layers"] = len(cfg.teacher_layers)
        if cfg.teacher_layers and teacher_config is not None:
            resolved["hidden_size"] = int(teacher_config.hidden_size)
            resolved["num_heads"] = int(teacher_config.num_attention_heads)
            resolved["intermediate_size"] = int(teacher_config.intermediate_size)
            resolved["max_positions"] = int(teacher_config.max_position_embeddings)
        resolved["embedding_dim"] = resolved["hidden_size"]
        if resolved["hidden_size"] % resolved["num_heads"]:
            raise ConfigError(f"hidden_size {resolved['hidden_size']} is not divisible by {resolved['num_heads']} heads",
                              code="bad_student_size", hidden_size=resolved["hidden_size"], heads=resolved["num_heads"])
    if resolved["pooling"] not in POOLINGS:
        raise ConfigError(f"unknown pooling {resolved['pooling']!r}; choose one of {', '.join(POOLINGS)}",
                          code="unknown_pooling", pooling=resolved["pooling"])
    if cfg.architecture in ("bilstm", "bigru") and resolved["num_layers"] not in (1, 2):
        raise ConfigError("recurrent students have 1 or 2 layers", code="bad_student_size",
                          num_layers=resolved["num_layers"])
    return resolved


STUDENTS: dict[str, type[StudentModel]] = {
    "bilstm": BiLSTMStudent,
    "bigru": BiGRUStudent,
    "textcnn": TextCNNStudent,
    "transformer": TransformerStudent,
}


# Pair students (task "pair") where the architecture reads each text alone; the others read the joined pair.
PAIR_STUDENTS: dict[str, type[StudentModel]] = {"bilstm": SiameseBiLSTMStudent, "bigru": SiameseBiGRUStudent}
# Tagging students (task "tagging"): per-token emissions, optionally a CRF. TextCNN has none.
TAGGERS: dict[str, type[TaggerModel]] = {"bilstm": BiLSTMTagger, "bigru": BiGRUTagger, "transformer": TransformerTagger}


def student_class(config: dict[str, Any]) -> type[StudentModel]:
    """The class a resolved config rebuilds: a pair config (one with ``pair_separator_id``) picks a pair student,
    a tagger's (``tagger`` true, set by build_tagger) a tagger."""
    architecture = config.get("architecture")
    if architecture not in STUDENTS:
        raise ConfigError(f"unknown student {architecture!r}; choose one of {', '.join(STUDENTS)}",
                          code="unknown_student", architecture=architecture)
    if config.get("tagger") and architecture in TAGGERS:
        return TAGGERS[architecture]
    if config.get("pair_separator_id") is not None and architecture in PAIR_STUDENTS:
        return PAIR_STUDENTS[architecture]
    return STUDENTS[architecture]


def build_student(cfg: StudentConfig, vocab_size: int, num_labels: int, *, teacher_config: Any = None,
                  pair_separator_id: int | None = None) -> StudentModel:
    """A freshly initialised student; ``teacher_config`` sizes a transformer that copies teacher layers;
    ``pair_separator_id`` (the tokenizer's [SEP]) makes it a pair student where the architecture has one."""
    if cfg.crf:
        raise ConfigError("a CRF layer is for tagging students only; a text student has one label, not a sequence",
                          code="crf_unsupported", architecture=cfg.architecture)
    resolved = resolve_student_config(cfg, teacher_config)
    resolved.update(vocab_size=int(vocab_size), num_labels=int(num_labels))
    if pair_separator_id is not None:
        resolved["pair_separator_id"] = int(pair_separator_id)
    return student_class(resolved)(resolved)


def build_tagger(cfg: StudentConfig, vocab_size: int, num_tags: int, *, teacher_config: Any = None) -> TaggerModel:
    """A freshly initialised tagger: emissions (B, T, num_tags), with a CRF over them when ``cfg.crf``.

    Sizes come from the same presets as the text students (pooling is resolved but unused).
    """
    if cfg.architecture == "textcnn":
        # Its max-over-time pooling is the model: without it there is one window per token and no context
        # beyond the widest kernel, which is a poor tagger; it was never designed or tested as one.
        raise ConfigError(f"TextCNN cannot tag tokens; choose one of {', '.join(TAGGERS)} for tagging",
                          code="tagger_unsupported", architecture=cfg.architecture)
    resolved = resolve_student_config(cfg, teacher_config)
    resolved.update(vocab_size=int(vocab_size), num_labels=int(num_tags), tagger=True)
    return TAGGERS[cfg.architecture](resolved)


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())

"""Student models, chosen by name: BiLSTM, BiGRU, TextCNN and a small transformer.

Every student maps ``input_ids (B, T)`` and ``attention_mask (B, T)`` to logits
``(B, C)``. A student is rebuilt from its resolved config dict alone, so the
dict is saved beside its safetensors weights and loading never needs pickle.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .config import StudentConfig
from .errors import ConfigError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "student_config.json"

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


# --------------------------------------------------------------------------- shared pieces


class Pooler(nn.Module):
    """Masked pooling of token states into one vector per text."""

    def __init__(self, kind: str, width: int) -> None:
        super().__init__()
        self.kind = kind
        self.score = nn.Linear(width, 1) if kind == "attention" else None

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # states (B, T, H), attention_mask (B, T) -> (B, H)
        mask = attention_mask.unsqueeze(-1).bool()  # (B, T, 1)
        if self.kind == "max":
            return states.masked_fill(~mask, torch.finfo(states.dtype).min).max(dim=1).values
        if self.kind == "mean":
            total = (states * mask).sum(dim=1)  # (B, H)
            return total / mask.sum(dim=1).clamp(min=1)
        scores = self.score(states).masked_fill(~mask, torch.finfo(states.dtype).min)  # (B, T, 1)
        weights = scores.softmax(dim=1)  # (B, T, 1)
        return (weights * states).sum(dim=1)


class StudentModel(nn.Module):
    """Base of every student: built from its resolved config dict, which it keeps."""

    architecture: ClassVar[str] = ""
    token_embedding: nn.Embedding

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _RecurrentStudent(StudentModel):
    rnn_class: ClassVar[type[nn.RNNBase]]

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        embedding_dim, hidden = config["embedding_dim"], config["hidden_size"]
        self.token_embedding = nn.Embedding(config["vocab_size"], embedding_dim, padding_idx=0)
        self.rnn = self.rnn_class(embedding_dim, hidden, num_layers=config["num_layers"], batch_first=True,
                                  bidirectional=True, dropout=config["dropout"] if config["num_layers"] > 1 else 0.0)
        self.pool = Pooler(config["pooling"], 2 * hidden)
        self.dropout = nn.Dropout(config["dropout"])
        self.classifier = nn.Linear(2 * hidden, config["num_labels"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embedded = self.dropout(self.token_embedding(input_ids))  # (B, T, E)
        # Packing keeps padding out of the backward direction's state.
        lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()  # (B,)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=input_ids.shape[1])  # (B, T, 2H)
        pooled = self.pool(states, attention_mask)  # (B, 2H)
        return self.classifier(self.dropout(pooled))  # (B, C)


class BiLSTMStudent(_RecurrentStudent):
    """Bidirectional LSTM over token embeddings (Tang et al. 2019, "Distilling BERT into simple networks")."""

    architecture = "bilstm"
    rnn_class = nn.LSTM


class BiGRUStudent(_RecurrentStudent):
    """Bidirectional GRU: like the BiLSTM with a quarter fewer recurrent weights."""

    architecture = "bigru"
    rnn_class = nn.GRU


class TextCNNStudent(StudentModel):
    """Convolutions of several widths with max-over-time pooling (Kim 2014)."""

    architecture = "textcnn"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        embedding_dim, filters = config["embedding_dim"], config["hidden_size"]
        self.kernel_sizes = list(config["kernel_sizes"])
        self.token_embedding = nn.Embedding(config["vocab_size"], embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, filters, size) for size in self.kernel_sizes)
        self.dropout = nn.Dropout(config["dropout"])
        self.classifier = nn.Linear(filters * len(self.kernel_sizes), config["num_labels"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        widest = max(self.kernel_sizes)
        if input_ids.shape[1] < widest:  # every kernel needs at least one full window
            input_ids = F.pad(input_ids, (0, widest - input_ids.shape[1]))
            attention_mask = F.pad(attention_mask, (0, widest - attention_mask.shape[1]))
        embedded = self.token_embedding(input_ids) * attention_mask.unsqueeze(-1)  # (B, T, E)
        embedded = self.dropout(embedded).transpose(1, 2)  # (B, E, T)
        lengths = attention_mask.sum(dim=1)  # (B,)
        pooled = []
        for size, conv in zip(self.kernel_sizes, self.convs):
            features = F.relu(conv(embedded))  # (B, F, T - size + 1)
            # A window is real when it starts inside the text; short texts keep their first window.
            starts = torch.arange(features.shape[2], device=input_ids.device)  # (T - size + 1,)
            valid = starts.unsqueeze(0) < (lengths - size + 1).clamp(min=1).unsqueeze(1)  # (B, T - size + 1)
            features = features.masked_fill(~valid.unsqueeze(1), torch.finfo(features.dtype).min)
            pooled.append(features.max(dim=2).values)  # (B, F)
        return self.classifier(self.dropout(torch.cat(pooled, dim=1)))  # (B, F * kernels)


@dataclasses.dataclass
class StudentOutput:
    logits: torch.Tensor  # (B, C)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings + each layer, each (B, T, H)
    attentions: tuple[torch.Tensor, ...] | None = None  # each layer's attention probabilities (B, heads, T, T)


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor,
                output_attentions: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, hidden = states.shape

        def split(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)  # (B, h, T, d)

        query, key, value = split(self.query(states)), split(self.key(states)), split(self.value(states))
        keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
        dropout = self.dropout if self.training else 0.0
        if not output_attentions:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, dropout_p=dropout)
            probs = None
        else:
            scores = query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1])  # (B, h, T, T)
            probs = scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)
            context = F.dropout(probs, dropout, self.training) @ value  # (B, h, T, d)
        return context.transpose(1, 2).reshape(batch, length, hidden), probs  # (B, T, H)


class _TransformerLayer(nn.Module):
    """Post-LayerNorm block laid out like BERT's, so a BERT layer's weights copy over exactly."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float) -> None:
        super().__init__()
        self.attention = _SelfAttention(hidden, heads, dropout)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor,
                output_attentions: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, probs = self.attention(states, attention_mask, output_attentions)  # (B, T, H)
        states = self.attention_norm(states + self.dropout(self.attention_output(context)))
        feed_forward = self.output(F.gelu(self.intermediate(states)))  # (B, T, H)
        return self.output_norm(states + self.dropout(feed_forward)), probs


class TransformerStudent(StudentModel):
    """A few BERT-style layers with learned positions (as in TinyBERT / DistilBERT students)."""

    architecture = "transformer"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        hidden = config["hidden_size"]
        self.token_embedding = nn.Embedding(config["vocab_size"], hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(config["max_positions"], hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(config["dropout"])
        self.layers = nn.ModuleList(
            _TransformerLayer(hidden, config["num_heads"], config["intermediate_size"], config["dropout"])
            for _ in range(config["num_layers"]))
        self.pool = Pooler(config["pooling"], hidden)
        self.classifier = nn.Linear(hidden, config["num_labels"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, output_hidden_states: bool = False,
                output_attentions: bool = False) -> torch.Tensor | StudentOutput:
        """Logits (B, C); a StudentOutput when hidden states or attentions are asked for."""
        if input_ids.shape[1] > self.position_embedding.num_embeddings:
            input_ids = input_ids[:, :self.position_embedding.num_embeddings]
            attention_mask = attention_mask[:, :self.position_embedding.num_embeddings]
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        states = self.token_embedding(input_ids) + self.position_embedding(positions)  # (B, T, H)
        states = self.dropout(self.embedding_norm(states))
        hidden_states = [states]
        attentions = []
        for layer in self.layers:
            states, probs = layer(states, attention_mask, output_attentions)  # (B, T, H)
            hidden_states.append(states)
            attentions.append(probs)
        logits = self.classifier(self.dropout(self.pool(states, attention_mask)))  # (B, C)
        if not output_hidden_states and not output_attentions:
            return logits
        return StudentOutput(logits=logits,
                             hidden_states=tuple(hidden_states) if output_hidden_states else None,
                             attentions=tuple(attentions) if output_attentions else None)


STUDENTS: dict[str, type[StudentModel]] = {
    "bilstm": BiLSTMStudent,
    "bigru": BiGRUStudent,
    "textcnn": TextCNNStudent,
    "transformer": TransformerStudent,
}


def build_student(cfg: StudentConfig, vocab_size: int, num_labels: int, *, teacher_config: Any = None) -> StudentModel:
    """A freshly initialised student; ``teacher_config`` sizes a transformer that copies teacher layers."""
    resolved = resolve_student_config(cfg, teacher_config)
    resolved.update(vocab_size=int(vocab_size), num_labels=int(num_labels))
    return STUDENTS[cfg.architecture](resolved)


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


# --------------------------------------------------------------------------- teacher initialisation


@torch.no_grad()
def init_from_teacher(student: TransformerStudent, teacher_model: nn.Module, layers: list[int], *,
                      copy_embeddings: bool = True) -> None:
    """Copy the chosen layers of a Hugging Face BERT teacher into the student's layers, in order.

    ``copy_embeddings`` also copies word and position embeddings; only meaningful
    when the student reads with the teacher's tokenizer (same vocabulary). BERT's
    token-type-0 embedding is folded into the positions, since a single-text
    student has no token types.
    """
    if not isinstance(student, TransformerStudent):
        raise ConfigError("only the transformer student can copy teacher layers", code="teacher_layers_unsupported")
    bert = getattr(teacher_model, "bert", teacher_model)  # BertForSequenceClassification or BertModel
    teacher_layers = bert.encoder.layer
    if len(layers) != len(student.layers):
        raise ConfigError(f"the student has {len(student.layers)} layers but {len(layers)} teacher layers were chosen",
                          code="teacher_layers_mismatch", student_layers=len(student.layers), chosen=list(layers))
    bad = [index for index in layers if not 0 <= index < len(teacher_layers)]
    if bad:
        raise ConfigError(f"the teacher has layers 0-{len(teacher_layers) - 1}; {bad} do not exist",
                          code="teacher_layers_mismatch", chosen=list(layers), teacher_layers=len(teacher_layers))
    hidden = student.config["hidden_size"]
    if bert.config.hidden_size != hidden or bert.config.num_attention_heads != student.config["num_heads"]:
        raise ConfigError("the student's width and heads must equal the teacher's to copy its layers",
                          code="teacher_layers_mismatch", student_hidden=hidden, teacher_hidden=bert.config.hidden_size)
    for target, index in zip(student.layers, layers):
        source = bert.encoder.layer[index]
        pairs = [
            (target.attention.query, source.attention.self.query),
            (target.attention.key, source.attention.self.key),
            (target.attention.value, source.attention.self.value),
            (target.attention_output, source.attention.output.dense),
            (target.attention_norm, source.attention.output.LayerNorm),
            (target.intermediate, source.intermediate.dense),
            (target.output, source.output.dense),
            (target.output_norm, source.output.LayerNorm),
        ]
        for mine, theirs in pairs:
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    embeddings = bert.embeddings
    student.embedding_norm.weight.copy_(embeddings.LayerNorm.weight)
    student.embedding_norm.bias.copy_(embeddings.LayerNorm.bias)
    if copy_embeddings:
        if embeddings.word_embeddings.weight.shape != student.token_embedding.weight.shape:
            raise ConfigError("the student's vocabulary differs from the teacher's; use embedding_init='teacher' instead",
                              code="teacher_layers_mismatch")
        student.token_embedding.weight.copy_(embeddings.word_embeddings.weight)
        positions = min(student.position_embedding.num_embeddings, embeddings.position_embeddings.num_embeddings)
        token_type = embeddings.token_type_embeddings.weight[0] if hasattr(embeddings, "token_type_embeddings") else 0
        student.position_embedding.weight[:positions].copy_(embeddings.position_embeddings.weight[:positions] + token_type)
    student.config["teacher_layers"] = list(layers)


@torch.no_grad()
def init_embeddings_from_teacher(student: StudentModel, student_tokenizer: Any, teacher_tokenizer: Any,
                                 teacher_embedding_matrix: torch.Tensor) -> int:
    """Start the student's embeddings from the teacher's input embeddings, PCA-projected to its width.

    Each student token takes the teacher's row for the same string (a word not
    in the teacher vocabulary takes the mean of its pieces' rows; anything else
    the mean of all rows). The rows are projected on the teacher matrix's top
    principal components and rescaled to the student's initial spread, so
    training starts at the usual scale. Returns how many tokens the teacher knew.
    """
    teacher_matrix = teacher_embedding_matrix.detach().float().cpu()  # (V_t, D)
    width = student.token_embedding.weight.shape[1]
    tokens = getattr(student_tokenizer, "tokens", None)
    mean_row = teacher_matrix.mean(dim=0)  # (D,)
    if tokens is None:
        # The student reads with the teacher's own tokenizer: row i already is token i.
        if teacher_matrix.shape[0] != student.token_embedding.weight.shape[0]:
            raise ConfigError("the student's vocabulary does not match the teacher's embedding matrix",
                              code="embedding_init_unsupported", student_vocab=student.token_embedding.weight.shape[0],
                              teacher_vocab=teacher_matrix.shape[0])
        rows = teacher_matrix.clone()  # (V_s, D)
        known = rows.shape[0]
    else:
        lookup = _teacher_vocab(teacher_tokenizer)
        rows = torch.empty(len(tokens), teacher_matrix.shape[1])  # (V_s, D)
        known = 0
        for index, token in enumerate(tokens):
            ids = _teacher_ids(token, lookup)
            if ids:
                known += 1
                rows[index] = teacher_matrix[ids].mean(dim=0)
            else:
                rows[index] = mean_row
    centered = teacher_matrix - mean_row  # (V_t, D)
    covariance = centered.T @ centered / max(len(centered) - 1, 1)  # (D, D)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues; columns are components
    components = vectors.flip(dims=[1])[:, :width]  # (D, min(D, E))
    projected = (rows - mean_row) @ components  # (V_s, min(D, E))
    if projected.shape[1] < width:  # a student wider than the teacher: extra dimensions start at zero
        projected = F.pad(projected, (0, width - projected.shape[1]))
    target_std = student.token_embedding.weight.std().clamp(min=1e-6)
    projected = projected * (target_std / projected.std().clamp(min=1e-6))
    weight = student.token_embedding.weight
    weight.copy_(projected.to(weight.dtype))
    if student.token_embedding.padding_idx is not None:
        weight[student.token_embedding.padding_idx].zero_()
    student.config["embedding_init"] = "teacher"
    return known


def _teacher_vocab(teacher_tokenizer: Any) -> dict[str, int]:
    # A Hugging Face tokenizer or data.TeacherTokenizer (whose Rust tokenizer is ``.backend``).
    for attribute in ("backend_tokenizer", "backend"):
        backend = getattr(teacher_tokenizer, attribute, None)
        if hasattr(backend, "get_vocab"):
            return backend.get_vocab()
    return dict(teacher_tokenizer.get_vocab())


def _teacher_ids(token: str, lookup: dict[str, int]) -> list[int]:
    if token in ("[PAD]", "[UNK]"):
        return [lookup[token]] if token in lookup else []
    for form in (token, token.lower()):
        if form in lookup:
            return [lookup[form]]
    if len(token) == 1:
        return []
    # A word: the teacher's rows for its characters (Chinese BERT vocabularies are character-level).
    pieces = [lookup.get(char, lookup.get(char.lower())) for char in token]
    return [piece for piece in pieces if piece is not None]


# --------------------------------------------------------------------------- save / load


def save_student(model: StudentModel, directory: str | Path) -> Path:
    """Write model.safetensors and student_config.json; nothing is pickled."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, str(directory / WEIGHTS_FILE), metadata={"architecture": model.architecture})
    (directory / CONFIG_FILE).write_text(json.dumps(model.config, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


def load_student(directory: str | Path, device: str | torch.device = "cpu") -> StudentModel:
    """Rebuild a student from its config and weights, in eval mode."""
    directory = Path(directory)
    config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    architecture = config.get("architecture")
    if architecture not in STUDENTS:
        raise ConfigError(f"{directory} holds an unknown student {architecture!r}", code="unknown_student",
                          architecture=architecture)
    model = STUDENTS[architecture](config)
    model.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device=str(device)))
    return model.to(device).eval()

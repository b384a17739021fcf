"""Starting a student from its teacher: copied transformer layers, or embeddings projected to the student's width."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .architectures import StudentModel, TransformerEncoder


@torch.no_grad()
def init_from_teacher(student: TransformerEncoder, teacher_model: nn.Module, layers: list[int], *,
                      copy_embeddings: bool = True) -> None:
    """Copy the chosen layers of a Hugging Face BERT teacher into the student's layers, in order.

    ``copy_embeddings`` also copies word and position embeddings; only meaningful
    when the student reads with the teacher's tokenizer (same vocabulary). BERT's
    token-type-0 embedding is folded into the positions, since a single-text
    student has no token types.
    """
    if not isinstance(student, TransformerEncoder):  # the transformer student or tagger
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
    # A Hugging Face tokenizer or tokens.tokenizer.TeacherTokenizer (whose Rust tokenizer is ``.backend``).
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

"""The student architectures: BiLSTM, BiGRU, TextCNN and a small transformer.

Every student maps ``input_ids (B, T)`` and ``attention_mask (B, T)`` to logits ``(B, C)``
and is built from its resolved config dict alone (``registry.resolve_student_config``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


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


class _RecurrentEncoder(StudentModel):
    """Token embeddings and a bidirectional LSTM/GRU: the states (B, T, 2H) that texts pool and taggers label."""

    rnn_class: ClassVar[type[nn.RNNBase]]

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        embedding_dim, hidden = config["embedding_dim"], config["hidden_size"]
        self.token_embedding = nn.Embedding(config["vocab_size"], embedding_dim, padding_idx=0)
        self.rnn = self.rnn_class(embedding_dim, hidden, num_layers=config["num_layers"], batch_first=True,
                                  bidirectional=True, dropout=config["dropout"] if config["num_layers"] > 1 else 0.0)
        self.dropout = nn.Dropout(config["dropout"])

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states of both directions, (B, T, 2H); padding never enters a real token's state."""
        embedded = self.dropout(self.token_embedding(input_ids))  # (B, T, E)
        lengths = attention_mask.sum(dim=1).clamp(min=1)  # (B,)
        states = embedded
        for layer in range(self.rnn.num_layers):
            if layer:  # nn.LSTM/GRU drop out between layers, never after the last one
                states = F.dropout(states, self.rnn.dropout, self.training)
            forward = self._run_direction(states, layer, "")  # (B, T, H)
            # The backward direction reads each text from its own last token: reversed within its length,
            # padding stays at the end, so padding never enters the state of a real token.
            backward = reverse_within_length(self._run_direction(reverse_within_length(states, lengths), layer,
                                                                 "_reverse"), lengths)  # (B, T, H)
            states = torch.cat([forward, backward], dim=-1)  # (B, T, 2H)
        return states

    def _run_direction(self, states: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One direction of one layer of ``self.rnn``, with its own weights, from a zero state: (B, T, H).

        Packing (pack_padded_sequence) did the same, but its batch sizes come from the data, so an
        exported graph kept the example's lengths; this runs over every position and masks instead.
        """
        params = [getattr(self.rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        initial = states.new_zeros(1, states.shape[0], self.rnn.hidden_size)  # (1, B, H)
        if isinstance(self.rnn, nn.LSTM):
            output, _, _ = torch.lstm(states, (initial, initial), params, True, 1, 0.0, self.training, False, True)
        else:
            output, _ = torch.gru(states, initial, params, True, 1, 0.0, self.training, False, True)
        return output


class _RecurrentStudent(_RecurrentEncoder):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.pool = Pooler(config["pooling"], 2 * config["hidden_size"])
        self.classifier = nn.Linear(2 * config["hidden_size"], config["num_labels"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encode(input_ids, attention_mask)  # (B, T, 2H)
        pooled = self.pool(states, attention_mask)  # (B, 2H); padded positions are masked out here
        return self.classifier(self.dropout(pooled))  # (B, C)


def reverse_within_length(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths[row]`` positions in reverse order, the rest (padding) where it was: (B, T, H)."""
    positions = torch.arange(states.shape[1], device=states.device).unsqueeze(0)  # (1, T)
    ends = lengths.unsqueeze(1)  # (B, 1)
    source = torch.where(positions < ends, ends - 1 - positions, positions)  # (B, T)
    return states.gather(1, source.unsqueeze(-1).expand(-1, -1, states.shape[2]))


class BiLSTMStudent(_RecurrentStudent):
    """Bidirectional LSTM over token embeddings (Tang et al. 2019, "Distilling BERT into simple networks")."""

    architecture = "bilstm"
    rnn_class = nn.LSTM


class BiGRUStudent(_RecurrentStudent):
    """Bidirectional GRU: like the BiLSTM with a quarter fewer recurrent weights."""

    architecture = "bigru"
    rnn_class = nn.GRU


class _SiameseRecurrentStudent(_RecurrentStudent):
    """A pair student: one recurrent encoder reads each text alone, then [u; v; |u - v|; u * v] is classified
    (Conneau et al. 2017, InferSent; the matching features of Tang et al. 2019 for BiLSTM pair students).

    Its input is the joined pair ``first [SEP] second`` (tokens/tokenizer.py), so it keeps the two tensor
    inputs every student and the exported graph have; the forward splits the row at its first [SEP]
    with tensor operations only (no Python branch on the data), so the trace holds for every pair.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        hidden = config["hidden_size"]
        self.separator_id = int(config["pair_separator_id"])
        self.classifier = nn.Sequential(nn.Linear(8 * hidden, 2 * hidden), nn.ReLU(), nn.Dropout(config["dropout"]),
                                        nn.Linear(2 * hidden, config["num_labels"]))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        (first_ids, first_mask), (second_ids, second_mask) = split_joined_pair(input_ids, attention_mask,
                                                                               self.separator_id)
        batch = input_ids.shape[0]
        # Both texts in one pass of the shared encoder: (2B, T) in, (2B, 2H) pooled out.
        ids = torch.cat([first_ids, second_ids])  # (2B, T)
        mask = torch.cat([first_mask, second_mask])  # (2B, T)
        # An empty text (a row without [SEP], or nothing after it) pools to zeros, not to the max pooler's
        # most negative float, whose products in the features below would overflow to inf and NaN.
        pooled = self.pool(self.encode(ids, mask), mask) * (mask.sum(dim=1, keepdim=True) > 0)  # (2B, 2H)
        first, second = pooled[:batch], pooled[batch:]  # (B, 2H) each
        features = torch.cat([first, second, (first - second).abs(), first * second], dim=-1)  # (B, 8H)
        return self.classifier(self.dropout(features))  # (B, C)


def split_joined_pair(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      separator_id: int) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``first [SEP] second [PAD]...`` rows (B, T) as two left-aligned padded batches ((ids, mask), (ids, mask)).

    A row without a separator is all first text, with an empty second one (its mask is all zeros).
    """
    length = input_ids.shape[1]
    positions = torch.arange(length, device=input_ids.device).unsqueeze(0)  # (1, T)
    real = attention_mask.bool()  # (B, T)
    total = attention_mask.sum(dim=1)  # (B,)
    is_separator = (input_ids == separator_id) & real  # (B, T)
    # argmax finds the first True; a row with none falls back to its whole length.
    first_length = torch.where(is_separator.any(dim=1), is_separator.int().argmax(dim=1), total)  # (B,)
    second_length = (total - first_length - 1).clamp(min=0)  # (B,)
    first_mask = positions < first_length.unsqueeze(1)  # (B, T)
    first_ids = input_ids.masked_fill(~first_mask, 0)  # (B, T)
    source = (first_length.unsqueeze(1) + 1 + positions).clamp(max=length - 1)  # (B, T)
    second_mask = positions < second_length.unsqueeze(1)  # (B, T)
    second_ids = input_ids.gather(1, source).masked_fill(~second_mask, 0)  # (B, T)
    return (first_ids, first_mask.long()), (second_ids, second_mask.long())


class SiameseBiLSTMStudent(_SiameseRecurrentStudent):
    """The BiLSTM pair student."""

    architecture = "bilstm"
    rnn_class = nn.LSTM


class SiameseBiGRUStudent(_SiameseRecurrentStudent):
    """The BiGRU pair student."""

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
        # Every kernel needs at least one full window. Padding always (not only for short batches) keeps
        # the forward free of shape-dependent branches, so an exported graph holds for every length; the
        # extra windows start past every text's end and are masked out below.
        extra = max(self.kernel_sizes) - 1
        input_ids = F.pad(input_ids, (0, extra))
        attention_mask = F.pad(attention_mask, (0, extra))
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


class TransformerEncoder(StudentModel):
    """Embeddings and BERT-style layers: the token states that the text student pools and the tagger labels.

    ``teacher_init.init_from_teacher`` copies teacher layers into any encoder of this shape.
    """

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

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, output_attentions: bool = False
               ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor | None]]:
        """The last states (B, T', H), the embeddings + every layer's states, every layer's attention probabilities.

        T' = min(T, max_positions): longer inputs keep their first max_positions tokens; a slice, not a
        branch, so an export holds for any length.
        """
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
        return states, hidden_states, attentions


class TransformerStudent(TransformerEncoder):
    """A few BERT-style layers with learned positions (as in TinyBERT / DistilBERT students)."""

    architecture = "transformer"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.pool = Pooler(config["pooling"], config["hidden_size"])
        self.classifier = nn.Linear(config["hidden_size"], config["num_labels"])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, output_hidden_states: bool = False,
                output_attentions: bool = False) -> torch.Tensor | StudentOutput:
        """Logits (B, C); a StudentOutput when hidden states or attentions are asked for."""
        states, hidden_states, attentions = self.encode(input_ids, attention_mask, output_attentions)  # (B, T, H)
        attention_mask = attention_mask[:, :self.position_embedding.num_embeddings]
        logits = self.classifier(self.dropout(self.pool(states, attention_mask)))  # (B, C)
        if not output_hidden_states and not output_attentions:
            return logits
        return StudentOutput(logits=logits,
                             hidden_states=tuple(hidden_states) if output_hidden_states else None,
                             attentions=tuple(attentions) if output_attentions else None)

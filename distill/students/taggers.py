"""Sequence-labelling students (BIO named-entity tagging): BiLSTM, BiGRU and a small transformer, each with an
optional CRF layer.

A tagger maps ``input_ids (B, T)`` and ``attention_mask (B, T)`` to per-token emission scores ``(B, T, C)``
(C = number of tags, "O" included), so batching and the two-input ONNX graph stay those of the text
students. The CRF (Lafferty et al. 2001; as in Huang, Xu & Yu 2015, "Bidirectional LSTM-CRF Models for
Sequence Tagging") is kept out of the forward: the graph outputs emissions, and its start, transition and
end scores (``crf_scores``) travel beside it for a numpy Viterbi (export/standalone/predict.py).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchcrf import CRF

from .architectures import StudentModel, TransformerEncoder, _RecurrentEncoder


class TaggerModel(StudentModel):
    """What every tagger adds to a student: ``crf`` (or None) and decoding of its emissions into tag ids."""

    crf: CRF | None

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The tag ids of each row's ``mask`` positions, in order: CRF Viterbi, or each token's argmax without a CRF."""
        # emissions (B, T, C), mask (B, T)
        mask = mask.bool()
        if self.crf is None:
            best = emissions.argmax(dim=-1)  # (B, T)
            return [row[keep].tolist() for row, keep in zip(best, mask)]
        aligned, _, aligned_mask = left_align(emissions.float(), None, mask)  # (B, T, C), (B, T)
        lengths = aligned_mask.sum(dim=1)  # (B,)
        decoded: list[list[int]] = [[] for _ in range(emissions.shape[0])]
        rows = torch.nonzero(lengths > 0).flatten()  # torchcrf needs every row's first position to be real
        if len(rows):
            for row, tags in zip(rows.tolist(), self.crf.decode(aligned[rows], aligned_mask[rows])):
                decoded[row] = tags
        return decoded


def _crf_layer(config: dict[str, Any]) -> CRF | None:
    return CRF(config["num_labels"], batch_first=True) if config.get("crf") else None


class _RecurrentTagger(_RecurrentEncoder, TaggerModel):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(2 * config["hidden_size"], config["num_labels"])
        self.crf = _crf_layer(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encode(input_ids, attention_mask)  # (B, T, 2H)
        return self.classifier(self.dropout(states))  # (B, T, C)


class BiLSTMTagger(_RecurrentTagger):
    """Bidirectional LSTM tagger (Huang, Xu & Yu 2015); with ``crf`` the BiLSTM-CRF of that paper."""

    architecture = "bilstm"
    rnn_class = nn.LSTM


class BiGRUTagger(_RecurrentTagger):
    """Bidirectional GRU tagger: the BiLSTM's shape with a quarter fewer recurrent weights."""

    architecture = "bigru"
    rnn_class = nn.GRU


class TransformerTagger(TransformerEncoder, TaggerModel):
    """The transformer student's layers with a per-token classifier (BERT's token-classification head).

    Emissions cover the first ``max_positions`` tokens (TransformerEncoder.encode), so inputs must be no
    longer than that to get one score row per token.
    """

    architecture = "transformer"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(config["hidden_size"], config["num_labels"])
        self.crf = _crf_layer(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states, _, _ = self.encode(input_ids, attention_mask)  # (B, T, H)
        return self.classifier(self.dropout(states))  # (B, T, C)


def left_align(emissions: torch.Tensor, tags: torch.Tensor | None,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Each row's ``mask`` positions moved to its front, in order, and a prefix mask over them.

    torchcrf scores a row from its first position to the last one its mask holds, so the positions
    it skips (special tokens such as [CLS], unlabelled sub-words) must go first: the chain then
    links the real tokens directly, as the numpy Viterbi over the same positions does.
    """
    # emissions (B, T, C), tags (B, T) or None, mask (B, T) -> (B, T, C), (B, T) or None, (B, T) bool
    mask = mask.bool()
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T): kept positions first
    aligned = emissions.gather(1, order.unsqueeze(-1).expand(-1, -1, emissions.shape[2]))
    positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)  # (1, T)
    aligned_mask = positions < mask.sum(dim=1, keepdim=True)  # (B, T)
    aligned_tags = None if tags is None else tags.gather(1, order)
    return aligned, aligned_tags, aligned_mask


def crf_scores(model: TaggerModel) -> dict[str, list[Any]] | None:
    """The CRF's scores as JSON lists, for the export to carry beside the graph; None without a CRF.

    ``transitions[i][j]`` scores tag i followed by tag j (torchcrf's layout, and viterbi_decode's).
    """
    if model.crf is None:
        return None
    return {"start": model.crf.start_transitions.detach().cpu().tolist(),
            "transitions": model.crf.transitions.detach().cpu().tolist(),
            "end": model.crf.end_transitions.detach().cpu().tolist()}

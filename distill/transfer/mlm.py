"""Teacher-MLM sampling: whole words masked and re-sampled by the teacher's masked-LM head.

TinyBERT's data augmentation (Jiao et al. 2020, "TinyBERT: Distilling BERT for Natural Language
Understanding", §4.1 and Algorithm 1): each whole word is chosen with probability p_t (0.4), masked, and
replaced by a draw from the masked-LM's K (15) most likely tokens. TinyBERT replaces a word of several
pieces by a GloVe neighbour; here every piece of a chosen word is masked in one pass and each piece is
drawn on its own, which for Chinese (one WordPiece token a character) re-samples a word character by
character. The token that was there is left out of the draw, so every chosen word changes.

Needs a checkpoint with its pre-training head (``cls.predictions`` for BERT): a sequence-classification
teacher, fine-tuned or the demo one, has none (``mlm_head_available``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TeacherUnavailable
from .generators import changeable, choose_slots

# Weight-name prefixes of a masked-LM head, by architecture: BERT (and ERNIE, MacBERT), RoBERTa / XLM-R,
# ALBERT, DistilBERT, ELECTRA's generator.
MLM_HEAD_PREFIXES = ("cls.predictions.", "lm_head.", "predictions.", "vocab_projector.", "vocab_transform.",
                     "generator_lm_head.")


def mlm_head_available(folder: str | Path) -> bool:
    """Whether the checkpoint in ``folder`` holds masked-LM head weights; reads only the safetensors header."""
    return any(name.startswith(MLM_HEAD_PREFIXES) for name in _weight_names(Path(folder)))


def _weight_names(folder: Path) -> list[str]:
    from ..teachers.loading import weight_shapes

    return list(weight_shapes(folder))


class MlmSampler:
    """A masked-LM and its tokenizer that re-sample chosen words of texts, in batches, without gradients."""

    def __init__(self, model: Any, tokenizer: Any, device: str | torch.device = "cpu", fingerprint: str = "") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.fingerprint = fingerprint  # what the builder keys a generated set by: the same weights, the same draws
        self.mask_id = int(tokenizer.mask_token_id)
        self.cls_id = int(tokenizer.cls_token_id)
        self.sep_id = int(tokenizer.sep_token_id)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        # Room for word pieces between [CLS] and [SEP]; words past it stay as they are.
        self.max_pieces = min(int(getattr(model.config, "max_position_embeddings", 512)), 512) - 2
        self._banned = self._banned_tokens(int(model.config.vocab_size))  # (V,) bool
        self._pieces: dict[str, list[int]] = {}  # word -> its WordPiece ids, each word tokenised once

    @classmethod
    def from_folder(cls, folder: str | Path, device: str | torch.device = "cpu") -> "MlmSampler":
        """Load a masked-LM checkpoint safely: safetensors only, no remote code, no network."""
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from ..teachers.loading import fingerprint_folder
        from ..teachers.safety import check_teacher_folder

        folder = Path(folder)
        check_teacher_folder(folder)
        if not mlm_head_available(folder):
            raise TeacherUnavailable(f"Teacher folder {folder} has no masked-LM head.", code="teacher_invalid",
                                     teacher=str(folder))
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True, local_files_only=True,
                                                     trust_remote_code=False)
        return cls(model, tokenizer, device, fingerprint=fingerprint_folder(folder))

    def _banned_tokens(self, vocab_size: int) -> torch.Tensor:
        """Tokens a replacement may not be: special and unused tokens, continuation pieces ("##x"), and
        punctuation, which would put a comma where a word was."""
        banned = torch.ones(vocab_size, dtype=torch.bool)
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(min(vocab_size, len(self.tokenizer)))))
        special = set(self.tokenizer.all_special_ids)
        for token_id, token in enumerate(tokens):
            banned[token_id] = (token_id in special or token is None or token.startswith("##")
                                or (token.startswith("[") and token.endswith("]")) or not changeable(token))
        return banned.to(self.device)

    def pieces(self, words: Sequence[str]) -> list[list[int]]:
        """WordPiece ids of each word (the tokenizer's normalisation applies), cached by word."""
        new = sorted({word for word in words if word not in self._pieces})
        if new:
            encoded = self.tokenizer(new, add_special_tokens=False)["input_ids"]
            self._pieces.update(zip(new, encoded))
        return [self._pieces[word] for word in words]

    def plan(self, word_lists: Sequence[Sequence[str]], probability: float,
             rng: np.random.Generator) -> list[list[int]]:
        """Which words of each text to re-sample: whole words with ``probability``, at least one a text.

        Only changeable words with at least one piece that fit in the model's length are candidates; a
        text with none gets an empty plan (no variant).
        """
        plans = []
        for words in word_lists:
            slots, used = [], 0
            for index, pieces in enumerate(self.pieces(words)):
                used += len(pieces)
                if used > self.max_pieces:
                    break
                if pieces and changeable(words[index]):
                    slots.append(index)
            plans.append(choose_slots(slots, probability, rng))
        return plans

    @torch.inference_mode()
    def fill(self, word_lists: Sequence[Sequence[str]], plans: Sequence[Sequence[int]], top_k: int,
             rng: np.random.Generator, batch_size: int = 32) -> list[list[str]]:
        """The word lists with every planned word masked and re-drawn from the masked-LM's top ``top_k``."""
        filled = [list(words) for words in word_lists]
        for start in range(0, len(word_lists), batch_size):
            rows = range(start, min(start + batch_size, len(word_lists)))
            self._fill_batch(filled, [(row, plans[row]) for row in rows if plans[row]], top_k, rng)
        return filled

    def _fill_batch(self, filled: list[list[str]], planned: list[tuple[int, Sequence[int]]], top_k: int,
                    rng: np.random.Generator) -> None:
        if not planned:
            return
        sequences: list[list[int]] = []
        masked_at: list[tuple[int, int, int]] = []  # (batch row, position, word index), one entry a masked piece
        originals: list[int] = []  # the piece each masked position held
        for batch_row, (row, chosen) in enumerate(planned):
            chosen_words = set(chosen)
            ids = [self.cls_id]
            for index, pieces in enumerate(self.pieces(filled[row])):
                if len(ids) - 1 + len(pieces) > self.max_pieces:
                    break
                for piece in pieces:
                    if index in chosen_words:
                        masked_at.append((batch_row, len(ids), index))
                        originals.append(piece)
                        ids.append(self.mask_id)
                    else:
                        ids.append(piece)
            sequences.append(ids + [self.sep_id])
        width = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)  # (B, T)
        for batch_row, ids in enumerate(sequences):
            input_ids[batch_row, :len(ids)] = torch.tensor(ids)
            attention_mask[batch_row, :len(ids)] = 1
        batch_rows = torch.tensor([entry[0] for entry in masked_at], device=self.device)
        positions = torch.tensor([entry[1] for entry in masked_at], device=self.device)
        scores = self._masked_scores(input_ids.to(self.device), attention_mask.to(self.device), batch_rows,
                                     positions).float()  # (M, V) one row a masked piece
        scores = scores.masked_fill(self._banned, float("-inf"))
        scores[torch.arange(len(masked_at), device=self.device),
               torch.tensor(originals, device=self.device)] = float("-inf")  # the piece that was there: left out
        top_scores, top_ids = scores.topk(min(top_k, scores.shape[-1]), dim=-1)  # (M, K)
        # A finite floor instead of -inf: a row with fewer than K allowed tokens still has a distribution.
        probabilities = torch.softmax(top_scores.clamp(min=-1e30), dim=-1).cpu().numpy()  # (M, K)
        cumulative = np.cumsum(probabilities, axis=-1)  # (M, K)
        draws = rng.random(len(masked_at))[:, None]  # (M, 1)
        picked = np.minimum((cumulative < draws).sum(axis=-1), cumulative.shape[-1] - 1)  # (M,)
        tokens = self.tokenizer.convert_ids_to_tokens(top_ids.cpu().numpy()[np.arange(len(masked_at)), picked].tolist())
        drawable = torch.isfinite(top_scores[:, 0]).tolist()  # (M,) False: every token of the vocabulary banned
        replacements: dict[tuple[int, int], list[str | None]] = {}
        for (batch_row, _, index), token, ok in zip(masked_at, tokens, drawable):
            replacements.setdefault((planned[batch_row][0], index), []).append(token if ok else None)
        for (row, index), word_tokens in replacements.items():
            if all(token is not None for token in word_tokens):  # else the word stays as it was
                filled[row][index] = "".join(word_tokens)  # type: ignore[arg-type]

    def _masked_scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_rows: torch.Tensor,
                       positions: torch.Tensor) -> torch.Tensor:
        """Vocabulary scores at the masked positions (M, V).

        Where the model's head is one module over the encoder's output (BERT's ``cls``, RoBERTa's
        ``lm_head``), only the masked positions go through it: the vocabulary projection of every
        position would cost a (B, T, V) tensor, 0.7 GB for 32 texts of 256 tokens over BERT's 21k tokens.
        """
        head = next((getattr(self.model, name) for name in ("cls", "lm_head") if hasattr(self.model, name)), None)
        encoder = getattr(self.model, "base_model", None)
        if head is not None and encoder is not None and encoder is not self.model:
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
            return head(hidden[batch_rows, positions])  # (M, V)
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, T, V)
        return logits[batch_rows, positions]

    def sample(self, word_lists: Sequence[Sequence[str]], probability: float, top_k: int, rng: np.random.Generator,
               batch_size: int = 32) -> list[list[str] | None]:
        """``plan`` then ``fill``: the re-sampled words of each text, None where no word could be chosen."""
        plans = self.plan(word_lists, probability, rng)
        filled = self.fill(word_lists, plans, top_k, rng, batch_size)
        return [new if list(new) != list(words) else None for words, new in zip(word_lists, filled)]

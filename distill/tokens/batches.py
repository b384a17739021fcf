"""Batches for a student: row indices grouped by length, and token ids padded into tensors."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .store import TokenStore


def token_lengths(token_ids: Sequence[Sequence[int]]) -> np.ndarray:
    """(N,) int64 length of every row; a TokenStore knows them without reading a token."""
    if isinstance(token_ids, TokenStore):
        return np.asarray(token_ids.lengths, dtype=np.int64)
    return np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))


def length_bucketed_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, *, shuffle: bool,
                            seed: int) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length, to waste little compute on padding.

    With ``shuffle``, rows are shuffled, cut into buckets of ~50 batches, sorted
    by length inside each bucket, and the batch order is shuffled: batches stay
    varied across an epoch but nearly pad-free. Without it, rows are sorted by
    length once (evaluation). The same ``seed`` always gives the same batches.
    Every batch is a view into one (N,) int64 array, so a corpus of millions of
    rows costs 8 bytes a row here, not a Python list per batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")  # (N,)
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    # SeedSequence takes only non-negative entropy; the mask keeps any int seed valid.
    rng = np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)
    order = rng.permutation(len(lengths))  # (N,)
    bucket = batch_size * 50
    for start in range(0, len(order), bucket):
        chunk = order[start:start + bucket]
        chunk[:] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence in this batch: (input_ids (B, T), attention_mask (B, T)), both int64."""
    width = max([len(seq) for seq in sequences] + [1])
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)  # (B, T)
    for row, seq in enumerate(sequences):
        if seq:
            input_ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            attention_mask[row, :len(seq)] = 1
    return input_ids, attention_mask

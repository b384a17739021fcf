"""Teacher labelling and its output cache: logits for every text, computed once, memory-mapped after.

A teacher's outputs are stored on disk, keyed by the teacher's content hash, the texts and
max_length, so a second run over the same data never loads the teacher into memory for
labelling again. A pass killed or cancelled midway continues where it stopped.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # Windows: labelling runs unguarded against a second worker on the same entry
    fcntl = None  # type: ignore[assignment]

from ..atomic import write_text_atomically
from ..corpus.rows import TextView, ordered_digest
from ..progress import STAGE_LABELLING, NullReporter, Reporter, RunCancelled, send_note
from ..tasks.pair import split_pair
from ..training.precision import autocast
from .loading import LoadedTeacher


# A cache entry is written by one pass over the texts in a fixed order (longest first), in batches
# whose composition depends only on the texts and the batch size. Outputs go straight into arrays
# preallocated on disk (a "partial" file beside the entry); every LABELLING_SAVE_EVERY_S, on cancel
# and on failure the arrays are flushed and a small progress file records how many batches they
# hold. A rerun with the same key reopens the partial arrays and labels only the batches after
# that count, so the entry ends bit-identical to one from an uninterrupted pass (on the same
# device). Only the finished entry, renamed into place, is ever served from the cache.

LABELLING_SAVE_EVERY_S = 30.0  # a killed worker redoes at most this much labelling; each save flushes to disk
PROGRESS_FORMAT = 1  # part of every progress file's identity: bump it when the partial layout changes


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts in order; the length prefix keeps ["ab", "c"] apart from ["a", "bc"].

    A row store's text view computes it once and remembers it: a run asks for the digest of its
    training texts several times (cache lookups, labelling, the token store), and each
    computation is a full read of the corpus from disk.
    """
    if isinstance(texts, TextView):
        return texts.digest()
    return ordered_digest(texts)


def cache_key(fingerprint: str, max_length: int, texts: Sequence[str]) -> str:
    return _cache_key_of_digest(fingerprint, max_length, texts_digest(texts))


def _cache_key_of_digest(fingerprint: str, max_length: int, digest: str) -> str:
    return hashlib.sha256(f"{fingerprint}\n{max_length}\n{digest}".encode()).hexdigest()


def teacher_logits(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                   batch_size: int, device: torch.device, reporter: Reporter | None = None,
                   fingerprint: str | None = None, amp: str = "auto") -> tuple[np.ndarray, bool]:
    """Teacher logits (N, C) float32 for ``texts`` in order, memory-mapped from the on-disk cache.

    On a miss the teacher labels the texts a batch at a time into a partial file that is renamed
    into place when complete, so a crash never leaves a half-written entry that a later run would
    trust; a rerun after a kill or cancel continues the partial file instead of starting over.
    ``loaded`` may be None when ``fingerprint`` is given and the entry is known to exist.
    ``amp`` is the labelling pass's precision (labelling_precision.choose_labelling_precision): the
    entry's key does not depend on it, since bf16 is only chosen where it gives float32's answers.
    Returns (logits, cache hit).
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_logits needs a loaded teacher or its fingerprint")
    path = Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r"), True
    if loaded is None:
        raise ValueError("teacher outputs are not cached and no teacher was given")
    with labelling_lock(path, path, reporter):
        if path.is_file():  # another worker finished it while this one waited
            return np.load(path, mmap_mode="r"), True
        _label_logits(loaded, texts, max_length, batch_size, device, reporter, path, amp)
    return np.load(path, mmap_mode="r"), False


def cached_logits_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path) -> bool:
    return (Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy").is_file()


def _label_logits(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                  device: torch.device, reporter: Reporter, path: Path, amp: str = "auto") -> None:
    """Fill the cache entry ``path``, continuing a partial pass when one was left for the same batches."""
    model, tokenizer = loaded.model, loaded.tokenizer
    shape = (len(texts), int(model.config.num_labels))
    partial = path.with_name(f".{path.stem}.partial.npy")
    progress = LabellingProgress(path.with_name(f".{path.stem}.progress.json"),
                         {"rows": shape[0], "classes": shape[1], "batch_size": batch_size})
    done = progress.batches_done()
    logits = reopen_partial(partial, shape, np.float32) if done else None  # (N, C)
    if logits is None:
        done = 0
        progress.remove()  # before the fresh file: an old count must never vouch for its zeros
        logits = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
    order = length_order(texts)  # (N,)

    def label(rows: np.ndarray, batch_texts: list[str]) -> None:
        encoded = tokenize_batch(tokenizer, batch_texts, max_length, device)  # input_ids (B, T)
        logits[rows] = model(**encoded).logits.float().cpu().numpy()  # (B, C)

    with inference(model, device, amp):
        run_labelling(texts, order, batch_size, done, label, lambda batches: progress.save(batches, [logits]),
                       reporter)
    # Not distill.atomic: the partial file was filled in place over many batches (and maybe several
    # sessions) through a memory map; only its final rename into the cache is the atomic step.
    os.replace(partial, path)
    progress.remove()


class LabellingProgress:
    """How many batches of a labelling pass are on disk, in a small JSON file replaced atomically.

    ``identity`` holds what the batches depend on beyond the cache key (the batch size decides which
    texts share a batch, and so the exact floats); a file written for another identity counts as none.
    """

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = {**identity, "format": PROGRESS_FORMAT}

    def batches_done(self) -> int:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        return int(saved["batches_done"]) if saved.get("identity") == self.identity else 0

    def save(self, batches_done: int, arrays: Sequence[np.memmap | None]) -> None:
        for array in arrays:
            if array is not None:
                array.flush()  # the outputs reach the disk before the count that vouches for them
        write_text_atomically(self.path, json.dumps({"identity": self.identity, "batches_done": batches_done}),
                              durable=True)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def reopen_partial(path: Path, shape: tuple[int, ...], dtype: Any) -> np.memmap | None:
    """The partial array at ``path`` opened for writing on, or None when it is missing or not of this shape."""
    try:
        array = np.lib.format.open_memmap(path, mode="r+")
    except (OSError, ValueError):
        return None
    return array if array.shape == shape and array.dtype == np.dtype(dtype) else None


@contextlib.contextmanager
def labelling_lock(entry: Path, done: Path, reporter: Reporter,
                   waiting_note: str = "teacher_labelling_waiting") -> Iterator[None]:
    """One labeller per cache entry: two workers on the same texts would write into the same partial files.

    ``flock`` is dropped by the kernel when its holder dies, so a killed worker leaves no stale lock.
    The lock file goes once ``done`` exists; a worker still waiting on it then finds the entry complete.
    ``waiting_note`` (a progress.NOTE_CODES code) is said when another worker holds the lock.
    """
    lock_path = entry.with_name(f".{entry.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        if fcntl is not None:  # no flock on Windows: there, concurrent labellers of one entry are not guarded
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                send_note(reporter, waiting_note)
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError:
                pass  # a filesystem without locks (some FUSE mounts): label unguarded rather than not at all
        try:
            yield
        finally:
            if done.exists():
                lock_path.unlink(missing_ok=True)


def length_order(texts: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
    """``rows`` (default: all) longest text first, ties in row order, so batches of alike lengths pad little.

    One streaming read of the texts; a pure function of them, so a resumed pass rebuilds the batches
    of the pass it continues.
    """
    if rows is None:
        lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))  # (N,)
        return np.argsort(-lengths, kind="stable")
    lengths = np.fromiter((len(texts[int(row)]) for row in rows), dtype=np.int64, count=len(rows))  # (R,)
    return rows[np.argsort(-lengths, kind="stable")]


def teacher_encode(tokenizer: Any, texts: list[str], max_length: int, **kwargs: Any) -> Any:
    """The teacher tokenizer's call on texts; joined pairs (tasks/pair.py) go in as two texts,
    ``[CLS] a [SEP] b [SEP]``, the longer one cut first so that both fit in ``max_length``."""
    halves = [split_pair(text) for text in texts]
    if halves and halves[0][1] is not None:
        return tokenizer([first for first, _ in halves], [second or "" for _, second in halves],
                         truncation="longest_first", max_length=max_length, **kwargs)
    return tokenizer(texts, truncation=True, max_length=max_length, **kwargs)


def tokenize_batch(tokenizer: Any, texts: list[str], max_length: int, device: torch.device) -> Any:
    return teacher_encode(tokenizer, texts, max_length, padding=True, return_tensors="pt").to(device)


@contextlib.contextmanager
def inference(model: Any, device: torch.device, amp: str) -> Iterator[None]:
    """The model in eval mode on ``device`` without gradients; its training flag restored after."""
    was_training = model.training
    model.eval()
    model.to(device)
    try:
        with torch.inference_mode(), autocast(device, amp):
            yield
    finally:
        model.train(was_training)


def run_labelling(texts: Sequence[str], order: np.ndarray, batch_size: int, first_batch: int,
                   label_batch: Callable[[np.ndarray, list[str]], None], save: Callable[[int], None],
                   reporter: Reporter) -> None:
    """Call ``label_batch(rows, texts of rows)`` for each batch of ``order`` from ``first_batch`` on.

    ``save(batches_done)`` makes the outputs so far durable; it runs every LABELLING_SAVE_EVERY_S and
    on the way out, finished, cancelled or failed, so a rerun continues where this pass stopped.
    """
    rows_total = len(order)
    batches = math.ceil(rows_total / batch_size)
    done = first_batch
    if first_batch:
        send_note(reporter, "teacher_labelling_resuming", done=min(first_batch * batch_size, rows_total),
                  total=rows_total)
    start = last_save = time.monotonic()
    try:
        for number in range(first_batch, batches):
            if reporter.should_stop():
                raise RunCancelled()
            rows = order[number * batch_size:(number + 1) * batch_size]  # (B,)
            label_batch(rows, [texts[int(row)] for row in rows])
            done = number + 1
            now = time.monotonic()
            labelled = min(done * batch_size, rows_total)
            per_second = (done - first_batch) * batch_size / max(now - start, 1e-9)
            reporter.on_progress(STAGE_LABELLING, {"done": labelled, "total": rows_total,
                                                   "eta_s": (rows_total - labelled) / per_second})
            if now - last_save >= LABELLING_SAVE_EVERY_S:
                save(done)
                last_save = now
    finally:
        save(done)


def logits_in_memory(model: Any, tokenizer: Any, texts: Sequence[str], order: np.ndarray, max_length: int,
                    batch_size: int, device: torch.device, amp: str) -> np.ndarray:
    """Logits (len(order), C) float32 in memory, row k for ``texts[order[k]]``; for dev sets, not corpora."""
    out = np.zeros((len(order), model.config.num_labels), dtype=np.float32)  # (R, C)
    with inference(model, device, amp):
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]  # (B,)
            encoded = tokenize_batch(tokenizer, [texts[int(row)] for row in rows], max_length, device)  # input_ids (B, T)
            out[begin:begin + len(rows)] = model(**encoded).logits.float().cpu().numpy()  # (B, C)
    return out


"""Growing the transfer set: distinct variants of the training texts, written to disk with where each came from.

``generate_transfer_rows`` walks a seeded shuffle of the sources (a fresh shuffle each pass) and the enabled
methods in turn, one attempt a (source, method), until it has ``target_rows`` distinct rows or has made
ATTEMPTS_PER_ROW attempts a row wanted. A variant is kept only if its row key (the task's dedup key, as the
corpus row store computes it) is neither a corpus row's (train, dev or test: a variant of a dev text would
leak it) nor an earlier variant's. Teacher-MLM attempts wait in a batch for one forward pass.

The folder holds texts.utf8 + texts.offsets.npy (a ``StringColumn``: texts read from disk one at a time),
sources.npy, methods.npy and, written last, meta.json. It is built in a temp folder beside ``directory`` and
renamed into place, so a cancelled or killed run leaves nothing half-written; a folder whose meta.json holds
the same key and inputs is reused as it is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_text_atomically
from ..config import TRANSFER_METHODS, TransferConfig
from ..corpus.examples import Example
from ..corpus.rows import StringColumn, StringColumnWriter, ordered_digest, row_key
from ..progress import STAGE_GENERATING, NullReporter, Reporter, RunCancelled, send_note
from ..tasks import Task
from .generators import PosVocabulary, mask_words, ngram_window, replace_by_pos, segment, tag

if TYPE_CHECKING:
    from .mlm import MlmSampler

ATTEMPTS_PER_ROW = 5  # attempts allowed a row wanted: beyond this the corpus has run out of new variants
POS_VOCABULARY_TEXTS = 10_000  # sources the POS vocabulary is counted from; more add rare words at ~0.5 ms a text
CHECK_EVERY = 256  # attempts between progress reports and stop polls: cheap, yet many a second
FORMAT_VERSION = 1  # bump when a generator changes what it makes from the same inputs: old folders regenerate


@dataclass
class GeneratedRows:
    """A generated transfer set on disk: texts and, per row, the source it came from and the method."""

    texts: Sequence[str]  # (N,) read from disk on access
    sources: np.ndarray  # (N,) int64: index into the source texts
    methods: np.ndarray  # (N,) int8: index into TRANSFER_METHODS
    attempts: int  # (source, method) attempts made, kept or not
    target_rows: int
    skipped_methods: dict[str, str] = field(default_factory=dict)  # method -> note code: why it was not used
    directory: Path | None = None

    def __len__(self) -> int:
        return len(self.sources)

    def counts(self) -> dict[str, int]:
        """Rows made by each method, every method named (0 for one unused)."""
        made = np.bincount(self.methods.astype(np.int64), minlength=len(TRANSFER_METHODS))
        return {method: int(made[index]) for index, method in enumerate(TRANSFER_METHODS)}


def load_generated_rows(directory: str | Path) -> GeneratedRows | None:
    """The set in ``directory``, or None when it holds no finished one (meta.json is written last)."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        sources = np.load(directory / "sources.npy")
        methods = np.load(directory / "methods.npy")
        offsets = np.load(directory / "texts.offsets.npy")
    except (OSError, ValueError):
        return None
    return GeneratedRows(texts=StringColumn(directory / "texts.utf8", offsets), sources=sources, methods=methods,
                         attempts=int(meta["attempts"]), target_rows=int(meta["target_rows"]),
                         skipped_methods=dict(meta.get("skipped_methods", {})), directory=directory)


def generate_transfer_rows(source_texts: Sequence[str], cfg: TransferConfig, *, task: Task, exclude_keys: np.ndarray,
                           directory: Path, mlm: MlmSampler | None = None, reporter: Reporter | None = None,
                           key: str = "") -> GeneratedRows:
    """Up to ``cfg.target_rows`` distinct variants of ``source_texts`` by ``cfg.methods``, in ``directory``.

    ``cfg`` is resolved (``TransferConfig.resolved``). ``exclude_keys`` (KEY_DTYPE) are the row keys of every
    corpus row. Teacher-MLM runs only with a sampler; without one it is skipped and said so. ``key`` names
    what the caller built the set from; a finished folder with the same key (and the same inputs: sources,
    excluded rows, settings, sampler weights) is returned as it is. Sends notes: how many rows each method
    made, that MLM was skipped, that the corpus ran out of variants.
    """
    reporter = reporter or NullReporter()
    directory = Path(directory)
    inputs = _inputs_digest(source_texts, cfg, exclude_keys, mlm)
    existing = _reusable(directory, key, inputs)
    if existing is not None:
        _send_notes(reporter, existing)
        return existing
    building = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        meta = _generate(source_texts, cfg, task, exclude_keys, building, mlm, reporter)
        write_text_atomically(building / "meta.json", json.dumps({"key": key, "inputs": inputs, **meta}, indent=2))
        _move_into_place(building, directory)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    rows = load_generated_rows(directory)
    assert rows is not None  # just written
    _send_notes(reporter, rows)
    return rows


def _generate(source_texts: Sequence[str], cfg: TransferConfig, task: Task, exclude_keys: np.ndarray,
              building: Path, mlm: MlmSampler | None, reporter: Reporter) -> dict[str, Any]:
    """Generate into ``building`` (texts, sources.npy, methods.npy); return meta.json's facts."""
    target = max(int(cfg.target_rows), 0)
    skipped = {"mlm": "transfer_mlm_no_head"} if "mlm" in cfg.methods and mlm is None else {}
    methods = [method for method in TRANSFER_METHODS if method in cfg.methods and method not in skipped]
    rng = np.random.default_rng(cfg.seed)
    sources = _Sources(source_texts)
    exclude_bytes = np.ascontiguousarray(exclude_keys).tobytes()
    seen = {exclude_bytes[start:start + 16] for start in range(0, len(exclude_bytes), 16)}
    writer = StringColumnWriter(building / "texts.utf8")
    kept_sources, kept_methods = array("q"), array("b")
    started = time.monotonic()

    def keep(source: int, method: str, text: str | None) -> None:
        if not text or not text.strip() or len(kept_sources) >= target:
            return
        row = row_key(task, Example(text=text, label=None, line=0))
        if row in seen:
            return
        seen.add(row)
        writer.append(text)
        kept_sources.append(source)
        kept_methods.append(TRANSFER_METHODS.index(method))

    def report() -> None:
        if reporter.should_stop():
            raise RunCancelled()
        done = len(kept_sources)
        elapsed = time.monotonic() - started
        eta = (target - done) * elapsed / done if done else 0.0
        reporter.on_progress(STAGE_GENERATING, {"done": done, "total": target, "eta_s": round(eta, 1)})

    attempts = 0
    pending: list[int] = []  # sources whose teacher-MLM attempt waits for a full batch

    def flush_mlm() -> None:
        assert mlm is not None
        word_lists = [sources.words(source) for source in pending]
        for source, words in zip(pending, mlm.sample(word_lists, cfg.mlm_probability, cfg.mlm_top_k, rng,
                                                     cfg.mlm_batch_size)):
            keep(source, "mlm", None if words is None else "".join(words))
        pending.clear()
        report()

    try:
        if target and methods and len(source_texts):
            if "pos" in methods:
                sources.build_pos_vocabulary(rng)
            report()
            order, position = rng.permutation(len(source_texts)), 0
            while len(kept_sources) < target:
                if attempts >= ATTEMPTS_PER_ROW * target:
                    if not pending:
                        break
                    flush_mlm()
                    continue
                if position == len(order):
                    order, position = rng.permutation(len(source_texts)), 0  # a fresh pass, in a fresh order
                source, method = int(order[position]), methods[attempts % len(methods)]
                position += 1
                attempts += 1
                if method == "mlm":
                    pending.append(source)
                    if len(pending) >= min(cfg.mlm_batch_size, target - len(kept_sources)):
                        flush_mlm()
                else:
                    keep(source, method, sources.variant(method, source, cfg, rng))
                if attempts % CHECK_EVERY == 0:
                    report()
        done = len(kept_sources)
        reporter.on_progress(STAGE_GENERATING, {"done": done, "total": done, "eta_s": 0.0})
    except BaseException:
        writer.abandon()
        raise
    column = writer.close()
    np.save(building / "texts.offsets.npy", column.offsets)
    np.save(building / "sources.npy", np.frombuffer(kept_sources, dtype=np.int64) if kept_sources
            else np.zeros(0, np.int64))
    np.save(building / "methods.npy", np.frombuffer(kept_methods, dtype=np.int8) if kept_methods
            else np.zeros(0, np.int8))
    counts = np.bincount(np.frombuffer(kept_methods, dtype=np.int8).astype(np.int64) if kept_methods
                         else np.zeros(0, np.int64), minlength=len(TRANSFER_METHODS))
    return {"rows": len(kept_sources), "target_rows": target, "attempts": attempts,
            "counts": {method: int(counts[index]) for index, method in enumerate(TRANSFER_METHODS)},
            "skipped_methods": skipped, "seconds": round(time.monotonic() - started, 3)}


class _Sources:
    """The source texts, each cut into words (and tagged) once, on first use."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self._words: dict[int, list[str]] = {}
        self._tagged: dict[int, list[tuple[str, str]]] = {}
        self.pos_vocabulary: PosVocabulary | None = None

    def words(self, source: int) -> list[str]:
        words = self._words.get(source)
        if words is None:
            words = self._words[source] = segment(self.texts[source])
        return words

    def tagged(self, source: int) -> list[tuple[str, str]]:
        tagged = self._tagged.get(source)
        if tagged is None:
            tagged = self._tagged[source] = tag(self.texts[source])
        return tagged

    def build_pos_vocabulary(self, rng: np.random.Generator) -> None:
        """Count words by tag over every source, or over POS_VOCABULARY_TEXTS of them drawn by ``rng``."""
        count = len(self.texts)
        chosen = range(count) if count <= POS_VOCABULARY_TEXTS else np.sort(
            rng.choice(count, POS_VOCABULARY_TEXTS, replace=False)).tolist()
        self.pos_vocabulary = PosVocabulary.build(self.tagged(int(source)) for source in chosen)

    def variant(self, method: str, source: int, cfg: TransferConfig, rng: np.random.Generator) -> str | None:
        if method == "mask":
            return mask_words(self.words(source), cfg.mask_probability, rng)
        if method == "ngram":
            return ngram_window(self.words(source), cfg.ngram_min_words, cfg.ngram_max_words, rng)
        if method == "pos":
            assert self.pos_vocabulary is not None
            replaced = replace_by_pos(self.tagged(source), self.pos_vocabulary, cfg.pos_probability, rng)
            return None if replaced is None else "".join(word for word, _ in replaced)
        raise ValueError(f"unknown transfer method {method!r}")


def _inputs_digest(source_texts: Sequence[str], cfg: TransferConfig, exclude_keys: np.ndarray,
                   mlm: MlmSampler | None) -> str:
    """sha256 of everything the generated rows depend on besides the caller's key."""
    digest = getattr(source_texts, "digest", None)  # a RowView's texts remember theirs
    settings = {name: getattr(cfg, name) for name in (
        "target_rows", "methods", "mask_probability", "pos_probability", "ngram_min_words", "ngram_max_words",
        "mlm_probability", "mlm_top_k", "mlm_batch_size", "seed")}
    parts = {"format": FORMAT_VERSION, "settings": settings,
             "sources": digest() if callable(digest) else ordered_digest(source_texts),
             "exclude": hashlib.sha256(np.unique(exclude_keys).tobytes()).hexdigest(),
             "mlm": None if mlm is None else mlm.fingerprint}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _reusable(directory: Path, key: str, inputs: str) -> GeneratedRows | None:
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("inputs") != inputs:
        return None
    return load_generated_rows(directory)


def _move_into_place(building: Path, directory: Path) -> None:
    """Rename the finished folder onto ``directory``; an old set there is moved aside first, then removed."""
    old = directory.with_name(f".{directory.name}.{os.getpid()}.old")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(building, directory)
    shutil.rmtree(old, ignore_errors=True)


def _send_notes(reporter: Reporter, rows: GeneratedRows) -> None:
    if "mlm" in rows.skipped_methods:
        send_note(reporter, "transfer_mlm_no_head")
    if len(rows) < rows.target_rows:
        send_note(reporter, "transfer_ran_out", count=len(rows), target=rows.target_rows)
    if len(rows):
        send_note(reporter, "transfer_generated", count=len(rows), **rows.counts())  # one count per method: translatable

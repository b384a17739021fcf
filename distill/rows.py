"""Corpus rows on disk, deduplicated and split without holding the texts in memory.

A corpus may be larger than RAM, so rows are streamed once from the reader into
a ``RowStore``: the texts go to one UTF-8 file read back through ``mmap``, and
only fixed-size facts stay in memory, as numpy arrays: a 16-byte key of the
task's dedup key, the label id, the line number and the text's offset (36 bytes
a row, whatever the length of the text). Deduplication, label voting and the train/dev/test
split are array operations on those keys, and a split is a ``RowView``: a
``Sequence[Example]`` over the store whose ``texts`` are a lazy
``Sequence[str]``, so the teacher, the vocabulary and the token stores all read
the texts one at a time, from disk.

Keys are blake2b-128 digests: the chance that two different texts share one is
about n² / 2¹²⁹, i.e. nil for any corpus that fits on a disk.
"""
from __future__ import annotations

import functools
import hashlib
import json
import mmap
import shutil
import tempfile
import weakref
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import Example, RowSequence, SkippedRows, Task, get_task
from .errors import ConfigError, CorpusError

KEY_DTYPE = np.dtype("V16")  # a blake2b-128 digest, compared as raw bytes by np.unique / np.isin
NO_LABEL = -1  # label id of an unlabeled row
SKIPPED_SHOWN = 20  # skipped rows listed in full in the report; the rest are counted (and the web lists all)


# --------------------------------------------------------------------------- strings on disk


class StringColumn(RowSequence[str]):
    """Many strings as one UTF-8 file plus end offsets: row i is ``data[offsets[i]:offsets[i + 1]]``."""

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self.path = path
        self.offsets = offsets  # (N + 1,) int64
        size = int(offsets[-1])
        # mmap cannot map an empty file; a column of empty strings has nothing to map.
        if size:
            with path.open("rb") as handle:
                self._data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self._data = b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> str:
        return self._data[self.offsets[index]:self.offsets[index + 1]].decode("utf-8")


class _StringColumnWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("wb")
        self._ends = array("q")
        self._size = 0

    def append(self, text: str) -> None:
        encoded = text.encode("utf-8")
        self._handle.write(encoded)
        self._size += len(encoded)
        self._ends.append(self._size)

    def abandon(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> StringColumn:
        self._handle.close()
        offsets = np.zeros(len(self._ends) + 1, dtype=np.int64)
        offsets[1:] = np.frombuffer(self._ends, dtype=np.int64) if len(self._ends) else []
        return StringColumn(self.path, offsets)


class _OptionalColumnWriter:
    """A column most corpora never fill (pairs, tags): no file and no work a row until a value appears."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows_before = 0  # rows seen before the first value; they are written as empty strings
        self._writer: _StringColumnWriter | None = None

    def append(self, text: str | None) -> None:
        if self._writer is None:
            if text is None:
                self._rows_before += 1
                return
            self._writer = _StringColumnWriter(self.path)
            for _ in range(self._rows_before):
                self._writer.append("")
        self._writer.append(text or "")

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.abandon()

    def close(self) -> StringColumn | None:
        return None if self._writer is None else self._writer.close()


# --------------------------------------------------------------------------- one file's rows


@dataclass
class RowStore:
    """Every row of one corpus file, in file order (duplicates included)."""

    path: str  # the corpus file, for messages
    texts: StringColumn
    pairs: StringColumn | None  # second texts of the pair task; None when no row has one
    tags: StringColumn | None  # JSON tag lists of the tagging task; None when no row has them
    keys: np.ndarray  # (N,) KEY_DTYPE: digest of the task's dedup key
    label_ids: np.ndarray  # (N,) int32: index into the label list the store was written with; NO_LABEL = none
    lines: np.ndarray  # (N,) int64: 1-based line where the row starts

    def __len__(self) -> int:
        return len(self.lines)


def write_row_store(examples: Iterable[Example], directory: Path, task: Task, label_names: dict[str, int],
                    path: str) -> RowStore:
    """Stream ``examples`` into a ``RowStore`` in ``directory``.

    ``label_names`` maps each label seen so far to a provisional id and grows in
    place, so the stores of one corpus's train, dev and test files share ids.
    """
    directory.mkdir(parents=True, exist_ok=True)
    texts = _StringColumnWriter(directory / "texts.utf8")
    pairs = _OptionalColumnWriter(directory / "pairs.utf8")
    tags = _OptionalColumnWriter(directory / "tags.json.utf8")
    keys = bytearray()
    label_ids = array("i")
    lines = array("q")
    try:
        for example in examples:
            texts.append(example.text)
            pairs.append(example.text_pair)
            tags.append(None if example.tags is None else json.dumps(list(example.tags), ensure_ascii=False))
            keys += hashlib.blake2b(task.dedup_key(example).encode("utf-8"), digest_size=16).digest()
            for label in task.labels_of(example):
                label_names.setdefault(label, len(label_names))
            label_ids.append(NO_LABEL if example.label is None
                             else label_names.setdefault(example.label, len(label_names)))
            lines.append(example.line)
    except BaseException:
        for writer in (texts, pairs, tags):
            writer.abandon()  # a bad row ends the read: close the files now, not at garbage collection
        raise
    return RowStore(
        path=path, texts=texts.close(), pairs=pairs.close(), tags=tags.close(),
        keys=np.frombuffer(keys, dtype=KEY_DTYPE),  # shares the bytearray's memory: no copy
        label_ids=np.frombuffer(label_ids, dtype=np.int32).copy() if len(label_ids) else np.zeros(0, np.int32),
        lines=np.frombuffer(lines, dtype=np.int64).copy() if len(lines) else np.zeros(0, np.int64))


# --------------------------------------------------------------------------- a selection of rows


class RowView(Sequence[Example]):
    """Some rows of a store, each with its own (voted) label: a lazy ``Sequence[Example]``.

    ``label_ids`` index ``label_names``; they may differ from the store's labels,
    since duplicates vote on the label of the row that is kept.
    """

    def __init__(self, store: RowStore, rows: np.ndarray, label_ids: np.ndarray, label_names: Sequence[str]) -> None:
        self.store = store
        self.rows = rows  # (N,) int64 indices into the store
        self.label_ids = label_ids  # (N,) int32, NO_LABEL = unlabeled
        self.label_names = list(label_names)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = int(self.rows[index])
        label_id = int(self.label_ids[index])
        store = self.store
        tags = store.tags[row] if store.tags is not None else ""
        return Example(text=store.texts[row], label=None if label_id == NO_LABEL else self.label_names[label_id],
                       line=int(store.lines[row]), text_pair=(store.pairs[row] or None) if store.pairs else None,
                       tags=tuple(json.loads(tags)) if tags else None)

    @functools.cached_property
    def texts(self) -> "TextView":
        """The texts alone, read from disk on access; one view per split, so its digest is computed once."""
        return TextView(self.store.texts, self.rows)

    @property
    def keys(self) -> np.ndarray:
        return self.store.keys[self.rows]


def ordered_digest(texts: Iterable[str]) -> str:
    """sha256 of the texts in order; the length prefix keeps ["ab", "c"] apart from ["a", "bc"]."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


class TextView(Sequence[str]):
    """The texts of some rows of a store, decoded one at a time."""

    def __init__(self, column: StringColumn, rows: np.ndarray) -> None:
        self.column = column
        self.rows = rows
        self._digest: str | None = None

    def digest(self) -> str:
        """``ordered_digest`` of these texts, computed on first use (a full read) and then remembered."""
        if self._digest is None:
            self._digest = ordered_digest(self)
        return self._digest

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.column[int(row)] for row in self.rows[index]]
        return self.column[int(self.rows[index])]

    def __iter__(self) -> Iterator[str]:
        for row in self.rows:
            yield self.column.row(int(row))


# --------------------------------------------------------------------------- dedup and splits


@dataclass
class CorpusReport:
    rows: int = 0  # rows read, over every given file
    distinct_texts: int = 0  # distinct normalised texts kept in train + dev + test
    duplicate_rows: int = 0  # rows dropped because the same text came earlier in the same file
    conflicting_texts: int = 0  # texts seen with more than one label (majority kept; ties unlabeled)
    labeled: int = 0  # distinct texts with a label, after dedup
    unlabeled: int = 0  # distinct texts without one (including label ties)
    label_counts: dict[str, int] = field(default_factory=dict)  # distinct labeled texts per label, all splits
    train: int = 0
    dev: int = 0
    test: int = 0
    dev_overlap_removed: int = 0  # train texts dropped because they are also in the given dev file
    test_overlap_removed: int = 0  # train texts dropped because they are also in the given test file
    skipped: dict[str, Any] = field(default_factory=dict)  # data.SkippedRows.to_dict() of every file; {} = none
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Splits:
    train: RowView
    dev: RowView
    test: RowView
    report: CorpusReport
    labels: list[str]  # class names in index order: the sorted labels left in train, dev and test
    _cleanup: Any = field(default=None, repr=False)  # removes a temporary store folder once unreferenced

    def digest(self) -> str:
        """sha256 of which distinct texts are in train, dev and test: equal digests, equal splits."""
        digest = hashlib.sha256()
        for part in (self.train, self.dev, self.test):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(np.sort(part.keys).tobytes())
        return digest.hexdigest()


@dataclass
class _Selection:
    """Rows of one store chosen so far, with their labels (provisional ids) and keys."""

    store: RowStore
    rows: np.ndarray  # (N,) int64
    label_ids: np.ndarray  # (N,) int32
    keys: np.ndarray  # (N,) KEY_DTYPE

    def take(self, mask_or_index: np.ndarray) -> "_Selection":
        return _Selection(self.store, self.rows[mask_or_index], self.label_ids[mask_or_index],
                          self.keys[mask_or_index])

    def relabel(self, remap: np.ndarray) -> "_Selection":
        return _Selection(self.store, self.rows, remap[self.label_ids], self.keys)


@dataclass
class _Deduped:
    kept: _Selection
    duplicates: int
    conflicting: int
    ties: int


def _deduplicate(store: RowStore, label_count: int) -> _Deduped:
    """One row per key, in file order; the first occurrence's text and line are kept.

    Labels vote: the most frequent label wins; a tie leaves the text unlabeled
    rather than guessing. All of it is sorting and counting over (N,) arrays.
    """
    if not len(store):
        empty = _Selection(store, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, KEY_DTYPE))
        return _Deduped(empty, 0, 0, 0)
    # np.unique sorts stably when asked for first indices, so first_rows are first occurrences.
    unique_keys, first_rows, group_of_row = np.unique(store.keys, return_index=True, return_inverse=True)
    groups = len(unique_keys)
    labeled = store.label_ids >= 0
    # One entry per (group, label) pair with its number of rows; sorted by group, then label.
    pairs, votes = np.unique(group_of_row[labeled].astype(np.int64) * label_count + store.label_ids[labeled],
                             return_counts=True)
    pair_group, pair_label = pairs // label_count, (pairs % label_count).astype(np.int32)
    group_label = np.full(groups, NO_LABEL, dtype=np.int32)
    conflicting = ties = 0
    if len(pairs):
        segment_starts = np.flatnonzero(np.r_[True, pair_group[1:] != pair_group[:-1]])
        labels_per_group = np.diff(np.r_[segment_starts, len(pairs)])
        top_votes = np.maximum.reduceat(votes, segment_starts)
        is_top = votes == np.repeat(top_votes, labels_per_group)
        tops_per_group = np.add.reduceat(is_top.astype(np.int64), segment_starts)
        sole_winner = is_top & np.repeat(tops_per_group == 1, labels_per_group)
        group_label[pair_group[sole_winner]] = pair_label[sole_winner]
        conflicting = int((labels_per_group > 1).sum())
        ties = int((tops_per_group > 1).sum())
    in_file_order = np.argsort(first_rows, kind="stable")
    kept = _Selection(store, first_rows[in_file_order].astype(np.int64), group_label[in_file_order],
                      unique_keys[in_file_order])
    return _Deduped(kept, len(store) - groups, conflicting, ties)


def prepare_splits(train: Iterable[Example], dev: Iterable[Example] | None, test: Iterable[Example] | None, *,
                   dev_fraction: float, test_fraction: float, seed: int, task: str = "single",
                   path: str = "train", directory: str | Path | None = None) -> Splits:
    """Deduplicate, then split (or de-overlap) train/dev/test so scores measure generalisation.

    Each input is streamed once into a row store under ``directory`` (a temporary
    folder, removed once the splits are gone, when None). An input with a
    ``skipped`` attribute (a ``CorpusStream``) has the rows it left out reported
    in ``report.skipped`` and the warnings. Without a dev/test
    file, labeled distinct texts are split per label with ``seed`` (unlabeled ones
    always stay in train). With one, every train text that also appears in it is
    removed from train. ``path`` names the training file in errors.
    """
    if not 0 <= dev_fraction < 1 or not 0 <= test_fraction < 1 or dev_fraction + test_fraction >= 1:
        raise ConfigError(f"dev_fraction + test_fraction must be below 1 (got {dev_fraction} + {test_fraction})",
                          code="bad_split_fractions", dev_fraction=dev_fraction, test_fraction=test_fraction)
    reader_task = get_task(task)
    temporary = directory is None
    directory = Path(tempfile.mkdtemp(prefix="cld-rows-") if directory is None else directory)
    try:
        splits = _prepare(train, dev, test, dev_fraction, test_fraction, seed, reader_task, path, directory)
    except BaseException:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    if temporary:
        # Views still open after this keep reading: their files stay mapped after the folder is removed.
        splits._cleanup = weakref.finalize(splits, shutil.rmtree, str(directory), True)
    return splits


def _prepare(train: Iterable[Example], dev: Iterable[Example] | None, test: Iterable[Example] | None,
             dev_fraction: float, test_fraction: float, seed: int, task: Task, path: str, directory: Path) -> Splits:
    label_names: dict[str, int] = {}
    stores = {"train": write_row_store(train, directory / "train", task, label_names, path)}
    for name, given in (("dev", dev), ("test", test)):
        if given is not None:
            stores[name] = write_row_store(given, directory / name, task, label_names, name)
    label_count = max(len(label_names), 1)
    parts = {name: _deduplicate(store, label_count) for name, store in stores.items()}
    report = CorpusReport(rows=sum(len(store) for store in stores.values()))
    _report_skipped(report, [getattr(source, "skipped", None) for source in (train, dev, test)])
    report.duplicate_rows = sum(part.duplicates for part in parts.values())
    report.conflicting_texts = sum(part.conflicting for part in parts.values())
    ties = sum(part.ties for part in parts.values())

    train_rows = parts["train"].kept
    held_out: dict[str, _Selection] = {}
    for name in ("dev", "test"):
        if name in parts:
            given = parts[name].kept
            unlabeled = int((given.label_ids == NO_LABEL).sum())
            if unlabeled:
                report.warnings.append(
                    f"{unlabeled:,} {name} rows have no label and were set aside, since they cannot be scored.")
            held_out[name] = given.take(given.label_ids != NO_LABEL)
            before = len(train_rows.rows)
            train_rows = train_rows.take(~np.isin(train_rows.keys, held_out[name].keys))
            setattr(report, f"{name}_overlap_removed", before - len(train_rows.rows))
    # Class ids become indices into the sorted names of the labels that survived voting (before the
    # split, so it walks the labels in name order whatever order the file showed them in).
    names_by_id = sorted(label_names, key=label_names.get)
    present = np.unique(np.concatenate([part.label_ids for part in (train_rows, *held_out.values())]))
    labels = sorted(names_by_id[i] for i in present if i != NO_LABEL)
    remap = np.full(label_count + 1, NO_LABEL, dtype=np.int32)  # the last slot maps NO_LABEL (index -1)
    for index, label in enumerate(labels):
        remap[label_names[label]] = index
    train_rows = train_rows.relabel(remap)
    held_out = {name: part.relabel(remap) for name, part in held_out.items()}
    missing = {name: fraction for name, fraction in (("dev", dev_fraction), ("test", test_fraction))
               if name not in held_out}
    if missing:
        train_rows, carved = _split_off(train_rows, missing, seed)
        held_out.update(carved)

    def view(part: _Selection) -> RowView:
        return RowView(part.store, part.rows, part.label_ids, labels)

    splits = Splits(train=view(train_rows), dev=view(held_out["dev"]), test=view(held_out["test"]),
                    report=report, labels=labels)
    _check_labels(splits, path)
    _fill_counts(splits)
    _write_warnings(report, ties, splits)
    return splits


def _report_skipped(report: CorpusReport, skipped: list[SkippedRows | None]) -> None:
    """Merge the skipped rows of the train/dev/test readers into the report, with one English warning."""
    present = [rows for rows in skipped if rows is not None and rows.total]
    if not present:
        return
    merged = SkippedRows()
    for rows in present:
        merged.by_reason.update(rows.by_reason)
        merged.rows.extend(rows.rows[:SKIPPED_SHOWN])
    report.skipped = merged.to_dict(first=SKIPPED_SHOWN)
    report.warnings.append(merged.summary(report.rows))


def _split_off(selection: _Selection, fractions: dict[str, float],
               seed: int) -> tuple[_Selection, dict[str, _Selection]]:
    """Move a seeded share of each label's distinct texts into each named split.

    Per-label shares keep rare classes present in dev/test; ordering by key
    before shuffling makes the split depend only on the set of texts and the seed.
    """
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[np.ndarray]] = {name: [] for name in fractions}
    taken = np.zeros(len(selection.rows), dtype=bool)
    for label in np.unique(selection.label_ids[selection.label_ids != NO_LABEL]):
        members = np.flatnonzero(selection.label_ids == label)
        members = members[np.argsort(selection.keys[members], kind="stable")][rng.permutation(len(members))]
        start = 0
        for name, fraction in fractions.items():
            count = round(len(members) * fraction)
            chosen[name].append(members[start:start + count])
            start += count
    moved: dict[str, _Selection] = {}
    for name, pieces in chosen.items():
        indices = np.sort(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)  # file order
        taken[indices] = True
        moved[name] = selection.take(indices)
    return selection.take(~taken), moved


def texts_per_label_for_one_row(fraction: float) -> int:
    """How many distinct labeled texts one label needs before ``_split_off`` moves one of them (``fraction``
    of them, rounded) into a split: 6 for the default 10%. 0 when the fraction is 0 (that split stays empty)."""
    if fraction <= 0:
        return 0
    needed = 1
    while round(needed * fraction) < 1:
        needed += 1
    return needed


def _check_labels(splits: Splits, path: str) -> None:
    if len(splits.labels) < 2:
        if not splits.labels:
            detail = "no row has a label, so there is nothing to learn classes from or to score against"
        else:
            detail = f"every labeled row has the label {splits.labels[0]!r}; a classifier needs at least 2 classes"
        raise CorpusError(detail, path=path, code="single_class", labels=list(splits.labels))
    train_labels = set(np.unique(splits.train.label_ids).tolist()) - {NO_LABEL}
    if not train_labels:
        return  # an unlabeled transfer set: the teacher supplies the classes
    for name in ("dev", "test"):
        held_out = set(np.unique(getattr(splits, name).label_ids).tolist()) - {NO_LABEL}
        unseen = sorted(splits.labels[i] for i in held_out - train_labels)
        if unseen:
            shown = ", ".join(repr(label) for label in unseen[:10])
            raise CorpusError(f"the {name} rows use labels that never occur in training: {shown}", path=path,
                              code="unseen_labels", split=name, labels=unseen)


def _fill_counts(splits: Splits) -> None:
    report = splits.report
    parts = (splits.train, splits.dev, splits.test)
    report.train, report.dev, report.test = (len(part) for part in parts)
    report.distinct_texts = len(np.unique(np.concatenate([part.keys for part in parts])))
    label_ids = np.concatenate([part.label_ids for part in parts])
    report.labeled = int((label_ids != NO_LABEL).sum())
    report.unlabeled = len(label_ids) - report.labeled
    counts = np.bincount(label_ids[label_ids != NO_LABEL], minlength=len(splits.labels))
    report.label_counts = {label: int(counts[i]) for i, label in enumerate(splits.labels)}


def _write_warnings(report: CorpusReport, ties: int, splits: Splits) -> None:
    if report.duplicate_rows:
        report.warnings.append(
            f"{report.duplicate_rows:,} of {report.rows:,} rows repeat an earlier text; duplicates were removed "
            "before splitting so scores do not measure memorisation.")
    if report.conflicting_texts:
        report.warnings.append(
            f"{report.conflicting_texts:,} texts appear with different labels; the most frequent label was kept"
            + (f", and {ties:,} ties were left unlabeled." if ties else "."))
    for name in ("dev", "test"):
        removed = getattr(report, f"{name}_overlap_removed")
        if removed:
            report.warnings.append(
                f"{removed:,} training texts also appear in the {name} file and were removed from training, "
                f"so the {name} score is not inflated by texts the model has seen.")
    shared = int(np.isin(splits.dev.keys, splits.test.keys).sum())
    if shared:
        report.warnings.append(f"{shared:,} texts are in both the dev and the test file.")
    if report.label_counts:
        smallest, largest = min(report.label_counts.values()), max(report.label_counts.values())
        if smallest * 10 < largest:
            report.warnings.append(
                f"The classes are unbalanced (largest {largest:,}, smallest {smallest:,} texts); "
                "accuracy alone may flatter the model.")
    if not len(splits.dev):
        report.warnings.append("There is no dev set, so early stopping and best-checkpoint choice cannot work.")

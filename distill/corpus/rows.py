"""Corpus rows on disk, so a corpus larger than RAM never sits in memory.

Rows are streamed once from the reader into a ``RowStore``: the texts go to one
UTF-8 file read back through ``mmap``, and only fixed-size facts stay in memory,
as numpy arrays: a 16-byte key of the task's dedup key, the label id, the line
number and the text's offset (36 bytes a row, whatever the length of the text).
A selection of rows is a ``RowView``: a ``Sequence[Example]`` over the store
whose ``texts`` are a lazy ``Sequence[str]``, so the teacher, the vocabulary and
the token stores all read the texts one at a time, from disk.

Keys are blake2b-128 digests: the chance that two different texts share one is
about n² / 2¹²⁹, i.e. nil for any corpus that fits on a disk.
"""
from __future__ import annotations

import functools
import hashlib
import json
import mmap
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks import PAIR_SEPARATOR, Task
from .examples import Example
from .sequences import RowSequence

KEY_DTYPE = np.dtype("V16")  # a blake2b-128 digest, compared as raw bytes by np.unique / np.isin
NO_LABEL = -1  # label id of an unlabeled row


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


class StringColumnWriter:
    """Appends strings to a ``StringColumn`` file; ``close`` gives the column, ``abandon`` removes the file."""

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
        self._writer: StringColumnWriter | None = None

    def append(self, text: str | None) -> None:
        if self._writer is None:
            if text is None:
                self._rows_before += 1
                return
            self._writer = StringColumnWriter(self.path)
            for _ in range(self._rows_before):
                self._writer.append("")
        self._writer.append(text or "")

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.abandon()

    def close(self) -> StringColumn | None:
        return None if self._writer is None else self._writer.close()


# --------------------------------------------------------------------------- one file's rows


def row_key(task: Task, example: Example) -> bytes:
    """The 16-byte key of a row (KEY_DTYPE): blake2b-128 of the task's dedup key."""
    return hashlib.blake2b(task.dedup_key(example).encode("utf-8"), digest_size=16).digest()


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
    texts = StringColumnWriter(directory / "texts.utf8")
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
            keys += row_key(task, example)
            for label in task.labels_of(example):
                label_names.setdefault(label, len(label_names))
            split_label = task.split_label(example)
            label_ids.append(NO_LABEL if split_label is None
                             else label_names.setdefault(split_label, len(label_names)))
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
        """The texts alone, read from disk on access; one view per split, so its digest is computed once.

        A pair store's texts are its pairs joined by the pair task's separator (tasks/pair.py), so every
        consumer of texts (teacher cache, token stores, digests) carries the pair as one string."""
        return TextView(self.store.texts, self.rows, self.store.pairs)

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
    """The texts of some rows of a store, decoded one at a time; with ``pairs``, each joined to its second text."""

    def __init__(self, column: StringColumn, rows: np.ndarray, pairs: StringColumn | None = None) -> None:
        self.column = column
        self.rows = rows
        self.pairs = pairs
        self._digest: str | None = None

    def _text(self, row: int) -> str:
        second = self.pairs.row(row) if self.pairs is not None else ""
        # A row without a second text (a store written by another task) is its text alone.
        return f"{self.column.row(row)}{PAIR_SEPARATOR}{second}" if second else self.column.row(row)

    def digest(self) -> str:
        """``ordered_digest`` of these texts, computed on first use (a full read) and then remembered."""
        if self._digest is None:
            self._digest = ordered_digest(self)
        return self._digest

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._text(int(row)) for row in self.rows[index]]
        return self._text(int(self.rows[index]))

    def __iter__(self) -> Iterator[str]:
        for row in self.rows:
            yield self._text(int(row))

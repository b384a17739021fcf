"""A list-like view of rows kept on disk, shared by the row store and the token store."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


class RowSequence(Sequence[T]):
    """A sequence read from disk one row at a time by ``row(i)``; indexing and slicing work as on a list."""

    def row(self, index: int) -> T:
        raise NotImplementedError

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.row(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.row(index)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self)):
            yield self.row(index)


class Chained(RowSequence[T]):
    """Several sequences read as one, end to end: the corpus's training texts, then the generated ones."""

    def __init__(self, *parts: Sequence[T]) -> None:
        self.parts = parts
        self._starts = [0]
        for part in parts:
            self._starts.append(self._starts[-1] + len(part))

    def __len__(self) -> int:
        return self._starts[-1]

    def row(self, index: int) -> T:
        for part, start, end in zip(self.parts, self._starts, self._starts[1:]):
            if index < end:
                return part[index - start]
        raise IndexError(index)

    def __iter__(self) -> Iterator[T]:
        for part in self.parts:
            yield from part


class Subset(RowSequence[T]):
    """Some rows of a sequence, in the given order: the labelled rows the labels-only baseline trains on."""

    def __init__(self, source: Sequence[T], rows: Sequence[int]) -> None:
        self.source = source
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> T:
        return self.source[int(self.rows[index])]

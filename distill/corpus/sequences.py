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

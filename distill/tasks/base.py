"""The ``Task`` interface every kind of problem implements, and the text normalisation dedup shares."""
from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from ..corpus.examples import Example


class Task(ABC):
    """What a row means, for one kind of problem: how a parsed row becomes an ``Example``,
    when two rows are the same input, and which labels a row contributes.

    Extension points for the kinds that come later:

    * ``pair`` (tasks/pair.py): ``read_record`` also reads a second text column
      into ``Example.text_pair``; ``dedup_key`` is the pair, so the same text with
      a different partner is a different row; scoring is accuracy.
    * ``tagging`` (BIO NER): ``read_record`` reads tokens and tags into
      ``Example.text`` / ``Example.tags``; ``labels_of`` returns every tag;
      scoring is entity-level F1, and predictions are tag sequences.
    """

    name: ClassVar[str]

    @abstractmethod
    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int, text_pair_column: str = "") -> Example:
        """Turn one parsed row into an Example, raising CorpusError for bad cells.

        ``text_pair_column`` names the second text's column; only the pair task reads it."""

    @abstractmethod
    def dedup_key(self, example: Example) -> str:
        """Two rows with the same key are the same input, whatever their labels."""

    def split_label(self, example: Example) -> str | None:
        """What dedup votes on and the train/dev/test split stratifies by; None = an unlabeled row."""
        return example.label

    @abstractmethod
    def labels_of(self, example: Example) -> list[str]:
        """The label values this row contributes to the label set (empty when unlabeled)."""


def normalize_text(text: str) -> str:
    """NFKC + strip: full-width and half-width forms of a text count as one text."""
    return unicodedata.normalize("NFKC", text).strip()

"""The single-text task: one text, one label (sentiment, topic, intent)."""
from __future__ import annotations

from collections.abc import Mapping

from ..corpus.examples import Example
from ..errors import CorpusError
from .base import Task, normalize_text

MAX_LABEL_CHARS = 100  # a longer "label" is a shifted text or a stray cell, not a class name


class SingleTextTask(Task):
    """One text, one label: sentiment, topic, intent."""

    name = "single"

    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int, text_pair_column: str = "") -> Example:
        text = (record.get(text_column) or "").strip()
        if not text:
            raise CorpusError(f"the {text_column!r} cell is empty", path=path, line=line, code="empty_text",
                              column=text_column)
        if max_text_chars and len(text) > max_text_chars:
            raise CorpusError(
                f"the text has {len(text):,} characters, more than the limit of {max_text_chars:,}",
                path=path, line=line, code="text_too_long", length=len(text), limit=max_text_chars)
        label = (record.get(label_column) or "").strip()
        if len(label) > MAX_LABEL_CHARS or "\n" in label or label.startswith(("{", "[")):
            raise CorpusError(
                f"the {label_column!r} cell does not hold a label (a short class name) but {len(label):,} characters"
                " of other content", path=path, line=line, code="bad_label", column=label_column, length=len(label))
        return Example(text=text, label=label or None, line=line)

    def dedup_key(self, example: Example) -> str:
        return normalize_text(example.text)

    def labels_of(self, example: Example) -> list[str]:
        return [] if example.label is None else [example.label]

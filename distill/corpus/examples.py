"""What reading a corpus yields: one ``Example`` per usable row, a ``SkippedRow`` per row left out."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

SKIPPED_ROWS_KEPT = 100_000  # skipped rows listed in memory; counts stay exact beyond it
SKIPPED_TEXT_CHARS = 200  # how much of a skipped row's text is kept to show the user
# Row problems that skip, not stop; "bad_tags": a tagging row whose entities or tags do not fit its text.
SKIPPABLE_CODES = ("empty_text", "text_too_long", "line_too_long", "bad_label", "bad_tags")


@dataclass(frozen=True)
class Example:
    """One row of a corpus.

    ``label`` is None for an unlabeled row. ``line`` is the 1-based physical line
    where the row starts, so every later complaint can point at it.
    ``text_pair`` and ``tags`` are unused by the single-text task; they are where
    the pair task (second text) and the tagging task (one BIO tag per token) put
    their extra fields, so those tasks fit without changing this class.
    """

    text: str
    label: str | None
    line: int
    text_pair: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SkippedRow:
    """One row left out of the corpus: where, why (a ``CorpusError`` code and params) and what it held."""

    path: str
    line: int
    code: str  # one of SKIPPABLE_CODES
    detail: str  # the engine's English sentence
    params: dict[str, Any]
    text: str  # the row's text (or its cells when the text is empty), cut to SKIPPED_TEXT_CHARS

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "code": self.code, "detail": self.detail,
                "params": dict(self.params), "text": self.text}


class SkippedRows:
    """The rows a ``CorpusStream`` left out: exact counts by reason, the first SKIPPED_ROWS_KEPT rows listed."""

    def __init__(self) -> None:
        self.rows: list[SkippedRow] = []
        self.by_reason: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def __len__(self) -> int:
        return self.total

    def add(self, row: SkippedRow) -> None:
        self.by_reason[row.code] += 1
        if len(self.rows) < SKIPPED_ROWS_KEPT:
            self.rows.append(row)

    def first_lines(self, count: int = 5) -> list[int]:
        return [row.line for row in self.rows[:count]]

    def to_dict(self, first: int = 20) -> dict[str, Any]:
        """JSON-able summary: totals, counts by reason and the ``first`` rows in full."""
        return {"total": self.total, "by_reason": dict(self.by_reason),
                "first": [row.to_dict() for row in self.rows[:first]]}

    def summary_params(self, rows_read: int) -> dict[str, Any]:
        """The params of the "corpus_rows_skipped" note: how many, why ({code: count}, said in the reader's
        language by whoever shows the note), where the first ones are (line numbers)."""
        return {"count": self.total, "rows": rows_read + self.total, "reasons": dict(self.by_reason),
                "lines": self.first_lines()}

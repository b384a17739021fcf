"""Unlabelled text, one text per line: ``TextLinesStream``, read the way ``CorpusStream`` reads a corpus.

A plain text file has no header, no columns and no labels: every non-blank line is one text.
It is streamed (any size), its encoding detected like a corpus's, and a line that cannot be
used (over the length limit) is skipped and listed, not fatal; the file is refused only when
it cannot be decoded at all or when more than the allowed share of its lines is bad.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import CorpusError
from .archives import refuse_archives_and_binary
from .encoding import detect_encoding
from .examples import SKIPPED_TEXT_CHARS, Example, SkippedRow, SkippedRows
from .formats import SNIFF_BYTES


class TextLinesStream:
    """Iterate for one unlabelled ``Example`` per non-blank line; ``skipped`` lists the lines left out."""

    def __init__(self, path: str | Path, *, max_text_chars: int = 10_000, encoding: str = "",
                 max_bad_row_share: float = 0.05) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CorpusError("the file does not exist", path=str(self.path), code="file_not_found")
        self.max_text_chars = max_text_chars
        self.max_bad_row_share = max_bad_row_share
        if encoding:
            with self.path.open("rb") as handle:
                refuse_archives_and_binary(self.path, handle.read(SNIFF_BYTES))
        self.encoding = encoding or detect_encoding(self.path)
        self.errors = "replace" if encoding else "strict"
        self.skipped = SkippedRows()
        self.rows_read = 0  # texts of the last full iteration
        self.blank_lines = 0  # blank (or whitespace-only) lines of the last full iteration: separators, not rows

    def __iter__(self) -> Iterator[Example]:
        display = str(self.path)
        self.skipped = skipped = SkippedRows()
        count = blank = 0
        # newline=None: "\r\n" and "\r" end a line too, as any editor that saved the file meant.
        with self.path.open("r", encoding=self.encoding, errors=self.errors) as handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip()  # stored as a corpus cell is: stripped, not normalised (the dedup key is)
                if not text:
                    blank += 1  # a blank line separates texts; it is not a row
                    continue
                if self.max_text_chars and len(text) > self.max_text_chars:
                    skipped.add(SkippedRow(
                        display, number, "text_too_long",
                        f"the text has {len(text):,} characters, more than the limit of {self.max_text_chars:,}",
                        {"length": len(text), "limit": self.max_text_chars},
                        text[:SKIPPED_TEXT_CHARS - 1] + "…"))
                    continue
                yield Example(text=text, label=None, line=number)
                count += 1
        self.rows_read, self.blank_lines = count, blank
        if skipped.total and skipped.total > self.max_bad_row_share * (count + skipped.total):
            lines = skipped.first_lines()
            rows = count + skipped.total
            raise CorpusError(
                f"{skipped.total:,} of {rows:,} lines ({skipped.total / rows:.0%}) are longer than "
                f"{self.max_text_chars:,} characters, more than the {self.max_bad_row_share:.0%} allowed; is it "
                f"one text per line? first long lines: {', '.join(map(str, lines))}",
                path=display, line=lines[0], code="too_many_bad_rows", bad=skipped.total, rows=rows,
                share=round(100 * skipped.total / rows, 1), limit=round(100 * self.max_bad_row_share, 1),
                lines=lines, first_code=skipped.rows[0].code, first_params=dict(skipped.rows[0].params))
        if not count:
            raise CorpusError("the file holds no text (every line is blank)", path=display, code="empty_file")

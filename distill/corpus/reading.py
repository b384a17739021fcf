"""A corpus file read one row at a time: ``CorpusStream``.

Reading is strict about the file and forgiving about single rows: a file that
cannot be decoded or parsed (a quote that never closes, a binary file, a ZIP)
stops with a ``CorpusError`` naming the file, the line and a stable ``code``.
A row that is merely unusable (an empty text, a text or line over the limit, an
unreadable label) is skipped and listed in ``CorpusStream.skipped``, since real
corpora of 60k rows have a few of those; only when more than a set share of the
rows is bad is the whole file refused, because then the columns or the file are
most likely wrong. For the tagging task a CoNLL file (conll.py) is read too, one
sentence a row. Deduplication and the train/dev/test split are in ``splits.py``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ConfigError, CorpusError
from ..tasks import get_task, join_pair, shown_text
from .archives import refuse_archives_and_binary
from .conll import BadSentence, is_conll_path, iter_conll
from .encoding import ENCODING_CHOICES, detect_encoding
from .examples import SKIPPABLE_CODES, SKIPPED_TEXT_CHARS, Example, SkippedRow, SkippedRows
from .formats import CSV_FIELD_LIMIT, SNIFF_BYTES, format_of, iter_records


class CorpusStream:
    """A corpus file read one row at a time: iterate for Examples; ``columns`` fills in as it reads.

    Nothing is kept per good row, so a corpus larger than RAM can be streamed into
    a ``RowStore`` (rows.py). Each iteration reads the file again from the start and
    refills ``skipped`` with the rows it left out. ``encoding`` forces a codec (a
    user's choice; undecodable bytes then become U+FFFD) instead of detecting one.
    """

    def __init__(self, path: str | Path, text_column: str = "text", label_column: str = "label", *,
                 max_text_chars: int = 10_000, max_rows: int = 0, task: str = "single", encoding: str = "",
                 max_bad_row_share: float = 0.05, text_pair_column: str = "") -> None:
        self.path = Path(path)
        self.text_column = text_column
        self.text_pair_column = text_pair_column  # the pair task's second text
        self.label_column = label_column
        self.max_text_chars = max_text_chars
        self.max_rows = max_rows
        self.max_bad_row_share = max_bad_row_share
        self.task = get_task(task)
        if encoding and encoding not in ENCODING_CHOICES:
            raise ConfigError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODING_CHOICES)}",
                              code="unknown_encoding", encoding=encoding)
        if encoding:
            with self.path.open("rb") as handle:
                refuse_archives_and_binary(self.path, handle.read(SNIFF_BYTES))
        self.encoding = encoding or detect_encoding(self.path)
        self.errors = "replace" if encoding else "strict"
        self.format = self._format()
        self.columns: list[str] = []
        self.skipped = SkippedRows()
        self.rows_read = 0  # good rows of the last full iteration

    def _format(self) -> str:
        """csv, tsv or jsonl (formats.py); for the tagging task also conll (conll.py), by suffix or content."""
        if self.task.name == "tagging":
            with self.path.open("r", encoding=self.encoding, errors=self.errors, newline="") as handle:
                head = handle.read(SNIFF_BYTES)
            if is_conll_path(self.path, head):
                return "conll"
        return format_of(self.path, self.encoding, self.errors)

    @property
    def has_label_column(self) -> bool:
        """False once read: every row is unlabeled because the label column does not exist."""
        return self.label_column in self.columns

    def __iter__(self) -> Iterator[Example]:
        display = str(self.path)
        count = 0
        checked_columns = False
        self.skipped = skipped = SkippedRows()
        with self.path.open("r", encoding=self.encoding, errors=self.errors, newline="") as handle:
            if self.format == "conll":
                self.columns[:] = [self.text_column, self.label_column]
                records = iter_conll(handle, display, self.text_column, self.label_column)
            else:
                records = iter_records(handle, self.format, display, self.columns)
            for line, record in records:
                if isinstance(record, BadSentence):
                    error = record.error
                    skipped.add(SkippedRow(display, line, error.code, error.detail, _plain_params(error.params),
                                           _cut(record.text)))
                    continue
                if record is None:
                    skipped.add(SkippedRow(
                        display, line, "line_too_long",
                        f"the line is longer than {CSV_FIELD_LIMIT:,} characters, the most one cell may hold",
                        {"limit": CSV_FIELD_LIMIT}, ""))
                    continue
                if not checked_columns or self.format == "jsonl":
                    for column in (self.text_column, self.text_pair_column):
                        if column and column not in record:
                            raise CorpusError(_missing_column_message(column, self.columns), path=display,
                                              line=line if self.format == "jsonl" else 1, code="missing_column",
                                              column=column, columns=list(self.columns))
                    checked_columns = True
                try:
                    example = self.task.read_record(record, line, text_column=self.text_column,
                                                    label_column=self.label_column, path=display,
                                                    max_text_chars=self.max_text_chars,
                                                    text_pair_column=self.text_pair_column)
                except CorpusError as error:
                    if error.code not in SKIPPABLE_CODES:
                        raise
                    skipped.add(SkippedRow(display, line, error.code, error.detail, _plain_params(error.params),
                                           _shown_text(record, self.text_column, self.text_pair_column)))
                    continue
                yield example
                count += 1
                if self.max_rows and count >= self.max_rows:
                    break
        self.rows_read = count
        if skipped.total and skipped.total > self.max_bad_row_share * (count + skipped.total):
            self._refuse_bad_share(count, skipped)
        if not count:
            if self.columns and self.format != "conll":  # a CoNLL file's columns are implied, not a header
                raise CorpusError("the file has a header but no rows", path=display, code="no_rows",
                                  columns=list(self.columns))
            raise CorpusError("the file has no rows", path=display, code="empty_file")

    def _refuse_bad_share(self, good: int, skipped: SkippedRows) -> NoReturn:
        rows = good + skipped.total
        lines = skipped.first_lines()
        raise CorpusError(
            f"{skipped.total:,} of {rows:,} rows ({skipped.total / rows:.0%}) cannot be used, more than the "
            f"{self.max_bad_row_share:.0%} allowed, so the columns or the file are probably wrong; "
            f"first bad lines: {', '.join(map(str, lines))} ({skipped.rows[0].detail})",
            path=str(self.path), line=lines[0], code="too_many_bad_rows", bad=skipped.total, rows=rows,
            share=round(100 * skipped.total / rows, 1), limit=round(100 * self.max_bad_row_share, 1),
            lines=lines, first_code=skipped.rows[0].code, first_params=dict(skipped.rows[0].params))


def _plain_params(params: Mapping[str, object]) -> dict[str, Any]:
    """A skipped row's params without the path and line it already carries."""
    return {key: value for key, value in params.items() if key not in ("path", "line", "detail")}


def _shown_text(record: Mapping[str, str | None], text_column: str, text_pair_column: str = "") -> str:
    """What to show of a skipped row: its text (a pair's two, as tasks.shown_text writes them), or all its
    cells when the text is empty."""
    text = (record.get(text_column) or "").strip()
    if not text:
        text = ", ".join(value or "" for value in record.values())
    elif text_pair_column:
        # The second text is what a pair row may lack: shown beside the first, so the empty side shows.
        text = shown_text(join_pair(text, (record.get(text_pair_column) or "").strip()))
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= SKIPPED_TEXT_CHARS else text[:SKIPPED_TEXT_CHARS - 1] + "…"


def _missing_column_message(column: str, columns: Sequence[str]) -> str:
    existing = ", ".join(repr(name) for name in columns) or "none"
    return f"there is no column named {column!r}; the columns are: {existing}"

"""Corpus reading, dedup + splitting, tokenisation and batching for the students.

Reading is strict about the file and forgiving about single rows: a file that
cannot be decoded or parsed (a quote that never closes, a binary file, a ZIP)
stops with a ``CorpusError`` naming the file, the line and a stable ``code``.
A row that is merely unusable (an empty text, a text or line over the limit, an
unreadable label) is skipped and listed in ``CorpusStream.skipped``, since real
corpora of 60k rows have a few of those; only when more than a set share of the
rows is bad is the whole file refused, because then the columns or the file are
most likely wrong.

torch and jieba are imported inside the functions that need them, so the web
process can preview an upload without loading either.
"""
from __future__ import annotations

import codecs
import csv
import json
import logging
import unicodedata
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol, TypeVar, runtime_checkable

from .config import StudentConfig
from .errors import ConfigError, CorpusError

if TYPE_CHECKING:
    import numpy as np
    import torch

T = TypeVar("T")
FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".json-lines": "jsonl", ".ndjson": "jsonl"}
_CHUNK_BYTES = 1 << 20  # encoding check reads 1 MiB at a time so huge files never sit in memory
_SNIFF_BYTES = 64 * 1024  # enough of the head of a file to tell CSV from TSV from JSONL
_CSV_FIELD_LIMIT = csv.field_size_limit()  # the csv module's own cap; a longer cell is almost always a runaway quote
MAX_LABEL_CHARS = 100  # a longer "label" is a shifted text or a stray cell, not a class name
SKIPPED_ROWS_KEPT = 100_000  # skipped rows listed in memory; counts stay exact beyond it
SKIPPED_TEXT_CHARS = 200  # how much of a skipped row's text is kept to show the user
SKIPPABLE_CODES = ("empty_text", "text_too_long", "line_too_long", "bad_label")  # row problems that skip, not stop
# Candidate codecs when a file is not UTF-8, in the order a tie is resolved: mainland corpora (GBK) first.
LEGACY_CODECS = ("gb18030", "big5", "big5hkscs")
ENCODING_CHOICES = ("utf-8", "utf-8-sig", "gb18030", "big5", "big5hkscs")  # what a user may pick by hand
GARBLED_WARNING_SHARE = 0.15  # above this share of odd characters the decoded text is probably the wrong encoding
_BINARY_CONTROL_SHARE = 0.01  # text files hold almost no control bytes; random or binary data ~10%
_NOT_TEXT_GARBLED_SHARE = 0.35  # random bytes read as GB18030 score 0.4-0.9; real reviews ~0.001 (garbled_share)

TEXT_COLUMN_NAMES = ("text", "texts", "review", "reviews", "content", "contents", "sentence", "sentences",
                     "comment", "body", "document", "内容", "內容", "评论", "評論", "评价", "評價", "文本", "句子",
                     "正文")
# Simplified and Traditional spellings, and the star ratings review sites export ("星级", "rating").
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "cat", "sentiment", "polarity", "target", "tag",
                      "rating", "stars", "标签", "標籤", "类别", "類別", "分类", "分類", "情感", "星级", "星級",
                      "评分", "評分", "标注", "標註")


# --------------------------------------------------------------------------- rows


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


@dataclass
class Corpus:
    path: str
    format: str  # "csv", "tsv" or "jsonl"
    encoding: str  # one of ENCODING_CHOICES
    columns: list[str]
    examples: list[Example]
    has_label_column: bool  # False: every row is unlabeled because the label column does not exist
    skipped: "SkippedRows | None" = None  # rows left out (empty text, too long, bad label)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    @property
    def labels(self) -> list[str]:
        """Distinct labels, sorted, so class indices are the same on every run."""
        return sorted({ex.label for ex in self.examples if ex.label is not None})


@dataclass
class CorpusPreview:
    format: str
    encoding: str
    columns: list[str]
    rows: list[dict[str, str]]
    guessed_text_column: str | None
    guessed_label_column: str | None
    detected_encoding: str = ""  # what detection chose, even when ``encoding`` was given by hand
    garbled_share: float = 0.0  # share of odd characters in the head of the file (see garbled_share)

    @property
    def looks_garbled(self) -> bool:
        return self.garbled_share > GARBLED_WARNING_SHARE


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


_REASON_WORDS = {"empty_text": "with an empty text", "text_too_long": "with a text over the length limit",
                 "line_too_long": "with a line over the length limit", "bad_label": "with an unreadable label"}


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

    def summary(self, rows_read: int) -> str:
        """One English sentence for logs and the CLI: how many, why, and where the first ones are."""
        reasons = ", ".join(f"{count:,} {_REASON_WORDS.get(code, code)}"
                            for code, count in self.by_reason.most_common())
        lines = ", ".join(map(str, self.first_lines()))
        return (f"{self.total:,} of {rows_read + self.total:,} rows were skipped and are not used: {reasons}; "
                f"first on lines {lines}.")


# --------------------------------------------------------------------------- tasks


class Task(ABC):
    """What a row means and how predictions are scored, for one kind of problem.

    Extension points for the kinds that come later:

    * ``pair`` (e.g. sentence similarity): ``read_record`` also reads a second
      text column into ``Example.text_pair``; ``dedup_key`` is the pair, so the
      same text with a different partner is a different row; scoring is accuracy.
    * ``tagging`` (BIO NER): ``read_record`` reads tokens and tags into
      ``Example.text`` / ``Example.tags``; ``labels_of`` returns every tag;
      ``score`` is entity-level F1, and predictions are tag sequences.
    """

    name: ClassVar[str]

    @abstractmethod
    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int) -> Example:
        """Turn one parsed row into an Example, raising CorpusError for bad cells."""

    @abstractmethod
    def dedup_key(self, example: Example) -> str:
        """Two rows with the same key are the same input, whatever their labels."""

    @abstractmethod
    def labels_of(self, example: Example) -> list[str]:
        """The label values this row contributes to the label set (empty when unlabeled)."""

    @abstractmethod
    def score(self, predictions: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
        """Scores of predictions against the gold labels of labeled examples."""


def normalize_text(text: str) -> str:
    """NFKC + strip: full-width and half-width forms of a text count as one text."""
    return unicodedata.normalize("NFKC", text).strip()


class SingleTextTask(Task):
    """One text, one label: sentiment, topic, intent."""

    name = "single"

    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int) -> Example:
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

    def score(self, predictions: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        gold = [(pred, ex.label) for pred, ex in zip(predictions, examples) if ex.label is not None]
        if not gold:
            return {"accuracy": float("nan"), "scored": 0.0}
        correct = sum(pred == label for pred, label in gold)
        return {"accuracy": correct / len(gold), "scored": float(len(gold))}


TASKS: dict[str, Task] = {"single": SingleTextTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}", code="unknown_task",
                          task=name, available=list(TASKS)) from None


# --------------------------------------------------------------------------- decoding


def _detect_encoding(path: Path) -> str:
    """Return the codec that decodes the whole file strictly: UTF-8 (BOM or not), else GB18030 or Big5.

    Streams the file in chunks, so a large corpus is checked without holding it
    in memory. A ZIP archive or binary data is refused for what it is. Big5
    bytes nearly always decode as GB18030 too (as nonsense), so when more than
    one codec decodes the file, the one whose text is made of common characters
    wins (see ``_common_share``).
    """
    display = str(path)
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise CorpusError("the file is empty", path=display, code="empty_file")
    _refuse_archives_and_binary(path, head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CorpusError("the file is UTF-16; save it as UTF-8 and upload it again", path=display,
                          code="bad_encoding", encoding="utf-16")
    if head.startswith(codecs.BOM_UTF8):
        failure = _decode_failure(path, "utf-8-sig")
        if failure is None:
            return "utf-8-sig"
        _raise_bad_encoding(path, {"UTF-8": failure})
    failure = _decode_failure(path, "utf-8")
    if failure is None:
        return "utf-8"
    failures: dict[str, tuple[int, int]] = {"UTF-8": failure}
    decoding: list[str] = []
    for codec in LEGACY_CODECS:
        if codec == "big5hkscs" and "big5" in decoding:
            continue  # Big5-HKSCS only adds Hong Kong characters; plain Big5 already reads the file
        failure = _decode_failure(path, codec)
        if failure is None:
            decoding.append(codec)
        else:
            failures[_CODEC_NAMES[codec]] = failure
    if not decoding:
        _raise_bad_encoding(path, failures)
    sample = _head_sample(head)
    # max() keeps the first of equal scores: GB18030 when the head has no Chinese characters to tell by.
    best = max(decoding, key=lambda codec: _common_share(sample.decode(codec, errors="replace"), codec))
    decoded = sample.decode(best, errors="replace")
    if sum(ord(char) > 0x7F for char in decoded) >= 8 and garbled_share(decoded) > _NOT_TEXT_GARBLED_SHARE:
        # GB18030 gives almost any byte pair a meaning, so random bytes decode; they read as rare characters.
        raise CorpusError("the file does not look like text (it reads as rare and unassigned characters in "
                          "every encoding); it may be binary data rather than a CSV, TSV or JSON Lines file",
                          path=display, code="binary_file", reason="garbled")
    return best


_CODEC_NAMES = {"gb18030": "GB18030", "big5": "Big5", "big5hkscs": "Big5-HKSCS"}
# Lead-byte ranges of the frequently used characters of each standard: GB2312 level 1 (3,755
# characters) and Big5 level 1 (5,401). Real text is ~99% made of them; the same bytes read in
# the other standard land there only about half of the time.
_COMMON_LEAD_BYTES = {"gb18030": ("gb2312", 0xB0, 0xD7), "big5": ("big5", 0xA4, 0xC6),
                      "big5hkscs": ("big5", 0xA4, 0xC6)}


def _head_sample(head: bytes) -> bytes:
    """The head cut after its last newline, so no multi-byte character is split at the end."""
    cut = head.rfind(b"\n")
    return head if cut < 0 else head[:cut + 1]


def _is_hanzi(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _is_common(char: str, standard: str, low: int, high: int) -> bool:
    try:
        encoded = char.encode(standard)
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and low <= encoded[0] <= high


def _common_share(text: str, codec: str) -> float:
    """Share of the Chinese characters of ``text`` that are frequent ones of ``codec``'s standard (0 when none)."""
    standard, low, high = _COMMON_LEAD_BYTES[codec]
    hanzi = [char for char in text if _is_hanzi(char)]
    if not hanzi:
        return 0.0
    return sum(_is_common(char, standard, low, high) for char in hanzi) / len(hanzi)


def garbled_share(text: str) -> float:
    """Share of the non-ASCII characters of ``text`` that suggest a wrong encoding.

    Counted as odd: replacement marks (U+FFFD), private-use and unassigned code
    points, control characters, and Chinese characters outside both common sets
    (GB2312 level 1 and Big5 level 1). Real Chinese text scores a few percent.
    """
    wide = [char for char in text if ord(char) > 0x7F]
    if not wide:
        return 0.0
    odd = 0
    for char in wide:
        if _is_hanzi(char):
            odd += not (_is_common(char, "gb2312", 0xB0, 0xD7) or _is_common(char, "big5", 0xA4, 0xC6))
        else:
            odd += char == "\ufffd" or unicodedata.category(char) in ("Co", "Cn", "Cc", "Cs")
    return odd / len(wide)


def _refuse_archives_and_binary(path: Path, head: bytes) -> None:
    """Name a ZIP (or Excel workbook) and binary data for what they are, before trying to decode them."""
    display = str(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if b"[Content_Types].xml" in head and b"xl/" in head:
            raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                              code="excel_file")
        raise CorpusError("the file is a ZIP archive; upload the CSV inside the ZIP", path=display,
                          code="zip_archive")
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # the old .xls (OLE2) container
        raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                          code="excel_file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return  # UTF-16 is full of NUL bytes; it gets its own message
    control = sum(head.count(bytes([byte])) for byte in (*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F))
    if control > _BINARY_CONTROL_SHARE * len(head) and b"\x00" not in head:
        raise CorpusError("the file is binary data, not text: it is not a CSV, TSV or JSON Lines file", path=display,
                          code="binary_file", reason="control")


def _decode_failure(path: Path, codec: str) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte ``codec`` cannot decode, or None when all decode.

    Raises ``binary_file`` at the first NUL byte: no text corpus contains one.
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0
    newlines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK_BYTES)
            final = not chunk
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = newlines + chunk.count(b"\n", 0, nul) + 1
                raise CorpusError("the file contains NUL bytes, so it is binary data rather than text",
                                  path=str(path), line=line, code="binary_file", offset=offset + nul)
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # exc.object may start with bytes held over from the previous chunk;
                # they are never b"\n" (a newline is never part of a multi-byte character).
                pending = len(exc.object) - len(chunk)
                line = newlines + exc.object.count(b"\n", 0, exc.start) + 1
                return line, max(offset - pending + exc.start, 0)
            if final:
                return None
            newlines += chunk.count(b"\n")
            offset += len(chunk)


def _raise_bad_encoding(path: Path, failures: dict[str, tuple[int, int]]) -> NoReturn:
    line, offset = max(failures.values())
    tried = "; ".join(f"as {name} it breaks at line {ln}" for name, (ln, _) in failures.items())
    hint = _encoding_hint(path)
    message = f"the file is neither UTF-8 nor GB18030 nor Big5 text ({tried})"
    if hint:
        message += f"; it may be {hint}"
    raise CorpusError(message + ". Save it as UTF-8 and upload it again", path=str(path), line=line,
                      code="bad_encoding", offset=offset, guess=hint or "")


def _encoding_hint(path: Path) -> str | None:
    """charset-normalizer's guess, only to make the error message more useful."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # the hint is a nicety; the error stands without it
        return None
    with path.open("rb") as handle:
        best = from_bytes(handle.read(_SNIFF_BYTES)).best()
    return None if best is None else best.encoding


# --------------------------------------------------------------------------- formats


def _format_of(path: Path, encoding: str, errors: str = "strict") -> str:
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        head = handle.read(_SNIFF_BYTES)
    first = next((line for line in head.splitlines() if line.strip()), "")
    stripped = first.lstrip()
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        raise CorpusError("the file is one JSON array; save it as JSON Lines (one object per line)",
                          path=str(path), line=1, code="unsupported_format")
    return "tsv" if first.count("\t") > first.count(",") else "csv"


def _delimited_records(handle: Iterable[str], fmt: str, path: str) -> Iterator[tuple[int, list[str] | None]]:
    """(start line, cells) per non-blank record of a CSV/TSV stream; cells is None for a line over the cell limit.

    The csv module reads on after a cell over its limit from the next line, so such a
    line is one unusable row, not the end of the file.
    """
    if fmt == "tsv":
        # TSV has no quoting: a quote character inside a text is just a character.
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    else:
        reader = csv.reader(handle, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "unexpected end of data" in reason:
                detail = "a quoted cell that starts here never closes (unterminated quote)"
            elif "field larger than field limit" in reason:
                yield start, None
                continue
            else:
                detail = f"the row is not valid {fmt.upper()} ({reason})"
            raise CorpusError(detail, path=path, line=start, code="malformed_row", reason=reason) from None
        if cells and any(cell.strip() for cell in cells):
            yield start, cells


def _iter_records(handle: Iterable[str], fmt: str, path: str,
                  columns: list[str]) -> Iterator[tuple[int, dict[str, str | None] | None]]:
    """(line, record) per row, for any of the three formats; record is None for a line over the cell limit.

    ``columns`` is filled in place: with the header as soon as it is read (so a
    header without rows still names its columns), or with JSON keys as they appear.
    """
    if fmt == "jsonl":
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"the line is not valid JSON ({exc.msg} at column {exc.colno})", path=path,
                                  line=number, code="malformed_row", reason=exc.msg) from None
            if not isinstance(record, dict):
                raise CorpusError("each line must be a JSON object like {\"text\": ..., \"label\": ...}",
                                  path=path, line=number, code="malformed_row", reason="not an object")
            for key in record:
                if key not in columns:
                    columns.append(key)
            yield number, _json_cells(record)
        return
    records = _delimited_records(handle, fmt, path)
    try:
        _, header = next(records)
    except StopIteration:
        raise CorpusError("the file has no rows", path=path, code="empty_file") from None
    if header is None:
        raise CorpusError(f"the first line is longer than {_CSV_FIELD_LIMIT:,} characters, so it is no header; "
                          "the file may not be a CSV or TSV file", path=path, line=1, code="line_too_long",
                          limit=_CSV_FIELD_LIMIT)
    header = [name.strip() for name in header]
    columns[:] = header
    for line, cells in records:
        if cells is None:
            yield line, None
            continue
        if len(cells) != len(header):
            raise CorpusError(
                f"the row has {len(cells)} cells but the header has {len(header)}"
                + (" (an unquoted comma inside the text?)" if fmt == "csv" and len(cells) > len(header) else ""),
                path=path, line=line, code="malformed_row", cells=len(cells), expected=len(header))
        yield line, dict(zip(header, cells))


def _json_cells(record: dict[str, Any]) -> dict[str, str | None]:
    cells: dict[str, str | None] = {}
    for key, value in record.items():
        if value is None or isinstance(value, str):
            cells[key] = value
        elif isinstance(value, bool):
            cells[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            cells[key] = str(value)
        else:
            cells[key] = None if not value else json.dumps(value, ensure_ascii=False)
    return cells


# --------------------------------------------------------------------------- reading


class CorpusStream:
    """A corpus file read one row at a time: iterate for Examples; ``columns`` fills in as it reads.

    Nothing is kept per good row, so a corpus larger than RAM can be streamed into
    a ``rows.RowStore``. Each iteration reads the file again from the start and
    refills ``skipped`` with the rows it left out. ``encoding`` forces a codec (a
    user's choice; undecodable bytes then become U+FFFD) instead of detecting one.
    """

    def __init__(self, path: str | Path, text_column: str = "text", label_column: str = "label", *,
                 max_text_chars: int = 10_000, max_rows: int = 0, task: str = "single", encoding: str = "",
                 max_bad_row_share: float = 0.05) -> None:
        self.path = Path(path)
        self.text_column = text_column
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
                _refuse_archives_and_binary(self.path, handle.read(_SNIFF_BYTES))
        self.encoding = encoding or _detect_encoding(self.path)
        self.errors = "replace" if encoding else "strict"
        self.format = _format_of(self.path, self.encoding, self.errors)
        self.columns: list[str] = []
        self.skipped = SkippedRows()
        self.rows_read = 0  # good rows of the last full iteration

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
            for line, record in _iter_records(handle, self.format, display, self.columns):
                if record is None:
                    skipped.add(SkippedRow(
                        display, line, "line_too_long",
                        f"the line is longer than {_CSV_FIELD_LIMIT:,} characters, the most one cell may hold",
                        {"limit": _CSV_FIELD_LIMIT}, ""))
                    continue
                if not checked_columns or self.format == "jsonl":
                    if self.text_column not in record:
                        raise CorpusError(_missing_column_message(self.text_column, self.columns), path=display,
                                          line=line if self.format == "jsonl" else 1, code="missing_column",
                                          column=self.text_column, columns=list(self.columns))
                    checked_columns = True
                try:
                    example = self.task.read_record(record, line, text_column=self.text_column,
                                                    label_column=self.label_column, path=display,
                                                    max_text_chars=self.max_text_chars)
                except CorpusError as error:
                    if error.code not in SKIPPABLE_CODES:
                        raise
                    skipped.add(SkippedRow(display, line, error.code, error.detail, _plain_params(error.params),
                                           _shown_text(record, self.text_column)))
                    continue
                yield example
                count += 1
                if self.max_rows and count >= self.max_rows:
                    break
        self.rows_read = count
        if skipped.total and skipped.total > self.max_bad_row_share * (count + skipped.total):
            self._refuse_bad_share(count, skipped)
        if not count:
            if self.columns:
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


def _shown_text(record: Mapping[str, str | None], text_column: str) -> str:
    """What to show of a skipped row: its text, or all its cells when the text is empty."""
    text = (record.get(text_column) or "").strip()
    if not text:
        text = ", ".join(value or "" for value in record.values())
    return text if len(text) <= SKIPPED_TEXT_CHARS else text[:SKIPPED_TEXT_CHARS - 1] + "…"


def read_corpus(path: str | Path, text_column: str = "text", label_column: str = "label", *,
                max_text_chars: int = 10_000, max_rows: int = 0, task: str = "single", encoding: str = "",
                max_bad_row_share: float = 0.05) -> Corpus:
    """Read a CSV/TSV/JSONL corpus strictly into memory (see ``CorpusStream`` for large files).

    A missing label column is not an error: the corpus is then a transfer set of
    unlabeled texts (``Corpus.has_label_column`` says so).
    """
    stream = CorpusStream(path, text_column, label_column, max_text_chars=max_text_chars, max_rows=max_rows,
                          task=task, encoding=encoding, max_bad_row_share=max_bad_row_share)
    examples = list(stream)
    return Corpus(path=str(stream.path), format=stream.format, encoding=stream.encoding, columns=list(stream.columns),
                  examples=examples, has_label_column=stream.has_label_column, skipped=stream.skipped)


def _missing_column_message(column: str, columns: Sequence[str]) -> str:
    existing = ", ".join(repr(name) for name in columns) or "none"
    return f"there is no column named {column!r}; the columns are: {existing}"


def preview_corpus(path: str | Path, rows: int = 10, encoding: str = "") -> CorpusPreview:
    """The first rows of a file as cells, plus guesses for the text and label columns.

    ``encoding`` forces a codec as in ``CorpusStream``; ``detected_encoding`` still
    says what detection would choose, and ``garbled_share`` how odd the decoded head looks.
    """
    path = Path(path)
    detected = _detect_encoding_or_empty(path) if encoding else _detect_encoding(path)
    encoding = encoding or detected
    errors = "replace" if encoding != detected else "strict"
    fmt = _format_of(path, encoding, errors)
    shown: list[dict[str, str]] = []
    columns: list[str] = []
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        head = handle.read(_SNIFF_BYTES)
    garbled = garbled_share(head)
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        for _, record in _iter_records(handle, fmt, str(path), columns):
            if record is None:
                continue
            shown.append({key: value or "" for key, value in record.items()})
            if len(shown) >= rows:
                break
    if not columns:
        raise CorpusError("the file has no rows", path=str(path), code="empty_file")
    text_guess = _guess_column(columns, TEXT_COLUMN_NAMES)
    label_guess = _guess_column([name for name in columns if name != text_guess], LABEL_COLUMN_NAMES)
    if text_guess is None and shown:
        # No telling name: the column with the longest cells is almost always the text.
        lengths = {name: sum(len(row.get(name, "")) for row in shown) for name in columns if name != label_guess}
        text_guess = max(lengths, key=lengths.get) if lengths else None
    return CorpusPreview(format=fmt, encoding=encoding, columns=list(columns), rows=shown,
                         guessed_text_column=text_guess, guessed_label_column=label_guess,
                         detected_encoding=detected, garbled_share=garbled)


def _detect_encoding_or_empty(path: Path) -> str:
    """Detection's answer for a file whose codec the user chose: "" when no codec reads it strictly."""
    try:
        return _detect_encoding(path)
    except CorpusError as error:
        if error.code == "bad_encoding":
            return ""
        raise


def is_zip(path: str | Path) -> bool:
    """True for a ZIP archive (by its first bytes, whatever its name)."""
    with Path(path).open("rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def unpack_zip_corpus(path: str | Path, directory: str | Path, max_bytes: int) -> Path:
    """The one CSV/TSV/JSONL file inside a ZIP, extracted into ``directory`` (at most ``max_bytes``).

    Folders and macOS metadata (``__MACOSX/``, ``._*``) are ignored; any other
    number of corpus files is refused, as is an inner file over ``max_bytes``
    (checked while copying, so a ZIP bomb stops at the limit).
    """
    path = Path(path)
    display = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise CorpusError("the file starts like a ZIP archive but cannot be opened as one", path=display,
                          code="zip_archive", reason="broken") from None
    with archive:
        members = [info for info in archive.infolist()
                   if not info.is_dir() and not info.filename.startswith("__MACOSX/")
                   and not Path(info.filename).name.startswith("._")]
        corpora = [info for info in members if Path(info.filename).suffix.lower() in (*_EXTENSIONS, ".txt")]
        if any(info.filename == "[Content_Types].xml" for info in members):
            raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                              code="excel_file")
        if len(corpora) != 1:
            names = [Path(info.filename).name for info in (corpora or members)][:5]
            raise CorpusError(
                f"the ZIP holds {len(corpora)} CSV, TSV or JSON Lines files ({', '.join(names) or 'none'}); "
                "upload the CSV inside the ZIP", path=display, code="zip_archive", count=len(corpora), names=names)
        member = corpora[0]
        target = Path(directory) / Path(member.filename).name
        written = 0
        try:
            with archive.open(member) as source, target.open("xb") as out:
                while chunk := source.read(_CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise CorpusError(
                            f"{Path(member.filename).name} inside the ZIP is larger than the limit of "
                            f"{max_bytes:,} bytes", path=display, code="zip_too_large", limit=max_bytes,
                            member=Path(member.filename).name)
                    out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target


def _guess_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {name.strip().lower(): name for name in columns}
    for candidate in names:
        if candidate in lowered:
            return lowered[candidate]
    return None


# --------------------------------------------------------------------------- tokenizers


@runtime_checkable
class StudentTokenizer(Protocol):
    kind: str
    pad_id: int
    unk_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, max_length: int) -> list[int]: ...

    def save(self, path: str | Path) -> None: ...


PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


class _VocabTokenizer:
    """Shared part of the char and word tokenizers: a token list with [PAD]=0, [UNK]=1."""

    kind: ClassVar[str] = ""
    pad_id = 0
    unk_id = 1

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD_TOKEN, UNK_TOKEN]:
            raise ValueError("a vocabulary starts with [PAD], [UNK]")
        self.tokens = list(tokens)
        self.token_to_id = {token: index for index, token in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str, max_length: int) -> list[int]:
        ids = [self.token_to_id.get(token, self.unk_id) for token in self.tokenize(text)[:max_length]]
        # Every sequence keeps at least one token so recurrent students never see length 0.
        return ids or [self.unk_id]

    @classmethod
    def build(cls, texts: Iterable[str], min_frequency: int = 1, max_vocab_size: int = 50_000) -> "_VocabTokenizer":
        """Most frequent tokens first (ties by token, for reproducible ids), capped at ``max_vocab_size``."""
        counts: Counter[str] = Counter()
        tokenizer = cls([PAD_TOKEN, UNK_TOKEN])
        for text in texts:
            counts.update(tokenizer.tokenize(text))
        ranked = sorted((item for item in counts.items() if item[1] >= min_frequency), key=lambda kv: (-kv[1], kv[0]))
        room = max(max_vocab_size - 2, 0)
        return cls([PAD_TOKEN, UNK_TOKEN, *(token for token, _ in ranked[:room])])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"kind": self.kind, "tokens": self.tokens}, ensure_ascii=False),
                              encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "_VocabTokenizer":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("kind") != cls.kind:
            raise ValueError(f"{path} holds a {raw.get('kind')!r} tokenizer, not {cls.kind!r}")
        return cls(raw["tokens"])


class CharTokenizer(_VocabTokenizer):
    """One token per character (NFKC-normalised, whitespace dropped): the natural unit for Chinese."""

    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return [char for char in unicodedata.normalize("NFKC", text) if not char.isspace()]


class WordTokenizer(_VocabTokenizer):
    """jieba words: fewer, more meaningful tokens than characters, at the cost of a bigger vocabulary."""

    kind = "word"

    def tokenize(self, text: str) -> list[str]:
        return [word for word in _jieba().lcut(unicodedata.normalize("NFKC", text)) if word.strip()]


def _jieba() -> Any:
    import jieba

    # jieba logs its dictionary loading at DEBUG/INFO on every process start.
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba


class TeacherTokenizer:
    """The teacher's own WordPiece tokenizer, for students that share its vocabulary.

    Works on a private copy of the Hugging Face tokenizer's backend, so setting
    truncation here never changes how the teacher itself tokenizes.
    """

    kind = "teacher"

    def __init__(self, hf_tokenizer: Any = None, *, backend: Any = None) -> None:
        from tokenizers import Tokenizer

        if backend is None:
            source = getattr(hf_tokenizer, "backend_tokenizer", None)
            if source is None:
                raise ConfigError("the teacher tokenizer has no fast (Rust) backend and cannot be shared",
                                  code="teacher_tokenizer_unsupported")
            backend = Tokenizer.from_str(source.to_str())
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.hf_tokenizer = hf_tokenizer
        pad = backend.token_to_id(getattr(hf_tokenizer, "pad_token", None) or PAD_TOKEN)
        unk = backend.token_to_id(getattr(hf_tokenizer, "unk_token", None) or UNK_TOKEN)
        self.pad_id = 0 if pad is None else pad
        self.unk_id = self.pad_id if unk is None else unk
        self._truncation: int | None = None

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, max_length: int) -> list[int]:
        if self._truncation != max_length:
            self.backend.enable_truncation(max_length)
            self._truncation = max_length
        return self.backend.encode(text).ids

    def encode_batch(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Same ids as ``encode`` per text; the Rust tokenizer spreads a long list over all cores."""
        self.encode("", max_length)  # sets truncation once for the whole batch
        return [encoding.ids for encoding in self.backend.encode_batch(list(texts))]

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def save(self, path: str | Path) -> None:
        payload = {"kind": self.kind, "tokenizer": json.loads(self.backend.to_str()),
                   "pad_id": self.pad_id, "unk_id": self.unk_id}
        Path(path).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "TeacherTokenizer":
        from tokenizers import Tokenizer

        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        tokenizer = cls(backend=Tokenizer.from_str(json.dumps(raw["tokenizer"])))
        tokenizer.pad_id, tokenizer.unk_id = raw["pad_id"], raw["unk_id"]
        return tokenizer


_TOKENIZER_KINDS: dict[str, Any] = {"char": CharTokenizer, "word": WordTokenizer, "teacher": TeacherTokenizer}


def load_tokenizer(path: str | Path) -> StudentTokenizer:
    """Load any tokenizer written by ``save``; the JSON names its kind."""
    kind = json.loads(Path(path).read_text(encoding="utf-8")).get("kind")
    if kind not in _TOKENIZER_KINDS:
        raise ValueError(f"{path} is not a saved tokenizer (kind={kind!r})")
    return _TOKENIZER_KINDS[kind].load(path)


def build_student_tokenizer(kind: str, texts: Iterable[str], cfg: StudentConfig,
                            teacher_tokenizer: Any = None) -> StudentTokenizer:
    """The tokenizer a student reads with: built from the training texts, or the teacher's own."""
    if kind == "char":
        return CharTokenizer.build(texts, cfg.min_frequency, cfg.max_vocab_size)
    if kind == "word":
        return WordTokenizer.build(texts, cfg.min_frequency, cfg.max_vocab_size)
    if kind == "teacher":
        if teacher_tokenizer is None:
            raise ConfigError("the 'teacher' student tokenizer needs the teacher's tokenizer",
                              code="teacher_tokenizer_missing")
        return teacher_tokenizer if isinstance(teacher_tokenizer, TeacherTokenizer) else TeacherTokenizer(teacher_tokenizer)
    raise ConfigError(f"unknown student tokenizer {kind!r}; choose one of {', '.join(_TOKENIZER_KINDS)}",
                      code="unknown_tokenizer", tokenizer=kind)


# --------------------------------------------------------------------------- batching


def encode_texts(tokenizer: StudentTokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of every text, computed once so every epoch only pads."""
    if isinstance(tokenizer, TeacherTokenizer):
        return tokenizer.encode_batch(texts, max_length)
    return [tokenizer.encode(text, max_length) for text in texts]


def token_lengths(token_ids: Sequence[Sequence[int]]) -> "np.ndarray":
    """(N,) int64 length of every row; a TokenStore knows them without reading a token."""
    import numpy as np

    if isinstance(token_ids, TokenStore):
        return np.asarray(token_ids.lengths, dtype=np.int64)
    return np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(token_ids))


def length_bucketed_batches(lengths: Sequence[int] | "np.ndarray", batch_size: int, *, shuffle: bool,
                            seed: int) -> list["np.ndarray"]:
    """Row indices grouped into batches of similar length, to waste little compute on padding.

    With ``shuffle``, rows are shuffled, cut into buckets of ~50 batches, sorted
    by length inside each bucket, and the batch order is shuffled: batches stay
    varied across an epoch but nearly pad-free. Without it, rows are sorted by
    length once (evaluation). The same ``seed`` always gives the same batches.
    Every batch is a view into one (N,) int64 array, so a corpus of millions of
    rows costs 8 bytes a row here, not a Python list per batch.
    """
    import numpy as np

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")  # (N,)
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    # SeedSequence takes only non-negative entropy; the mask keeps any int seed valid.
    rng = np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)
    order = rng.permutation(len(lengths))  # (N,)
    bucket = batch_size * 50
    for start in range(0, len(order), bucket):
        chunk = order[start:start + bucket]
        chunk[:] = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Pad to the longest sequence in this batch: (input_ids (B, T), attention_mask (B, T)), both int64."""
    import torch

    width = max([len(seq) for seq in sequences] + [1])
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)  # (B, T)
    for row, seq in enumerate(sequences):
        if seq:
            input_ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            attention_mask[row, :len(seq)] = 1
    return input_ids, attention_mask


# --------------------------------------------------------------------------- on-disk token store

TOKEN_STORE_META = "meta.json"  # written last: a folder without it is incomplete and gets rebuilt
STORE_CHUNK_ROWS = 8192  # texts encoded per step of the streaming pass; bounds its memory


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


class TokenStore(RowSequence[list[int]]):
    """Token ids of many texts as one flat memory-mapped int32 array plus row offsets.

    Row i is ``tokens[offsets[i]:offsets[i + 1]]``, read from disk only when a batch
    asks for it, so a transfer set larger than RAM never exists as Python lists of
    ints (about 36 bytes a token, against 4 here). Indexing gives the same
    ``list[int]`` as ``encode_texts``, so batches are identical either way.
    """

    def __init__(self, directory: str | Path) -> None:
        import numpy as np

        self.directory = Path(directory)
        meta = json.loads((self.directory / TOKEN_STORE_META).read_text(encoding="utf-8"))
        self.key = str(meta["key"])
        self.offsets = np.load(self.directory / "offsets.npy", mmap_mode="r")  # (N + 1,) int64
        tokens = int(self.offsets[-1])
        # An empty file cannot be memory-mapped; a store of empty rows has nothing to map.
        self.tokens = (np.memmap(self.directory / "tokens.int32", dtype=np.int32, mode="r", shape=(tokens,))
                       if tokens else np.zeros(0, dtype=np.int32))
        self.lengths = np.diff(self.offsets)  # (N,) int64, in memory: 8 bytes a row

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> list[int]:
        return self.tokens[self.offsets[index]:self.offsets[index + 1]].tolist()


def write_token_store(tokenizer: StudentTokenizer, texts: Iterable[str], max_length: int, directory: str | Path,
                      key: str = "", *, chunk_rows: int = STORE_CHUNK_ROWS) -> TokenStore:
    """Encode ``texts`` in one streaming pass into a ``TokenStore`` at ``directory``; reuse it when ``key`` matches.

    ``texts`` may be any iterable (a generator over a huge file): ``chunk_rows``
    texts are encoded at a time and appended to ``tokens.int32`` (raw int32, so the
    file can grow without knowing its final size), their end offsets to a list of
    8 bytes a row. The folder is built beside the target and renamed into place.
    ``key`` names the content (texts, tokenizer, max_length) so a stale store is rebuilt.
    """
    import shutil

    import numpy as np

    directory = Path(directory)
    if (directory / TOKEN_STORE_META).is_file():
        store = TokenStore(directory)
        if key and store.key == key:
            return store
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ends: list[np.ndarray] = []  # per chunk: end offset of each row
    total = 0
    iterator = iter(texts)
    with (tmp / "tokens.int32").open("wb") as handle:
        while True:
            chunk = [text for _, text in zip(range(chunk_rows), iterator)]
            if not chunk:
                break
            encoded = encode_texts(tokenizer, chunk, max_length)
            lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
            flat = np.fromiter((token for ids in encoded for token in ids), dtype=np.int32, count=int(lengths.sum()))
            handle.write(flat.tobytes())
            ends.append(total + np.cumsum(lengths))
            total += int(lengths.sum())
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), *ends]).astype(np.int64)  # (N + 1,)
    np.save(tmp / "offsets.npy", offsets)
    (tmp / TOKEN_STORE_META).write_text(json.dumps({"key": key, "rows": len(offsets) - 1, "tokens": total,
                                                    "max_length": max_length}), encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return TokenStore(directory)

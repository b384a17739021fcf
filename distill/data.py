"""Corpus reading, dedup + splitting, tokenisation and batching for the students.

Reading is strict on purpose: a byte that cannot be decoded, a quote that never
closes or an empty text stops the run with a ``CorpusError`` naming the file,
the line and a stable ``code``, instead of silently training on damaged data.

torch and jieba are imported inside the functions that need them, so the web
process can preview an upload without loading either.
"""
from __future__ import annotations

import codecs
import csv
import json
import logging
import unicodedata
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

TEXT_COLUMN_NAMES = ("text", "texts", "review", "reviews", "content", "contents", "sentence", "sentences",
                     "comment", "body", "document", "内容", "评论", "文本", "句子", "正文")
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "tag",
                      "标签", "类别", "分类", "情感")


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
    encoding: str  # "utf-8", "utf-8-sig" or "gb18030"
    columns: list[str]
    examples: list[Example]
    has_label_column: bool  # False: every row is unlabeled because the label column does not exist

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
    """Return the codec that decodes the whole file strictly: UTF-8 (BOM or not), else GB18030.

    Streams the file in chunks, so a large corpus is checked without holding it
    in memory; a NUL byte means the file is binary, not text.
    """
    display = str(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise CorpusError("the file is empty", path=display, code="empty_file")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CorpusError("the file is UTF-16; save it as UTF-8 and upload it again", path=display,
                          code="bad_encoding", encoding="utf-16")
    if head.startswith(codecs.BOM_UTF8):
        failure = _decode_failure(path, "utf-8-sig")
        if failure is None:
            return "utf-8-sig"
        _raise_bad_encoding(path, {"UTF-8": failure})
    failures: dict[str, tuple[int, int]] = {}
    for name, codec in (("UTF-8", "utf-8"), ("GB18030", "gb18030")):
        failure = _decode_failure(path, codec)
        if failure is None:
            return codec
        failures[name] = failure
    _raise_bad_encoding(path, failures)


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
    message = f"the file is neither UTF-8 nor GB18030 text ({tried})"
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


def _format_of(path: Path, encoding: str) -> str:
    by_extension = _EXTENSIONS.get(path.suffix.lower())
    if by_extension:
        return by_extension
    with path.open("r", encoding=encoding, newline="") as handle:
        head = handle.read(_SNIFF_BYTES)
    first = next((line for line in head.splitlines() if line.strip()), "")
    stripped = first.lstrip()
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        raise CorpusError("the file is one JSON array; save it as JSON Lines (one object per line)",
                          path=str(path), line=1, code="unsupported_format")
    return "tsv" if first.count("\t") > first.count(",") else "csv"


def _delimited_records(handle: Iterable[str], fmt: str, path: str) -> Iterator[tuple[int, list[str]]]:
    """(start line, cells) per non-blank record of a CSV/TSV stream."""
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
                detail = (f"a cell in this row is longer than {_CSV_FIELD_LIMIT:,} characters; "
                          "usually a quote that never closes")
            else:
                detail = f"the row is not valid {fmt.upper()} ({reason})"
            raise CorpusError(detail, path=path, line=start, code="malformed_row", reason=reason) from None
        if cells and any(cell.strip() for cell in cells):
            yield start, cells


def _iter_records(handle: Iterable[str], fmt: str, path: str,
                  columns: list[str]) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line, record) per row, for any of the three formats.

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
    header = [name.strip() for name in header]
    columns[:] = header
    for line, cells in records:
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

    Nothing is kept per row, so a corpus larger than RAM can be streamed into a
    ``rows.RowStore``. Each iteration reads the file again from the start.
    """

    def __init__(self, path: str | Path, text_column: str = "text", label_column: str = "label", *,
                 max_text_chars: int = 10_000, max_rows: int = 0, task: str = "single") -> None:
        self.path = Path(path)
        self.text_column = text_column
        self.label_column = label_column
        self.max_text_chars = max_text_chars
        self.max_rows = max_rows
        self.task = get_task(task)
        self.encoding = _detect_encoding(self.path)
        self.format = _format_of(self.path, self.encoding)
        self.columns: list[str] = []

    @property
    def has_label_column(self) -> bool:
        """False once read: every row is unlabeled because the label column does not exist."""
        return self.label_column in self.columns

    def __iter__(self) -> Iterator[Example]:
        display = str(self.path)
        count = 0
        checked_columns = False
        with self.path.open("r", encoding=self.encoding, newline="") as handle:
            for line, record in _iter_records(handle, self.format, display, self.columns):
                if not checked_columns or self.format == "jsonl":
                    if self.text_column not in record:
                        raise CorpusError(_missing_column_message(self.text_column, self.columns), path=display,
                                          line=line if self.format == "jsonl" else 1, code="missing_column",
                                          column=self.text_column, columns=list(self.columns))
                    checked_columns = True
                yield self.task.read_record(record, line, text_column=self.text_column, label_column=self.label_column,
                                            path=display, max_text_chars=self.max_text_chars)
                count += 1
                if self.max_rows and count >= self.max_rows:
                    break
        if not count:
            if self.columns:
                raise CorpusError("the file has a header but no rows", path=display, code="no_rows",
                                  columns=list(self.columns))
            raise CorpusError("the file has no rows", path=display, code="empty_file")


def read_corpus(path: str | Path, text_column: str = "text", label_column: str = "label", *,
                max_text_chars: int = 10_000, max_rows: int = 0, task: str = "single") -> Corpus:
    """Read a CSV/TSV/JSONL corpus strictly into memory (see ``CorpusStream`` for large files).

    A missing label column is not an error: the corpus is then a transfer set of
    unlabeled texts (``Corpus.has_label_column`` says so).
    """
    stream = CorpusStream(path, text_column, label_column, max_text_chars=max_text_chars, max_rows=max_rows,
                          task=task)
    examples = list(stream)
    return Corpus(path=str(stream.path), format=stream.format, encoding=stream.encoding, columns=list(stream.columns),
                  examples=examples, has_label_column=stream.has_label_column)


def _missing_column_message(column: str, columns: Sequence[str]) -> str:
    existing = ", ".join(repr(name) for name in columns) or "none"
    return f"there is no column named {column!r}; the columns are: {existing}"


def preview_corpus(path: str | Path, rows: int = 10) -> CorpusPreview:
    """The first rows of a file as cells, plus guesses for the text and label columns."""
    path = Path(path)
    encoding = _detect_encoding(path)
    fmt = _format_of(path, encoding)
    shown: list[dict[str, str]] = []
    columns: list[str] = []
    with path.open("r", encoding=encoding, newline="") as handle:
        for _, record in _iter_records(handle, fmt, str(path), columns):
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
                         guessed_text_column=text_guess, guessed_label_column=label_guess)


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

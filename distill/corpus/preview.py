"""The first rows of an uploaded file, with guesses for its text and label columns.

A CoNLL file (conll.py), known by its suffix or its content, has no header: its first
sentences are shown as rows of the columns it is read into, text and tags.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .conll import CONLL_COLUMNS, CONLL_SUFFIXES, BadSentence, iter_conll, looks_like_conll
from .encoding import GARBLED_WARNING_SHARE, detect_encoding, garbled_share
from .formats import SNIFF_BYTES, format_of, iter_records

TEXT_COLUMN_NAMES = ("text", "texts", "review", "reviews", "content", "contents", "sentence", "sentences",
                     "comment", "body", "document", "内容", "內容", "评论", "評論", "评价", "評價", "文本", "句子",
                     "正文")
# Simplified and Traditional spellings, and the star ratings review sites export ("星级", "rating").
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "cat", "sentiment", "polarity", "target", "tag",
                      "rating", "stars", "标签", "標籤", "类别", "類別", "分类", "分類", "情感", "星级", "星級",
                      "评分", "評分", "标注", "標註")


@dataclass
class CorpusPreview:
    format: str  # "csv", "tsv", "jsonl" or "conll"
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


def preview_corpus(path: str | Path, rows: int = 10, encoding: str = "") -> CorpusPreview:
    """The first rows of a file as cells, plus guesses for the text and label columns.

    ``encoding`` forces a codec as in ``CorpusStream``; ``detected_encoding`` still
    says what detection would choose, and ``garbled_share`` how odd the decoded head looks.
    """
    path = Path(path)
    detected = _detect_encoding_or_empty(path) if encoding else detect_encoding(path)
    encoding = encoding or detected
    errors = "replace" if encoding != detected else "strict"
    shown: list[dict[str, str]] = []
    columns: list[str] = []
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        head = handle.read(SNIFF_BYTES)
    garbled = garbled_share(head)
    if path.suffix.lower() in CONLL_SUFFIXES or looks_like_conll(head):
        fmt = "conll"
    else:
        fmt = format_of(path, encoding, errors)
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        if fmt == "conll":
            columns[:] = CONLL_COLUMNS
            records = iter_conll(handle, str(path), *CONLL_COLUMNS)
        else:
            records = iter_records(handle, fmt, str(path), columns)
        for _, record in records:
            if record is None or isinstance(record, BadSentence):
                continue
            shown.append({key: value or "" for key, value in record.items()})
            if len(shown) >= rows:
                break
    if not columns:
        raise CorpusError("the file has no rows", path=str(path), code="empty_file")
    if fmt == "conll":
        text_guess, label_guess = CONLL_COLUMNS
    else:
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
        return detect_encoding(path)
    except CorpusError as error:
        if error.code == "bad_encoding":
            return ""
        raise


def _guess_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {name.strip().lower(): name for name in columns}
    for candidate in names:
        if candidate in lowered:
            return lowered[candidate]
    return None

"""The tagging task (named-entity recognition): one BIO tag per character of a sentence.

A row is a text and its entities, given either as spans (JSON Lines, the label
column, ``"entities"`` by default: ``[{"start": 0, "end": 3, "label": "PER"}]``
or doccano's ``[[0, 3, "PER"]]``) or as one tag per character (a ``tags`` list,
BIO or BIOES, or a CoNLL file, which distill/corpus/conll.py turns into such rows).
Whatever the input, the Example holds ``text`` and ``tags`` (character-level BIO,
``len(tags) == len(text)``) and no ``label``. A row with neither spans nor tags
is unlabeled (the teacher tags it). A row whose entities or tags do not fit its
text is skipped with code ``bad_tags`` and a sentence saying what does not fit.

The text is kept exactly as given, spaces included: span offsets count its characters.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..corpus.examples import Example
from ..errors import CorpusError
from .base import Task, normalize_text
from .tagging_schemes import Span, TagError, spans_to_bio, to_bio

DEFAULT_ENTITY_COLUMN = "entities"  # what the label column means for tagging while it keeps the single task's "label"
TAGS_COLUMN = "tags"  # a row may give one tag per character under this key instead of spans
SPAN_EXAMPLE = '[{"start": 0, "end": 2, "label": "PER"}]'


TAGGED = "tagged"  # the split_label of every tagged sentence (the split has one group to draw dev and test from)


class TaggingTask(Task):
    """Named entities as character-level BIO tags."""

    name = "tagging"

    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int, text_pair_column: str = "") -> Example:
        text = record.get(text_column) or ""
        if not text.strip():
            raise CorpusError(f"the {text_column!r} cell is empty", path=path, line=line, code="empty_text",
                              column=text_column)
        if max_text_chars and len(text) > max_text_chars:
            raise CorpusError(
                f"the text has {len(text):,} characters, more than the limit of {max_text_chars:,}",
                path=path, line=line, code="text_too_long", length=len(text), limit=max_text_chars)
        column = _tag_column(record, label_column)
        if column is None:
            return Example(text=text, label=None, line=line)
        try:
            tags = _char_tags(text, record.get(column), column)
        except TagError as error:
            raise CorpusError(error.message, path=path, line=line, code="bad_tags", column=column,
                              position=error.position, problem=error.problem) from None
        return Example(text=text, label=None, line=line, tags=tuple(tags))

    def dedup_key(self, example: Example) -> str:
        return normalize_text(example.text)

    def split_label(self, example: Example) -> str | None:
        # A sentence has no one class: every tagged sentence is in one group, split at random into dev and test.
        return TAGGED if example.tags is not None else None

    def labels_of(self, example: Example) -> list[str]:
        return list(dict.fromkeys(example.tags or ()))


def _tag_column(record: Mapping[str, str | None], label_column: str) -> str | None:
    """Which key holds the row's entities or tags: the label column (read as "entities" while it is the
    single task's default "label"), then "tags", then "label" itself (doccano's key); None when unlabeled.

    A key that is present labels the row even when it holds nothing: ``"entities": []`` is a sentence
    without entities, all O (the JSON reader hands an empty list on as None)."""
    preferred = DEFAULT_ENTITY_COLUMN if label_column == "label" else label_column
    for column in (preferred, TAGS_COLUMN, label_column):
        if column in record:
            return column
    return None


def _char_tags(text: str, cell: str | None, column: str) -> list[str]:
    """One BIO tag per character of ``text`` from the JSON in ``cell``: spans or tags; raises TagError."""
    if cell is None or not cell.strip():
        return ["O"] * len(text)
    try:
        value: Any = json.loads(cell)
    except json.JSONDecodeError:
        raise TagError(f"the {column!r} cell is not a JSON list of entities like {SPAN_EXAMPLE} or of tags",
                       0, "syntax") from None
    if not isinstance(value, list):
        raise TagError(f"the {column!r} cell is not a list of entities like {SPAN_EXAMPLE} or of tags", 0,
                       "syntax")
    if not value:  # no entities (a CSV cell "[]"; the JSON Lines reader hands an empty list on as None)
        return ["O"] * len(text)
    if all(isinstance(item, str) for item in value):
        if len(value) != len(text):
            raise TagError(f"{len(value)} tags for {len(text)} characters", 0, "length")
        return to_bio(value)
    return spans_to_bio(len(text), [_span(item, number) for number, item in enumerate(value, start=1)])


def _span(item: Any, number: int) -> Span:
    """``{"start", "end", "label"}`` or ``[start, end, label]`` as a Span; raises TagError otherwise."""
    if isinstance(item, dict):
        start, end, kind = item.get("start"), item.get("end"), item.get("label", item.get("type"))
    elif isinstance(item, list) and len(item) == 3:
        start, end, kind = item
    else:
        start = end = kind = None
    if not (_is_int(start) and _is_int(end) and isinstance(kind, str)):
        raise TagError(f'entity {number} is not {{"start": integer, "end": integer, "label": type}}: '
                       f"{json.dumps(item, ensure_ascii=False)[:80]}", number, "syntax")
    return start, end, kind


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

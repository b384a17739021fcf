"""The text-pair task: two texts, one label (question matching, paraphrase, inference, translation pairs).

Downstream of the reader, a pair travels as ONE string, ``first + PAIR_SEPARATOR + second``: the
teacher cache, the token stores, the splits' digests and every ``Sequence[str]`` of the pipeline
then carry pairs without a second code path, and the three places that must see two texts split
it again (the teacher's tokenizer call, the student tokenizers, the standalone predict.py). The
separator is the ASCII unit separator, a control character no text column legitimately holds;
the reader turns one found in a cell into a space, so the pair boundary is never in doubt.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..corpus.examples import Example
from ..errors import CorpusError
from .base import Task, normalize_text
from .single import SingleTextTask

PAIR_SEPARATOR = "\x1f"  # between the two texts of a pair inside the pipeline (never shown to a user)
PAIR_SHOWN_SEPARATOR = " ‖ "  # how a pair is written where a person reads it (reports, examples, CSVs)


def join_pair(first: str, second: str) -> str:
    return f"{first}{PAIR_SEPARATOR}{second}"


def split_pair(text: str) -> tuple[str, str | None]:
    """(first, second) of a joined pair; (text, None) for a single text."""
    first, separator, second = text.partition(PAIR_SEPARATOR)
    return (first, second) if separator else (text, None)


def shown_text(text: str) -> str:
    """A pipeline text as a person should read it: a pair's two texts with a visible separator."""
    return text.replace(PAIR_SEPARATOR, PAIR_SHOWN_SEPARATOR)


class PairTask(Task):
    """Two texts and one label: the label says how the second relates to the first (match or not, entails ...)."""

    name = "pair"

    def read_record(self, record: Mapping[str, str | None], line: int, *, text_column: str,
                    label_column: str, path: str, max_text_chars: int, text_pair_column: str = "") -> Example:
        if not text_pair_column:
            raise CorpusError("a pair corpus needs a second text column", path=path, line=line,
                              code="missing_pair_column")
        if text_pair_column not in record:
            raise CorpusError(f"there is no column named {text_pair_column!r} for the second text", path=path,
                              line=line, code="missing_column", column=text_pair_column, columns=list(record))
        # The first text and the label are read exactly as for a single text, with its messages.
        first = SingleTextTask().read_record(record, line, text_column=text_column, label_column=label_column,
                                             path=path, max_text_chars=max_text_chars)
        second = SingleTextTask().read_record(record, line, text_column=text_pair_column, label_column=label_column,
                                              path=path, max_text_chars=max_text_chars)
        # A stray unit separator in a cell would move the pair boundary: it becomes the space it stands for.
        return Example(text=first.text.replace(PAIR_SEPARATOR, " "), label=first.label, line=line,
                       text_pair=second.text.replace(PAIR_SEPARATOR, " "))

    def dedup_key(self, example: Example) -> str:
        # Ordered: for inference "A entails B" is not "B entails A"; a symmetric corpus lists both if it wants both.
        return join_pair(normalize_text(example.text), normalize_text(example.text_pair or ""))

    def labels_of(self, example: Example) -> list[str]:
        return [] if example.label is None else [example.label]

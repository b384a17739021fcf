"""CoNLL-style tagging files: one character (or token) and its tag per line, a blank line between sentences.

    江 B-PER          the token is the first field, the tag the last (CoNLL-2003's
    泽 I-PER          middle columns are ignored); tab- or space-separated;
    民 I-PER          BIO or BIOES/BMES, detected per sentence; ``-DOCSTART-``
    说 O              lines end a sentence and are otherwise ignored.

A token of several characters (a Latin word, a number) is spread over its
characters: the first keeps the token's tag, the others continue its entity
(I-) or stay O. Each sentence becomes one record ``{text_column: text,
label_column: JSON list of character BIO tags}`` for the tagging task to read,
numbered by its first line; a sentence that cannot be read becomes a
``BadSentence``, which the reader skips and counts like any bad row.

A file is taken for CoNLL by its content too, whatever its name (``looks_like_conll``):
an upload called ``train.txt`` or ``ner.tsv`` is still one character and its tag a line.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from ..tasks.tagging_schemes import TagError, split_tag, to_bio

CONLL_SUFFIXES = (".conll", ".conllu", ".bio", ".bioes", ".bmes", ".iob", ".iob2", ".ner")  # always CoNLL
SNIFFED_SUFFIXES = (".txt", "")  # CoNLL, or JSON Lines when the first line is an object
DOCSTART = "-DOCSTART-"
CONLL_COLUMNS = ("text", "tags")  # the columns a CoNLL file's sentences are read into (it has no header)
# Share of the head's non-blank lines that must be a token and a tag for a file to be taken for CoNLL by its
# content: a few broken lines (the head's last, cut line; a stray note) still leave a real CoNLL file well above.
CONLL_SNIFF_SHARE = 0.9


@dataclass(frozen=True)
class BadSentence:
    """A sentence that cannot be used, with the error (code ``bad_tags``) and its text to show."""

    error: CorpusError
    text: str


def looks_like_conll(head: str) -> bool:
    """Whether the first characters of a file read as CoNLL, whatever the file is called.

    Most non-blank lines must be a token without spaces, whitespace and a tag (O, or B-/I-/E-/S-/M- and a
    type), at least one tag must open an entity, and a blank line must end a sentence: a TSV of texts and
    labels, or a part-of-speech file (``北京 ns``), has no such lines, or no entity tags.
    """
    tagged = untagged = 0
    entity = ended = False
    for line in head.splitlines():
        if not line.strip() or line.startswith(DOCSTART):
            ended = ended or bool(tagged or untagged)
            continue
        fields = _fields(line)
        if len(fields) >= 2 and fields[0] and not any(char.isspace() for char in fields[0]) \
                and _is_tag(fields[-1].strip()):
            tagged += 1
            entity = entity or fields[-1].strip() != "O"
        else:
            untagged += 1
    return ended and entity and tagged >= 2 and tagged >= CONLL_SNIFF_SHARE * (tagged + untagged)


def _is_tag(text: str) -> bool:
    try:
        split_tag(text)
    except TagError:
        return False
    return True


def _fields(line: str) -> list[str]:
    """A CoNLL line's fields: tab-separated when it has a tab (a token may then hold spaces), else by whitespace."""
    return line.split("\t") if "\t" in line else line.split()


def is_conll_path(path: Path, head: str) -> bool:
    """Whether a tagging corpus at ``path``, whose first characters are ``head``, is a CoNLL file."""
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES or looks_like_conll(head):
        return True
    first = next((line for line in head.splitlines() if line.strip()), "")
    return suffix in SNIFFED_SUFFIXES and not first.lstrip().startswith(("{", "["))


def iter_conll(handle: Iterable[str], path: str, text_column: str,
               label_column: str) -> Iterator[tuple[int, dict[str, str | None] | BadSentence]]:
    """(first line, record or BadSentence) per sentence of a CoNLL stream."""
    tokens: list[str] = []
    tags: list[str] = []
    lines: list[int] = []  # the physical line of each token, to point at a bad tag
    problem: tuple[str, int] | None = None  # the first unreadable line of the sentence (why, where)

    def sentence() -> tuple[int, dict[str, str | None] | BadSentence]:
        text = "".join(tokens)
        if problem is not None:
            return lines[0], BadSentence(CorpusError(problem[0], path=path, line=lines[0], code="bad_tags",
                                                     at_line=problem[1], problem="syntax"), text)
        try:
            char_tags = _spread(tokens, to_bio(tags))
        except TagError as error:
            where = f" (line {lines[error.position - 1]})" if 0 < error.position <= len(lines) else ""
            return lines[0], BadSentence(CorpusError(
                error.message.replace(f"tag {error.position} ", f"tag {error.position}{where} ", 1), path=path,
                line=lines[0], code="bad_tags", position=error.position, problem=error.problem), text)
        return lines[0], {text_column: text, label_column: json.dumps(char_tags, ensure_ascii=False)}

    for number, raw in enumerate(handle, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith(DOCSTART):
            if tokens:
                yield sentence()
            tokens, tags, lines, problem = [], [], [], None
            continue
        fields = _fields(line)
        lines.append(number)
        if len(fields) < 2 or not fields[0]:
            tokens.append(line.strip())
            problem = problem or (f"line {number} holds {line.strip()[:40]!r}, not a character and its tag", number)
            continue
        tokens.append(fields[0])
        tags.append(fields[-1].strip())
    if tokens:
        yield sentence()


def _spread(tokens: list[str], tags: list[str]) -> list[str]:
    """Token-level BIO -> character-level BIO: a token's other characters continue its entity."""
    if all(len(token) == 1 for token in tokens):  # the usual Chinese file: one character a line
        return tags
    char_tags: list[str] = []
    for token, tag in zip(tokens, tags):
        prefix, kind = split_tag(tag)
        char_tags.append(tag)
        char_tags.extend(["O" if prefix == "O" else f"I-{kind}"] * (len(token) - 1))
    return char_tags

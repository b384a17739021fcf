"""Tag schemes of the tagging task: entity spans, BIO and BIOES, and the checks that keep them consistent.

Inside the engine a tagged sentence is always one BIO tag per character (``B-PER``,
``I-PER``, ``O``). Files arrive as spans (``{"start", "end", "label"}``), BIO or
BIOES (also written BMES: ``M-`` for a middle, ``S-`` for a single); everything
here turns them into that one form, or says in plain words why it cannot, with
the 1-based position of the first bad tag.

A span is ``(start, end, type)`` with ``end`` exclusive, as Python slices are.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

Span = tuple[int, int, str]  # (start, end exclusive, entity type)

OUTSIDE = "O"
BIO_PREFIXES = ("B", "I")
BIOES_PREFIXES = ("B", "I", "M", "E", "S")  # M is BMES's spelling of I
SCHEMES = ("bio", "bioes")


class TagError(ValueError):
    """A tag sequence that breaks its scheme; ``position`` is the 1-based tag (or entity) it concerns."""

    def __init__(self, message: str, position: int, problem: str) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.problem = problem  # a stable word for what went wrong: "syntax", "unopened", "unclosed", ...


def split_tag(tag: str, position: int = 0) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. The type is everything after the first dash."""
    parts = _parts(tag)
    if parts is None:
        raise TagError(f"tag {position} is {tag!r}, not O or a prefix (B, I, E, S, M) and a type like B-PER",
                       position, "syntax")
    return parts


@lru_cache(maxsize=4096)  # a corpus has a few dozen distinct tags and millions of characters
def _parts(tag: str) -> tuple[str, str] | None:
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, kind = tag.partition("-")
    if not dash or not kind or prefix.upper() not in BIOES_PREFIXES:
        return None
    return prefix.upper(), kind


def detect_scheme(tags: Iterable[str]) -> str:
    """"bioes" when any tag has an E-, S- or M- prefix, else "bio".

    Exact for one sentence: a BIOES sentence with an entity has an E- or S- tag,
    and one without entities is all O, the same in both schemes.
    """
    tags = list(tags)
    for tag in set(tags):  # a sentence repeats a few distinct tags; each is looked at once
        if split_tag(tag, tags.index(tag) + 1)[0] in ("E", "S", "M"):
            return "bioes"
    return "bio"


def validate_bio(tags: Sequence[str]) -> None:
    """Raise TagError at the first tag that strict BIO forbids: an I-X that continues nothing of type X."""
    open_kind = ""
    for position, tag in enumerate(tags, start=1):
        prefix, kind = split_tag(tag, position)
        if prefix not in (OUTSIDE, *BIO_PREFIXES):
            raise TagError(f"tag {position} is {tag}, which is BIOES, not BIO", position, "scheme")
        if prefix == "I" and kind != open_kind:
            if not open_kind:
                raise TagError(f"tag {position} is {tag} but no entity was open (expected B-{kind} first)",
                               position, "unopened")
            raise TagError(f"tag {position} is {tag} but the open entity is {open_kind} (expected B-{kind} first)",
                           position, "type_change")
        open_kind = kind


def bioes_to_bio(tags: Sequence[str]) -> list[str]:
    """Strict BIOES (or BMES) -> BIO: every entity is S-X, or B-X, I/M-X..., E-X."""
    bio: list[str] = []
    open_kind = ""
    for position, tag in enumerate(tags, start=1):
        prefix, kind = split_tag(tag, position)
        if prefix in ("I", "M", "E"):
            if kind != open_kind:
                expected = f"B-{kind} first" if not open_kind else f"E-{open_kind} to end {open_kind} first"
                state = "no entity was open" if not open_kind else f"the open entity is {open_kind}"
                raise TagError(f"tag {position} is {tag} but {state} (expected {expected})", position,
                               "unopened" if not open_kind else "type_change")
            bio.append(f"I-{kind}")
            open_kind = "" if prefix == "E" else kind
            continue
        if open_kind:
            raise TagError(f"tag {position} is {tag} but the {open_kind} entity before it never ended "
                           f"(expected E-{open_kind})", position, "unclosed")
        bio.append(OUTSIDE if prefix == OUTSIDE else f"B-{kind}")
        open_kind = kind if prefix == "B" else ""
    if open_kind:
        raise TagError(f"the last tag ends inside a {open_kind} entity (expected E-{open_kind})", len(tags),
                       "unclosed")
    return bio


def bio_to_bioes(tags: Sequence[str]) -> list[str]:
    """Strict BIO -> BIOES: a one-tag entity becomes S-X, the last tag of a longer one E-X."""
    validate_bio(tags)
    bioes: list[str] = []
    for position, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == OUTSIDE:
            bioes.append(tag)
            continue
        continues = position + 1 < len(tags) and tags[position + 1] == f"I-{kind}"
        if prefix == "B":
            bioes.append(f"B-{kind}" if continues else f"S-{kind}")
        else:
            bioes.append(f"I-{kind}" if continues else f"E-{kind}")
    return bioes


def to_bio(tags: Sequence[str]) -> list[str]:
    """Any tag sequence of one sentence, BIO or BIOES (detected), as checked BIO; raises TagError."""
    if detect_scheme(tags) == "bioes":
        return bioes_to_bio(tags)
    validate_bio(tags)
    return list(tags)


def spans_to_bio(length: int, spans: Iterable[Span]) -> list[str]:
    """BIO tags for ``length`` characters holding ``spans``; raises TagError (1-based entity number) for a
    span outside the text, an empty one, or one overlapping another (BIO cannot nest entities)."""
    tags = [OUTSIDE] * length
    owner = [0] * length  # which entity (1-based) holds each character, to name both sides of an overlap
    for number, (start, end, kind) in enumerate(spans, start=1):
        if start < 0 or end <= start:
            raise TagError(f"entity {number} runs from {start} to {end}, which holds no characters", number,
                           "empty_span")
        if end > length:
            raise TagError(f"entity {number} ends at {end}, past the text's {length} characters", number,
                           "out_of_text")
        if not kind or any(char.isspace() for char in kind):
            raise TagError(f"entity {number} has the type {kind!r}; a type is a word like PER", number,
                           "syntax")
        clash = next((owner[index] for index in range(start, end) if owner[index]), 0)
        if clash:
            raise TagError(f"entity {number} ({start}-{end} {kind}) overlaps entity {clash}; BIO cannot tag "
                           "nested or overlapping entities", number, "overlap")
        tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
        owner[start:end] = [number] * (end - start)
    return tags


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """The entities of a BIO sequence, read as conlleval does, so predictions need not be valid BIO:
    an I-X that continues nothing of type X starts a new entity."""
    spans: list[Span] = []
    start, open_kind = 0, ""
    for position, tag in enumerate(tags):
        prefix, kind = split_tag(tag, position + 1)
        if open_kind and (prefix != "I" or kind != open_kind):
            spans.append((start, position, open_kind))
            open_kind = ""
        if prefix != OUTSIDE and not open_kind:
            start, open_kind = position, kind
    if open_kind:
        spans.append((start, len(tags), open_kind))
    return spans

"""Tag schemes: spans, BIO and BIOES turn into each other and back, and broken sequences are named by position."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distill.tasks.tagging_schemes import (TagError, bio_to_bioes, bio_to_spans, bioes_to_bio, detect_scheme,
                                           spans_to_bio, to_bio, validate_bio)

KINDS = ("PER", "LOC", "ORG", "PER.NOM")


@st.composite
def sentences(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, str]]]:
    """A length and non-overlapping spans in it, adjacent ones included (B-X right after an X entity)."""
    length = draw(st.integers(0, 40))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=12)))
    spans = []
    for start, end in zip(cuts, cuts[1:]):
        if draw(st.booleans()):
            spans.append((start, end, draw(st.sampled_from(KINDS))))
    return length, spans


@given(sentences())
def test_it_round_trips_spans_through_bio_and_bioes(sentence: tuple[int, list[tuple[int, int, str]]]) -> None:
    length, spans = sentence
    bio = spans_to_bio(length, spans)
    assert len(bio) == length
    validate_bio(bio)
    assert bio_to_spans(bio) == spans
    bioes = bio_to_bioes(bio)
    assert detect_scheme(bioes) == ("bioes" if spans else "bio")
    assert bioes_to_bio(bioes) == bio
    assert to_bio(bioes) == bio and to_bio(bio) == bio


def test_it_writes_the_expected_tags_for_each_scheme() -> None:
    spans = [(0, 3, "PER"), (3, 4, "LOC"), (6, 8, "LOC")]
    bio = spans_to_bio(9, spans)
    assert bio == ["B-PER", "I-PER", "I-PER", "B-LOC", "O", "O", "B-LOC", "I-LOC", "O"]
    assert bio_to_bioes(bio) == ["B-PER", "I-PER", "E-PER", "S-LOC", "O", "O", "B-LOC", "E-LOC", "O"]


def test_it_reads_bmes_middles_as_inside_tags() -> None:
    assert to_bio(["B-ORG", "M-ORG", "M-ORG", "E-ORG", "S-PER", "O"]) == \
        ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "B-PER", "O"]


@pytest.mark.parametrize(
    ("tags", "position", "message"),
    [
        (["O", "B-PER", "I-PER", "O", "I-PER"], 5, "tag 5 is I-PER but no entity was open (expected B-PER first)"),
        (["B-PER", "I-LOC"], 2, "tag 2 is I-LOC but the open entity is PER (expected B-LOC first)"),
        (["I-ORG"], 1, "tag 1 is I-ORG but no entity was open (expected B-ORG first)"),
        (["O", "PER"], 2, "tag 2 is 'PER', not O or a prefix"),
        (["O", "B-"], 2, "tag 2 is 'B-', not O or a prefix"),
    ],
    ids=["inside_after_outside", "type_change", "inside_first", "no_prefix", "no_type"],
)
def test_it_names_the_first_tag_strict_bio_forbids(tags: list[str], position: int, message: str) -> None:
    with pytest.raises(TagError) as caught:
        validate_bio(tags)
    assert caught.value.position == position
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("tags", "position", "message"),
    [
        (["O", "E-PER"], 2, "tag 2 is E-PER but no entity was open (expected B-PER first)"),
        (["B-PER", "O", "S-LOC"], 2, "tag 2 is O but the PER entity before it never ended (expected E-PER)"),
        (["B-PER", "E-LOC"], 2, "tag 2 is E-LOC but the open entity is PER (expected E-PER to end PER first)"),
        (["S-LOC", "B-PER", "I-PER"], 3, "the last tag ends inside a PER entity (expected E-PER)"),
        (["S-LOC", "I-LOC"], 2, "tag 2 is I-LOC but no entity was open"),
    ],
    ids=["end_unopened", "never_ended", "end_other_type", "ends_inside", "inside_after_single"],
)
def test_it_names_the_first_tag_strict_bioes_forbids(tags: list[str], position: int, message: str) -> None:
    with pytest.raises(TagError) as caught:
        to_bio(tags)
    assert caught.value.position == position
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([(0, 2, "PER"), (3, 40, "LOC")], "entity 2 ends at 40, past the text's 31 characters"),
        ([(4, 4, "PER")], "entity 1 runs from 4 to 4, which holds no characters"),
        ([(0, 5, "ORG"), (3, 6, "LOC")], "entity 2 (3-6 LOC) overlaps entity 1"),
        ([(0, 2, "")], "entity 1 has the type ''"),
    ],
    ids=["past_the_end", "empty", "overlap", "no_type"],
)
def test_it_refuses_spans_that_do_not_fit_the_text(spans: list[tuple[int, int, str]], message: str) -> None:
    with pytest.raises(TagError) as caught:
        spans_to_bio(31, spans)
    assert caught.value.message.startswith(message)


def test_it_reads_predicted_tags_leniently_as_conlleval_does() -> None:
    # A model may emit I-X without B-X; scoring still sees an entity there, as conlleval does.
    assert bio_to_spans(["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "B-LOC", "B-LOC"]) == \
        [(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "ORG"), (5, 6, "LOC"), (6, 7, "LOC")]


def test_it_detects_the_scheme_of_a_sentence() -> None:
    assert detect_scheme(["O", "B-PER", "I-PER"]) == "bio"
    assert detect_scheme(["O", "S-PER"]) == "bioes"
    assert detect_scheme(["B-PER", "E-PER"]) == "bioes"
    assert detect_scheme(["O", "O"]) == "bio"

"""Masking, POS replacement and n-gram windows: seeded, valid, and each keeping what it promises of its source."""
from __future__ import annotations

import numpy as np
import pytest

from distill.transfer.generators import (
    MASK_TOKEN,
    PosVocabulary,
    changeable,
    mask_words,
    ngram_window,
    replace_by_pos,
    segment,
    tag,
)

from .conftest import REVIEWS


def _variants(make, seed: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    return [make(text, rng) for text in REVIEWS]


def test_it_cuts_and_tags_words_that_join_back_to_the_text() -> None:
    for text in [*REVIEWS, " 我 很喜欢\n这本书,  真的! "]:
        assert "".join(segment(text)) == text
        assert "".join(word for word, _ in tag(text)) == text


def test_it_masks_at_least_one_word_deterministically_under_a_seed() -> None:
    def make(text: str, rng: np.random.Generator) -> str | None:
        return mask_words(segment(text), 0.1, rng)

    first, again, other = _variants(make, 3), _variants(make, 3), _variants(make, 4)

    assert first == again and first != other
    for source, variant in zip(REVIEWS, first):
        assert variant is not None and variant != source and MASK_TOKEN in variant
        # Put the masked words back: every other character is the source's, in order.
        pieces = variant.split(MASK_TOKEN)
        position = 0
        for piece in pieces:
            found = source.find(piece, position)
            assert found >= position
            position = found + len(piece)


def test_it_masks_each_word_with_the_given_probability() -> None:
    rng = np.random.default_rng(0)
    words = segment("这家酒店的房间很干净服务员也非常热情早餐种类很多味道也不错")
    eligible = sum(changeable(word) for word in words)
    masked = [mask_words(words, 0.5, rng).count(MASK_TOKEN) for _ in range(400)]

    assert abs(np.mean(masked) / eligible - 0.5) < 0.05
    assert mask_words(words, 1.0, rng) == MASK_TOKEN * eligible  # punctuation-free: every word masked
    assert mask_words(["，", "。"], 0.5, rng) is None  # nothing that can be masked: no variant


def test_it_replaces_words_by_corpus_words_of_the_same_tag_keeping_the_tag_sequence() -> None:
    tagged_texts = [tag(text) for text in REVIEWS]
    vocabulary = PosVocabulary.build(tagged_texts)
    rng = np.random.default_rng(5)

    replaced_any = 0
    for source, tagged in zip(REVIEWS, tagged_texts):
        replaced = replace_by_pos(tagged, vocabulary, 0.2, rng)
        assert replaced is not None
        assert [tag_name for _, tag_name in replaced] == [tag_name for _, tag_name in tagged]  # POS sequence kept
        changed = [(old, new) for old, new in zip(tagged, replaced) if old[0] != new[0]]
        assert changed and "".join(word for word, _ in replaced) != source
        for (old_word, tag_name), (new_word, _) in changed:
            assert new_word in vocabulary.words(tag_name) and vocabulary.count(new_word, tag_name) > 0
            assert tag_name != "x"  # punctuation never moves
        replaced_any += len(changed)
    assert replaced_any > len(REVIEWS)  # 0.2 of the words, not just the one guaranteed

    def make(text: str, rng: np.random.Generator) -> str:
        return "".join(word for word, _ in replace_by_pos(tag(text), vocabulary, 0.2, rng))

    assert _variants(make, 5) == _variants(make, 5) != _variants(make, 6)


def test_it_draws_pos_replacements_by_corpus_frequency_leaving_the_word_itself_out() -> None:
    vocabulary = PosVocabulary.build([[("好", "a")] * 6 + [("差", "a")] * 3 + [("旧", "a")]])
    rng = np.random.default_rng(1)

    drawn = [vocabulary.draw("差", "a", rng) for _ in range(3000)]

    assert "差" not in drawn
    assert abs(drawn.count("好") / len(drawn) - 6 / 7) < 0.03  # 6 : 1 between the other two words
    assert not vocabulary.replaceable("好", "v")  # no word of that tag in the corpus
    assert not PosVocabulary.build([[("好", "a")]]).replaceable("好", "a")  # it would only replace itself


@pytest.mark.parametrize("seed", [0, 1])
def test_it_keeps_ngram_windows_that_are_shorter_contiguous_substrings(seed: int) -> None:
    def make(text: str, rng: np.random.Generator) -> str | None:
        return ngram_window(segment(text), 2, 5, rng)

    first = _variants(make, seed)

    assert first == _variants(make, seed)
    for source, window in zip(REVIEWS, first):
        assert window is not None and window in source and len(window) < len(source)
        assert changeable(window[0])  # starts on a word, not on a comma
        assert 1 <= len(segment(window)) <= 5 + 2  # re-cutting a window may split or join at its edges
    assert ngram_window(segment("很好"), 2, 5, np.random.default_rng(0)) is None  # two words: no shorter window

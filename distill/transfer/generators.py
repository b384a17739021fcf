"""Variants of one text without a model (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into
Simple Neural Networks", §3.1): masking words, swapping a word for another of the same part of speech, and
keeping an n-gram window.

Each generator takes a source already cut into jieba words (the builder cuts each source once) and a
``numpy.random.Generator``, so the same words and the same generator state give the same variant. It
returns the variant, which is never empty and never the source, or None when the source admits none (too
short, or no word that can change). Only words holding a letter or a digit change: punctuation and spaces
carry no meaning a variant should vary.
"""
from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jieba
import jieba.posseg
import numpy as np

MASK_TOKEN = "[MASK]"  # the literal a masked word becomes; the student tokenizers read it as one unknown token
UNTAGGED = "x"  # jieba.posseg's tag for punctuation, spaces and symbols: never replaced


def segment(text: str) -> list[str]:
    """jieba words of ``text``; they join back to the text exactly (spaces and punctuation are words too)."""
    return _jieba().lcut(text)


def tag(text: str) -> list[tuple[str, str]]:
    """(word, part-of-speech tag) pairs of ``text`` by jieba.posseg, joining back to the text exactly.

    Without jieba's HMM: it is ~9x faster, and what it adds (guessing words not in the dictionary) matters
    little when only dictionary words of a known tag are swapped.
    """
    _jieba()
    return [(pair.word, pair.flag) for pair in jieba.posseg.cut(text, HMM=False)]


def changeable(word: str) -> bool:
    """Whether a variant may change this word: it holds a letter or a digit (Chinese characters count)."""
    return any(char.isalnum() for char in word)


def choose_slots(slots: Sequence[int], probability: float, rng: np.random.Generator) -> list[int]:
    """Each slot with ``probability``, and at least one (drawn uniformly when the coin chose none)."""
    if not slots:
        return []
    drawn = rng.random(len(slots)) < probability  # (S,) one coin a slot
    chosen = [slot for slot, hit in zip(slots, drawn) if hit]
    return chosen or [slots[int(rng.integers(len(slots)))]]


def mask_words(words: Sequence[str], probability: float, rng: np.random.Generator) -> str | None:
    """The text with each changeable word replaced by "[MASK]" with ``probability``, at least one."""
    chosen = choose_slots([index for index, word in enumerate(words) if changeable(word)], probability, rng)
    if not chosen:
        return None
    masked = list(words)
    for index in chosen:
        masked[index] = MASK_TOKEN
    return "".join(masked)


def ngram_window(words: Sequence[str], min_words: int, max_words: int, rng: np.random.Generator) -> str | None:
    """A contiguous window of n words, n uniform in [min_words, max_words] and fewer than the text has.

    The window drops leading punctuation and surrounding spaces, so it is still a substring of the source.
    """
    longest = min(max_words, len(words) - 1)
    if longest < max(min_words, 1):
        return None
    size = int(rng.integers(max(min_words, 1), longest + 1))
    start = int(rng.integers(0, len(words) - size + 1))
    window = list(words[start:start + size])
    while window and not changeable(window[0]):
        window.pop(0)  # a window opening on a comma reads as a fragment; it starts at its first word instead
    text = "".join(window).strip()
    if not any(changeable(word) for word in window) or text == "".join(words).strip():
        return None
    return text


@dataclass
class _TagWords:
    """The corpus words of one tag, most frequent first, for frequency-weighted draws."""

    words: list[str]
    cumulative: np.ndarray  # (W,) int64: running sum of the words' counts
    index: dict[str, int]

    def count(self, position: int) -> int:
        return int(self.cumulative[position] - (self.cumulative[position - 1] if position else 0))


class PosVocabulary:
    """Part-of-speech tag -> the corpus's words of that tag with their counts, built once from the sources."""

    def __init__(self, counts: dict[str, Counter[str]]) -> None:
        self._tags: dict[str, _TagWords] = {}
        for tag_name, words in counts.items():
            ranked = sorted(words.items(), key=lambda item: (-item[1], item[0]))  # ties by word: stable draws
            self._tags[tag_name] = _TagWords(words=[word for word, _ in ranked],
                                             cumulative=np.cumsum([count for _, count in ranked], dtype=np.int64),
                                             index={word: position for position, (word, _) in enumerate(ranked)})

    @classmethod
    def build(cls, tagged_texts: Iterable[Sequence[tuple[str, str]]]) -> "PosVocabulary":
        counts: dict[str, Counter[str]] = {}
        for tagged in tagged_texts:
            for word, tag_name in tagged:
                if tag_name != UNTAGGED and changeable(word):
                    counts.setdefault(tag_name, Counter())[word] += 1
        return cls(counts)

    def words(self, tag_name: str) -> list[str]:
        entry = self._tags.get(tag_name)
        return list(entry.words) if entry else []

    def count(self, word: str, tag_name: str) -> int:
        entry = self._tags.get(tag_name)
        position = entry.index.get(word) if entry else None
        return 0 if entry is None or position is None else entry.count(position)

    def replaceable(self, word: str, tag_name: str) -> bool:
        """Whether the vocabulary holds another word of this tag to put in the word's place."""
        entry = self._tags.get(tag_name)
        if entry is None or tag_name == UNTAGGED or not changeable(word):
            return False
        return len(entry.words) > (1 if word in entry.index else 0)

    def draw(self, word: str, tag_name: str, rng: np.random.Generator) -> str:
        """Another word of ``tag_name``, drawn by corpus frequency with ``word`` itself left out."""
        entry = self._tags[tag_name]
        own = entry.index.get(word)
        left_out = entry.count(own) if own is not None else 0
        point = rng.random() * (int(entry.cumulative[-1]) - left_out)
        position = int(np.searchsorted(entry.cumulative, point, side="right"))
        if own is not None and position >= own:
            # The point fell at or past the left-out word: shift it by that word's count, which lands past it.
            position = int(np.searchsorted(entry.cumulative, point + left_out, side="right"))
        return entry.words[min(position, len(entry.words) - 1)]


def replace_by_pos(tagged: Sequence[tuple[str, str]], vocabulary: PosVocabulary, probability: float,
                   rng: np.random.Generator) -> list[tuple[str, str]] | None:
    """The tagged words with each replaceable word swapped, with ``probability`` (at least one), for another
    corpus word of the same tag; the tag sequence is kept. Join the words for the text."""
    slots = [index for index, (word, tag_name) in enumerate(tagged) if vocabulary.replaceable(word, tag_name)]
    chosen = choose_slots(slots, probability, rng)
    if not chosen:
        return None
    replaced = list(tagged)
    for index in chosen:
        word, tag_name = tagged[index]
        replaced[index] = (vocabulary.draw(word, tag_name, rng), tag_name)
    return replaced


@functools.cache
def _jieba() -> Any:
    # jieba logs its dictionary loading at DEBUG/INFO on every process start. Once: setLevel clears
    # logging's caches, which costs more than the cut itself.
    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba

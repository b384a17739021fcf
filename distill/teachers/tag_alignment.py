"""Character tags <-> teacher-token labels, through a fast tokenizer's character offsets.

The tagging task keeps one BIO tag per character; a teacher (bert-base-chinese)
sees WordPiece tokens. Chinese characters are one token each, but a number or a
Latin word is one word of several characters split into sub-tokens
("iPhone" -> "i", "##ph", "##one"), spaces vanish and a rare character becomes
[UNK] (whose offsets still point at it). Training labels go on the first
sub-token of each word only (the others and the special tokens get -100, the
loss's ignore index), as in the usual BERT NER recipe; predictions come back to
characters the same way: a word's other characters continue its entity.

Any tokenizer called like a transformers fast tokenizer works; nothing here imports torch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..tasks.tagging_schemes import split_tag

IGNORE_LABEL = -100  # the label the cross-entropy of the training loop ignores (distill.training.losses.IGNORE_INDEX)


def token_labels(text: str, char_tags: Sequence[str], tokenizer: Any, label_ids: Mapping[str, int],
                 max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, one label id per token) for ``text`` and its character tags, truncated to ``max_length``.

    A word's first sub-token gets the tag of its first character; special tokens and later sub-tokens
    get IGNORE_LABEL. An entity that starts inside a word cannot be shown to the teacher and is lost.
    """
    if len(char_tags) != len(text):
        raise ValueError(f"{len(char_tags)} tags for {len(text)} characters")
    encoding = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
    word_ids = encoding.word_ids()
    labels: list[int] = []
    previous_word: int | None = None
    for (start, end), word in zip(encoding["offset_mapping"], word_ids):
        if word is None or end <= start:
            labels.append(IGNORE_LABEL)
        elif word == previous_word:
            labels.append(IGNORE_LABEL)
        else:
            labels.append(label_ids[char_tags[start]])
        previous_word = word
    return list(encoding["input_ids"]), labels


def char_tags_from_tokens(text: str, offsets: Sequence[tuple[int, int]], token_tag_ids: Sequence[int],
                          tags: Sequence[str]) -> list[str]:
    """One BIO tag per character of ``text`` from per-token predictions (``tags[id]`` names an id).

    A token with a negative id (IGNORE_LABEL: a later sub-token) and the rest of every token's characters
    continue the entity the token before started (I-X), or stay O. Special tokens (empty offsets) are
    skipped. Characters no token covers (spaces the tokenizer dropped, text cut off by truncation) are O,
    except a gap inside one entity (the next token continues it with I-X), which keeps the entity whole.
    """
    char_tags = ["O"] * len(text)
    kind = ""  # the entity type the previous token ended in, "" for O
    last_end = 0
    for (start, end), tag_id in zip(offsets, token_tag_ids):
        if end <= start:
            continue
        if tag_id >= 0:
            prefix, token_kind = split_tag(tags[tag_id])
            if kind and prefix == "I" and token_kind == kind:
                char_tags[last_end:start] = [f"I-{kind}"] * (start - last_end)  # a dropped space inside it
            char_tags[start] = tags[tag_id]
            kind = token_kind
        else:
            char_tags[start] = f"I-{kind}" if kind else "O"
        char_tags[start + 1:end] = [f"I-{kind}" if kind else "O"] * (end - start - 1)
        last_end = end
    return char_tags

"""One token per character, for tagging students: the i-th id is the i-th character of the text.

A tagger's tags, the teacher's per-character logits and the entities' offsets all count the text's
characters, so the student must read exactly one token for each of them. ``CharTokenizer.encode``
cannot: it drops whitespace and NFKC-normalises the whole text, which may change its length ("…"
becomes "..."). Here each character is looked up on its own; predict.py's ``encode_characters`` is
the same function for the download (tests/distill/tokens/test_character_encoding.py checks both agree).
"""
from __future__ import annotations

import unicodedata

from ..errors import ConfigError
from .tokenizer import StudentTokenizer


def character_token(char: str) -> str:
    """The vocabulary entry of one character: its NFKC form when that is one character, else the character."""
    normalized = unicodedata.normalize("NFKC", char)
    # Full-width Ｆ -> F keeps one character; "…" -> "..." or "㈱" -> "(株)" would not, so they stay as written.
    return normalized if len(normalized) == 1 else char


def encode_characters(tokenizer: StudentTokenizer, text: str, max_length: int) -> list[int]:
    """Exactly ``min(len(text), max_length)`` ids, one per character; whitespace and unknown characters are [UNK].

    Unlike ``encode``, an empty text gives no ids: there is no character to tag.
    """
    token_to_id = getattr(tokenizer, "token_to_id", None)
    if token_to_id is None or tokenizer.kind != "char":
        raise ConfigError("a tagging student reads one token per character: it needs the char tokenizer, "
                          f"not {tokenizer.kind!r}", code="tagger_tokenizer_unsupported", tokenizer=tokenizer.kind)
    unk_id = tokenizer.unk_id
    # Whitespace is [UNK], not dropped: it still has a tag (O) and a place in the offsets.
    return [unk_id if char.isspace() else token_to_id.get(character_token(char), unk_id)
            for char in text[:max_length]]

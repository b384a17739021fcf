"""A tagging student reads one token per character, and predict.py reads the same ids."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from distill import export
from distill.errors import ConfigError
from distill.tokens.characters import encode_characters
from distill.tokens.store import write_token_store
from distill.tokens.tokenizer import CharTokenizer, WordTokenizer

VOCAB_TEXTS = ["江泽民在北京", "Full width ABC123", "空白很多"]
# Whitespace of every kind, full-width forms (NFKC keeps one character), characters NFKC would turn into
# several ("…" -> "...", "㈱" -> "(株)"), a combining accent, an emoji, unseen characters, a literal [MASK].
TRICKY = ["江泽民在北京", "", "好", "  空白 \t 很多 \n", "Ｆｕｌｌ　ｗｉｄｔｈ ＡＢＣ１２３", "等等…㈱", "cafe\u0301",
          "😀北京", "未见过的字：龘靐齉", "这家[MASK]很好", "北京" * 50]


@pytest.fixture(scope="module")
def tokenizer() -> CharTokenizer:
    return CharTokenizer.build(VOCAB_TEXTS)


def test_it_gives_one_id_per_character_up_to_max_length(tokenizer: CharTokenizer) -> None:
    for text in TRICKY:
        for max_length in (1, 5, 64):
            assert len(encode_characters(tokenizer, text, max_length)) == min(len(text), max_length), text


def test_it_maps_whitespace_and_unknown_characters_to_unk_and_normalises_one_character_at_a_time(
        tokenizer: CharTokenizer) -> None:
    ids = encode_characters(tokenizer, "江 Ａ…龘", 64)
    unk = tokenizer.unk_id
    assert ids == [tokenizer.token_to_id["江"], unk, tokenizer.token_to_id["A"], unk, unk]
    # "…" is not "..." here: NFKC would make it three characters and shift every tag after it.
    assert encode_characters(tokenizer, "…", 64) == [unk]
    # Where the whole-text encoding agrees (no whitespace, NFKC keeps lengths), so do the ids.
    assert encode_characters(tokenizer, "ＡＢＣ北京", 64) == tokenizer.encode("ＡＢＣ北京", 64)


def test_it_refuses_a_tokenizer_that_is_not_per_character() -> None:
    with pytest.raises(ConfigError):
        encode_characters(WordTokenizer.build(VOCAB_TEXTS), "北京", 64)


def test_predict_py_reads_the_same_character_ids(tokenizer: CharTokenizer, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("standalone_predict", export.STANDALONE_PREDICT)
    assert spec is not None and spec.loader is not None
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    tokenizer.save(tmp_path / "vocab.json")
    standalone = predict.load_tokenizer(tmp_path / "vocab.json")
    for max_length in (1, 7, 64):
        assert [standalone.encode_characters(text, max_length) for text in TRICKY] == \
               [encode_characters(tokenizer, text, max_length) for text in TRICKY]


def test_a_token_store_can_hold_one_id_per_character(tokenizer: CharTokenizer, tmp_path: Path) -> None:
    store = write_token_store(tokenizer, iter(TRICKY), 16, tmp_path / "store", key="chars", chunk_rows=4,
                              per_character=True)
    assert [store[index] for index in range(len(store))] == [encode_characters(tokenizer, text, 16) for text in TRICKY]
    assert list(store.lengths) == [min(len(text), 16) for text in TRICKY]

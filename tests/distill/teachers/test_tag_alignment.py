"""Character tags to teacher-token labels and back, with the real bert-base-chinese vocabulary."""
from __future__ import annotations

from pathlib import Path

import pytest

from distill.tasks.tagging_schemes import spans_to_bio
from distill.teachers.tag_alignment import IGNORE_LABEL, char_tags_from_tokens, token_labels

VOCAB = Path("/work/shared/data/bert-base-chinese-vocab.txt")
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PROD", "I-PROD", "B-DATE", "I-DATE"]
LABEL_IDS = {tag: index for index, tag in enumerate(TAGS)}
RARE = "\U0002003e"  # an Extension B ideograph outside the vocabulary: [UNK]
# digits, a Latin word, a space, full-width punctuation and a rare character
TEXT = f"2024年苹果在{RARE}村发布iPhone 15，王小明说：好！"
SPANS = [(0, 5, "DATE"), (5, 7, "ORG"), (8, 10, "LOC"), (12, 21, "PROD"), (22, 25, "PER")]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import BertTokenizerFast

    if not VOCAB.is_file():
        pytest.skip("the bert-base-chinese vocabulary is not in /work/shared/data")
    # BertTokenizerFast(vocab_file=...) keeps only the special tokens in this transformers release.
    vocab = VOCAB.read_text(encoding="utf-8").splitlines()
    return BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, tokenize_chinese_chars=True)


def offsets_of(tokenizer, text: str, max_length: int = 64) -> list[tuple[int, int]]:
    return [tuple(pair) for pair in tokenizer(text, truncation=True, max_length=max_length,
                                              return_offsets_mapping=True)["offset_mapping"]]


def test_it_labels_the_first_sub_token_of_each_word_and_ignores_the_rest(tokenizer) -> None:
    char_tags = spans_to_bio(len(TEXT), SPANS)
    input_ids, labels = token_labels(TEXT, char_tags, tokenizer, LABEL_IDS, max_length=64)
    tokens = tokenizer.convert_ids_to_tokens(input_ids)
    assert tokens[:3] == ["[CLS]", "202", "##4"] and "[UNK]" in tokens and "iphone" in tokens
    by_token = dict(zip(tokens, labels))
    assert (labels[0], labels[-1]) == (IGNORE_LABEL, IGNORE_LABEL)  # [CLS], [SEP]
    assert by_token["202"] == LABEL_IDS["B-DATE"] and by_token["##4"] == IGNORE_LABEL
    assert labels[tokens.index("年")] == LABEL_IDS["I-DATE"]
    assert labels[tokens.index("[UNK]")] == LABEL_IDS["B-LOC"]  # the rare character, found by its offsets
    assert by_token["iphone"] == LABEL_IDS["B-PROD"] and by_token["15"] == LABEL_IDS["I-PROD"]
    assert labels[tokens.index("王")] == LABEL_IDS["B-PER"] and labels[tokens.index("，")] == LABEL_IDS["O"]
    assert len(input_ids) == len(labels)


def test_it_round_trips_character_tags_through_token_labels(tokenizer) -> None:
    for text, spans in [(TEXT, SPANS), ("上海 浦东 新区", [(0, 2, "LOC"), (3, 8, "LOC")]),
                        ("没有实体的句子。", []), ("在2024年", [(1, 6, "DATE")])]:
        char_tags = spans_to_bio(len(text), spans)
        _, labels = token_labels(text, char_tags, tokenizer, LABEL_IDS, max_length=64)
        assert char_tags_from_tokens(text, offsets_of(tokenizer, text), labels, TAGS) == char_tags, text


def test_it_gives_dropped_spaces_o_and_continues_words_over_their_characters(tokenizer) -> None:
    text = "iPhone 好"
    offsets = offsets_of(tokenizer, text)  # [CLS] iphone 好 [SEP]
    predicted = [LABEL_IDS["O"], LABEL_IDS["B-PROD"], LABEL_IDS["O"], LABEL_IDS["O"]]
    assert char_tags_from_tokens(text, offsets, predicted, TAGS) == \
        ["B-PROD"] + ["I-PROD"] * 5 + ["O", "O"]
    # a later sub-token with no prediction of its own continues the word's tag
    text = "2024年"
    offsets = offsets_of(tokenizer, text)  # [CLS] 202 ##4 年 [SEP]
    predicted = [LABEL_IDS["O"], LABEL_IDS["B-DATE"], IGNORE_LABEL, LABEL_IDS["I-DATE"], LABEL_IDS["O"]]
    assert char_tags_from_tokens(text, offsets, predicted, TAGS) == ["B-DATE"] + ["I-DATE"] * 4


def test_it_tags_characters_cut_off_by_truncation_as_outside(tokenizer) -> None:
    text = "王小明在北京" * 4
    char_tags = spans_to_bio(len(text), [(6 * i, 6 * i + 3, "PER") for i in range(4)])
    input_ids, labels = token_labels(text, char_tags, tokenizer, LABEL_IDS, max_length=8)
    assert len(input_ids) == 8
    back = char_tags_from_tokens(text, offsets_of(tokenizer, text, max_length=8), labels, TAGS)
    assert back[:6] == char_tags[:6] and set(back[6:]) == {"O"}


def test_it_refuses_tags_that_do_not_match_the_text(tokenizer) -> None:
    with pytest.raises(ValueError, match="2 tags for 3 characters"):
        token_labels("你好吗", ["O", "O"], tokenizer, LABEL_IDS, max_length=8)

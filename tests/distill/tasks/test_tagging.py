"""The tagging task: rows of spans or tags become character BIO Examples; bad rows are named and skippable."""
from __future__ import annotations

import json
from typing import Any

import pytest

from distill.corpus.examples import SKIPPABLE_CODES, Example
from distill.errors import CorpusError
from distill.tasks import TASKS, get_task
from distill.tasks.tagging import TaggingTask

TEXT = "江泽民在北京会见了联合国秘书长。"  # 16 characters


def read(record: dict[str, Any], label_column: str = "label", max_text_chars: int = 10_000) -> Example:
    cells = {key: value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
             for key, value in record.items()}
    return TaggingTask().read_record(cells, 7, text_column="text", label_column=label_column, path="c.jsonl",
                                     max_text_chars=max_text_chars)


def bad_row(record: dict[str, Any], **kwargs: Any) -> CorpusError:
    with pytest.raises(CorpusError) as caught:
        read(record, **kwargs)
    return caught.value


def test_it_is_registered_under_its_name() -> None:
    assert isinstance(get_task("tagging"), TaggingTask)
    assert TASKS["tagging"].name == "tagging"


def test_it_turns_entity_spans_into_one_bio_tag_per_character() -> None:
    example = read({"text": TEXT, "entities": [{"start": 0, "end": 3, "label": "PER"},
                                               {"start": 4, "end": 6, "label": "LOC"},
                                               {"start": 9, "end": 12, "label": "ORG"}]})
    assert example.tags == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "O",
                            "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O")
    assert (example.text, example.label, example.line) == (TEXT, None, 7)
    assert len(example.tags) == len(example.text)


def test_it_reads_doccano_spans_under_label_and_a_named_label_column() -> None:
    doccano = read({"text": TEXT, "label": [[4, 6, "LOC"]]})
    named = read({"text": TEXT, "ner": [{"start": 4, "end": 6, "label": "LOC"}]}, label_column="ner")
    expected = ("O",) * 4 + ("B-LOC", "I-LOC") + ("O",) * 10
    assert doccano.tags == expected and named.tags == expected


def test_it_reads_a_tags_list_in_bio_or_bioes() -> None:
    bioes = ["B-PER", "I-PER", "E-PER", "O", "B-LOC", "E-LOC"] + ["O"] * 10
    assert read({"text": TEXT, "tags": bioes}).tags[:6] == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC")
    bio = ["B-PER", "I-PER", "I-PER"] + ["O"] * 13
    assert read({"text": TEXT, "tags": bio}).tags == tuple(bio)


def test_it_keeps_the_text_exactly_so_offsets_still_count_its_spaces() -> None:
    example = read({"text": " iPhone 15 发布", "entities": [{"start": 1, "end": 10, "label": "PROD"}]})
    assert example.text == " iPhone 15 发布"
    assert example.tags[:2] == ("O", "B-PROD") and example.tags[7] == "I-PROD" and example.tags[10] == "O"


def test_it_reads_a_row_without_entities_as_all_outside_and_one_without_the_key_as_unlabeled() -> None:
    assert read({"text": TEXT, "entities": []}).tags == ("O",) * len(TEXT)
    unlabeled = read({"text": TEXT})
    assert unlabeled.tags is None and unlabeled.label is None
    assert TaggingTask().labels_of(unlabeled) == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "一二三四五", "tags": ["O", "O", "B-PER"]}, "3 tags for 5 characters"),
        ({"text": "一" * 31, "entities": [{"start": 0, "end": 2, "label": "PER"}, {"start": 30, "end": 40,
                                                                                "label": "LOC"}]},
         "entity 2 ends at 40, past the text's 31 characters"),
        ({"text": "一二三四五", "tags": ["O", "B-LOC", "O", "O", "I-PER"]},
         "tag 5 is I-PER but no entity was open (expected B-PER first)"),
        ({"text": "一二三四五", "entities": [{"start": "0", "end": 2, "label": "PER"}]},
         'entity 1 is not {"start": integer, "end": integer, "label": type}'),
        ({"text": "一二三四五", "entities": "PER"}, "the 'entities' cell is not a JSON list"),
        ({"text": "一二三四五", "entities": {"start": 0}}, "the 'entities' cell is not a list"),
    ],
    ids=["tag_count", "past_the_end", "unopened", "string_offset", "not_json", "not_a_list"],
)
def test_it_skips_a_row_whose_tags_do_not_fit_with_a_plain_reason(record: dict[str, Any], message: str) -> None:
    error = bad_row(record)
    assert error.code == "bad_tags" and error.code in SKIPPABLE_CODES
    assert error.detail.startswith(message)
    assert error.line == 7 and "c.jsonl, line 7" in str(error)


def test_it_skips_empty_and_overlong_texts_as_the_single_task_does() -> None:
    assert bad_row({"text": "  ", "entities": []}).code == "empty_text"
    assert bad_row({"text": TEXT, "entities": []}, max_text_chars=10).code == "text_too_long"


def test_it_dedups_on_the_normalised_text_and_lists_each_distinct_tag() -> None:
    task = TaggingTask()
    full_width = read({"text": "ＩＢＭ在北京", "entities": [[0, 3, "ORG"], [4, 6, "LOC"]]})
    half_width = read({"text": "IBM在北京 ", "entities": []})
    assert task.dedup_key(full_width) == task.dedup_key(half_width) == "IBM在北京"
    assert task.labels_of(full_width) == ["B-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]

"""Tagging corpora read by ``CorpusStream(..., task="tagging")``: CoNLL files and JSON Lines spans."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.tasks.tagging_schemes import bio_to_spans

from .conftest import corpus_error, read_file, write_file

CONLL = """-DOCSTART- -X- O O

江\tB-PER
泽\tI-PER
民\tI-PER
在\tO
北\tB-LOC
京\tI-LOC

联 B-ORG
合 M-ORG
国 E-ORG
发 O
布 O

iPhone NN B-PROD
15 CD I-PROD
。 . O
"""


def tagged(path: Path, **kwargs: object) -> list[tuple[str, tuple[str, ...] | None, int]]:
    stream, examples = read_file(path, task="tagging", **kwargs)
    return [(example.text, example.tags, example.line) for example in examples]


def test_it_reads_conll_sentences_as_character_bio_numbered_by_their_first_line(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "train.conll", CONLL), task="tagging")
    assert stream.format == "conll"
    assert [(example.text, example.line) for example in examples] == \
        [("江泽民在北京", 3), ("联合国发布", 10), ("iPhone15。", 16)]
    assert examples[0].tags == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC")
    assert examples[1].tags == ("B-ORG", "I-ORG", "I-ORG", "O", "O")  # BMES, detected per sentence
    # A token of several characters spreads over them; CoNLL-2003's middle columns are ignored.
    assert examples[2].tags == ("B-PROD",) + ("I-PROD",) * 7 + ("O",)
    assert all(example.label is None and len(example.tags) == len(example.text) for example in examples)
    assert stream.skipped.total == 0


@pytest.mark.parametrize("name", ["train.bio", "train.bmes", "train.txt", "train"])
def test_it_takes_the_usual_tagging_suffixes_and_plain_text_for_conll(tmp_path: Path, name: str) -> None:
    assert [text for text, _, _ in tagged(write_file(tmp_path, name, CONLL))] == \
        ["江泽民在北京", "联合国发布", "iPhone15。"]


def test_it_reads_windows_line_endings_and_no_final_blank_line(tmp_path: Path) -> None:
    path = write_file(tmp_path, "c.conll", "上\tB-LOC\r\n海\tI-LOC\r\n\r\n好\tO")
    assert tagged(path) == [("上海", ("B-LOC", "I-LOC"), 1), ("好", ("O",), 4)]


def test_it_skips_a_bad_sentence_naming_its_tag_and_line_and_keeps_the_rest(tmp_path: Path) -> None:
    good = "".join("好\tO\n的\tO\n\n" for _ in range(30))
    path = write_file(tmp_path, "c.conll", good + "王\tO\n小\tI-PER\n明\tI-PER\n\n" + good)
    stream, examples = read_file(path, task="tagging")
    assert len(examples) == 60
    [row] = stream.skipped.rows
    assert (row.line, row.code, row.text) == (91, "bad_tags", "王小明")
    assert row.detail == "tag 2 (line 92) is I-PER but no entity was open (expected B-PER first)"
    assert stream.skipped.by_reason == {"bad_tags": 1}


def test_it_skips_a_sentence_with_a_line_that_has_no_tag(tmp_path: Path) -> None:
    good = "".join("好\tO\n\n" for _ in range(30))
    stream, examples = read_file(write_file(tmp_path, "c.conll", good + "北\tB-LOC\n京\n\n"), task="tagging")
    assert len(examples) == 30
    assert [(row.line, row.detail) for row in stream.skipped.rows] == \
        [(61, "line 62 holds '京', not a character and its tag")]


def test_it_refuses_a_file_whose_sentences_are_mostly_bad_by_the_share_rule(tmp_path: Path) -> None:
    # A part-of-speech file looks like CoNLL, but its second column is no tag.
    error = corpus_error(write_file(tmp_path, "pos.txt", "北京\tns\n欢迎\tv\n\n你\tr\n\n好\tO\n"), task="tagging")
    assert (error.code, error.params["first_code"], error.params["bad"], error.line) == \
        ("too_many_bad_rows", "bad_tags", 2, 1)


def test_it_says_an_empty_conll_file_has_no_rows(tmp_path: Path) -> None:
    assert corpus_error(write_file(tmp_path, "c.conll", "-DOCSTART- O\n\n\n"), task="tagging").code == "empty_file"


def test_it_reads_json_lines_spans_and_skips_rows_whose_entities_do_not_fit(tmp_path: Path) -> None:
    rows = [{"text": f"第{index}次去北京", "entities": [{"start": 4, "end": 6, "label": "LOC"}]} for index in range(40)]
    rows.insert(5, {"text": "去上海", "entities": [{"start": 1, "end": 9, "label": "LOC"}]})
    rows.append({"text": "没有实体", "entities": []})
    rows.append({"text": "没有标注"})
    path = write_file(tmp_path, "c.txt", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    stream, examples = read_file(path, task="tagging")
    assert stream.format == "jsonl"
    assert len(examples) == 42
    assert bio_to_spans(examples[0].tags) == [(4, 6, "LOC")] and examples[0].text[4:6] == "北京"
    assert examples[-2].tags == ("O",) * 4
    assert examples[-1].tags is None  # unlabeled: the teacher tags it
    [row] = stream.skipped.rows
    assert (row.line, row.code, row.detail) == (6, "bad_tags", "entity 1 ends at 9, past the text's 3 characters")


def test_it_leaves_single_text_reading_of_a_txt_file_alone(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "c.txt", "text\tlabel\n很好\tpos\n"))
    assert stream.format == "tsv" and examples[0].label == "pos" and examples[0].tags is None


def test_it_reads_a_csv_whose_label_cells_hold_json_tags_or_spans(tmp_path: Path) -> None:
    content = ('text,label\n上海,"[""B-LOC"", ""I-LOC""]"\n去北京,"[[1, 3, ""LOC""]]"\n好,[]\n'
               + "".join(f"好{index},[]\n" for index in range(30)))
    stream, examples = read_file(write_file(tmp_path, "c.csv", content), task="tagging")
    assert stream.format == "csv"
    assert [example.tags for example in examples[:3]] == [("B-LOC", "I-LOC"), ("O", "B-LOC", "I-LOC"), ("O",)]

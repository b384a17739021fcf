"""The pair task: two text columns and a label read into one row, deduplicated as a pair, joined for the pipeline."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from distill.corpus.reading import CorpusStream
from distill.corpus.splits import prepare_splits
from distill.errors import CorpusError
from distill.tasks import PAIR_SEPARATOR, join_pair, shown_text, split_pair


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_it_reads_the_second_text_column_into_each_row(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "pairs.csv", [["q1", "q2", "label"], ["怎么开通花呗", "花呗如何开通", "1"],
                                             ["今天天气", "明天下雨吗", "0"]])

    rows = list(CorpusStream(corpus, "q1", "label", task="pair", text_pair_column="q2"))

    assert [(row.text, row.text_pair, row.label, row.line) for row in rows] == [
        ("怎么开通花呗", "花呗如何开通", "1", 2), ("今天天气", "明天下雨吗", "0", 3)]


def test_it_skips_and_lists_a_row_whose_second_text_is_empty(tmp_path: Path) -> None:
    lines = [["q1", "q2", "label"], *([f"问题{i}", f"回答{i}", "1"] for i in range(40)), ["孤单的问题", "", "0"]]
    stream = CorpusStream(_write(tmp_path / "pairs.csv", lines), "q1", "label", task="pair", text_pair_column="q2")

    rows = list(stream)

    assert len(rows) == 40
    assert [(row.line, row.code, row.params.get("column")) for row in stream.skipped.rows] == [(42, "empty_text", "q2")]


def test_it_names_the_missing_second_column_and_the_columns_there_are(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "pairs.csv", [["q1", "label"], ["怎么开通花呗", "1"]])

    with pytest.raises(CorpusError) as caught:
        list(CorpusStream(corpus, "q1", "label", task="pair", text_pair_column="q2"))

    assert caught.value.code == "missing_column" and caught.value.params["column"] == "q2"
    assert "'q2'" in str(caught.value) and "'q1'" in str(caught.value)


def test_it_keeps_one_text_with_two_partners_as_two_rows_and_drops_a_repeated_pair(tmp_path: Path) -> None:
    rows = [["a", "b", "label"]]
    rows += [["怎么开通花呗", "花呗如何开通", "match"], ["怎么开通花呗", "借呗怎么还款", "no_match"],
             ["怎么开通花呗", "花呗如何开通", "match"]]  # the last one repeats the first
    rows += [[f"问题{i}", f"回答{i}", "match" if i % 2 else "no_match"] for i in range(30)]
    stream = CorpusStream(_write(tmp_path / "pairs.csv", rows), "a", "label", task="pair", text_pair_column="b")

    splits = prepare_splits(stream, None, None, dev_fraction=0.0, test_fraction=0.0, seed=1, task="pair")

    assert splits.report.duplicate_rows == 1
    texts = list(splits.train.texts)
    assert join_pair("怎么开通花呗", "花呗如何开通") in texts and join_pair("怎么开通花呗", "借呗怎么还款") in texts
    assert len(texts) == 32
    # The row view gives the pair back as its two texts, and the joined text splits into the same two.
    first = splits.train[texts.index(join_pair("怎么开通花呗", "借呗怎么还款"))]
    assert (first.text, first.text_pair, first.label) == ("怎么开通花呗", "借呗怎么还款", "no_match")


def test_it_turns_a_stray_separator_in_a_cell_into_a_space(tmp_path: Path) -> None:
    # Ordinary rows around it: one control character in a handful of bytes would read as a binary file.
    corpus = _write(tmp_path / "pairs.csv", [["a", "b", "label"], [f"前{PAIR_SEPARATOR}后", "第二句", "1"],
                                             *([f"问题{i}", f"回答{i}", "0"] for i in range(20))])

    row = next(iter(CorpusStream(corpus, "a", "label", task="pair", text_pair_column="b")))

    assert split_pair(join_pair(row.text, row.text_pair)) == ("前 后", "第二句")
    assert shown_text(join_pair("前", "后")) == "前 ‖ 后"

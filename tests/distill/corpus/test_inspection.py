"""What the web learns about an upload: counts, the split a run would make, and why it cannot be split."""
from __future__ import annotations

from pathlib import Path

import pytest

from distill import inspect_corpus, list_skipped_rows
from distill.errors import CorpusError

from .conftest import write_file


def test_it_counts_rows_and_labels_and_reports_the_default_split(tmp_path: Path) -> None:
    rows = "".join(f"好评{i},pos\n" for i in range(30)) + ",neg\n" + "".join(f"差评{i},neg\n" for i in range(40))
    inspection = inspect_corpus(write_file(tmp_path, "c.csv", "text,label\n" + rows + "差评0,neg\n"), "text", "label",
                                name="评论.csv", scratch_dir=tmp_path)

    assert (inspection.format, inspection.encoding, inspection.columns) == ("csv", "utf-8", ["text", "label"])
    assert inspection.has_label_column and inspection.rows == 71  # the repeated row counts; the empty one is skipped
    assert inspection.label_counts == {"neg": 41, "pos": 30} and list(inspection.label_counts) == ["neg", "pos"]
    assert inspection.split_error is None
    assert (inspection.report["duplicate_rows"], inspection.report["dev"], inspection.report["test"]) == (1, 7, 7)
    assert inspection.skipped["total"] == 1 and inspection.skipped["first"][0]["line"] == 32
    assert [path.name for path in tmp_path.iterdir()] == ["c.csv"]  # the row store is gone


def test_it_answers_a_file_that_reads_but_cannot_be_split_with_the_reason(tmp_path: Path) -> None:
    inspection = inspect_corpus(write_file(tmp_path, "c.csv", "text,label\n好,pos\n棒,pos\n"), "text", "label",
                                name="one-class.csv")

    assert inspection.rows == 2 and inspection.label_counts == {"pos": 2}
    assert inspection.split_error is not None and inspection.split_error.code == "single_class"
    assert inspection.split_error.path == "one-class.csv" and inspection.report == {}


def test_it_raises_when_the_file_cannot_be_read_with_these_columns(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as caught:
        inspect_corpus(write_file(tmp_path, "c.csv", "review,label\n好,pos\n"), "text", "label")
    assert caught.value.code == "missing_column"


def test_it_lists_every_skipped_row_of_an_accepted_corpus_whatever_their_share(tmp_path: Path) -> None:
    path = write_file(tmp_path, "c.csv", "text,label\n好,pos\n,neg\n差,neg\n,pos\n")
    with pytest.raises(CorpusError) as caught:
        inspect_corpus(path, "text", "label")
    assert caught.value.code == "too_many_bad_rows"

    assert [(row.line, row.code) for row in list_skipped_rows(path, "text", "label")] == [
        (3, "empty_text"), (5, "empty_text")]


def test_it_inspects_a_pair_corpus_as_a_pair_run_reads_and_splits_it(tmp_path: Path) -> None:
    # Every question comes twice, with a matching and a different answer: read as single texts the two rows
    # would be one text with two labels; read as pairs they are distinct rows, each with its own label.
    rows = "".join(f"问题{i},回答{i},match\n问题{i},别的{i},no_match\n" for i in range(30)) + "问题x,,match\n"
    path = write_file(tmp_path, "pairs.csv", "question,answer,label\n" + rows)

    inspection = inspect_corpus(path, "question", "label", task="pair", text_pair_column="answer", scratch_dir=tmp_path)
    skipped = list_skipped_rows(path, "question", "label", task="pair", text_pair_column="answer")

    assert inspection.rows == 60 and inspection.label_counts == {"match": 30, "no_match": 30}
    assert inspection.split_error is None and inspection.report["distinct_texts"] == 60
    assert inspection.report["conflicting_texts"] == 0
    assert [(row.line, row.code, row.params["column"]) for row in skipped] == [(62, "empty_text", "answer")]
    assert skipped[0].text == "问题x ‖ "  # the first text, and the side that is empty

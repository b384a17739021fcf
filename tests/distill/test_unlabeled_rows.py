"""Unlabelled text in a run: a second file of plain lines joins training, is counted by kind, and in semi
mode the teacher's confident calls on it become labels; the labels-only baseline trains on labels only."""
from __future__ import annotations

import math
from pathlib import Path

from distill import datasets, run
from distill.progress import RecordingReporter

from .conftest import distinct_rows, small_run_config

LABELLED, UNLABELLED = 240, 400


def test_it_trains_on_an_unlabelled_file_and_reports_rows_by_kind(tmp_path: Path) -> None:
    rows = distinct_rows(LABELLED + UNLABELLED)
    train_csv = datasets.write_csv(rows[:LABELLED], tmp_path / "labelled.csv")
    more = tmp_path / "more.txt"
    more.write_text("\n".join(text.replace("\n", " ") for text, _ in rows[LABELLED:]) + "\n", encoding="utf-8")
    cfg = small_run_config(tmp_path, train_csv, mode="semi", virtual_label_threshold=0.6, epochs=2, batch_size=32,
                           early_stopping_patience=0, baseline=True)
    cfg.data.unlabeled_path = str(more)
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1

    result = run(cfg, RecordingReporter())

    assert result.status == "done"
    counts = result.transfer["rows"]
    train_labelled = result.corpus["train"] - UNLABELLED
    assert counts == {"labelled": train_labelled, "unlabelled": 0, "unlabelled_file": UNLABELLED,
                      "generated": {"mask": 0, "pos": 0, "ngram": 0, "mlm": 0}}
    assert result.corpus["dev"] + result.corpus["test"] + train_labelled == LABELLED  # none of the file held out
    # The student saw every training row; the baseline only the labelled ones (same epochs and batch size).
    assert result.training["steps"] == 2 * math.ceil((train_labelled + UNLABELLED) / 32)
    assert result.baseline_training["steps"] == 2 * math.ceil(train_labelled / 32)
    virtual = result.transfer["virtual_labels"]
    assert (virtual["threshold"], virtual["candidates"]) == (0.6, UNLABELLED)
    assert 0 <= virtual["passed"] <= UNLABELLED and virtual["share"] == round(virtual["passed"] / UNLABELLED, 4)
    assert result.transfer["teacher_texts_per_second"] > 0
    assert result.transfer["examples"] == []

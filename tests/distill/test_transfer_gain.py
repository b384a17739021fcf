"""What unlabelled text is for: a student distilled on it beats the same student trained on the few labels.

The teacher here was fine-tuned on many labels elsewhere (the user's own checkpoint); the run's corpus
has only LABELLED of them, plus text without labels. One run trains both students (the report's
labels-only baseline is on), on the same split, epochs and seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import datasets, run, teachers
from distill.config import RunConfig, TransferConfig
from distill.progress import RecordingReporter

from .conftest import LABELS, distinct_rows, small_run_config, tiny_teacher_config

TEACHER_ROWS, LABELLED, DEV, TEST = 1600, 160, 200, 500
GENERATED = 1600  # rows grown from the training texts on top of the unlabelled ones
# Measured (seeds as set here, one CPU thread): teacher 0.758, distilled on labelled + unlabelled 0.684,
# with 1,600 generated rows too 0.710, labels only 0.522 on the 500 test texts: gains of 0.162 and 0.188,
# ~5 standard errors of a difference of two accuracies on 500 texts. Half of the smaller is asserted, so
# platform noise cannot flip the test. (0.684 vs 0.710 is within noise: the benchmark, not this test, says
# what generation adds.)
MIN_GAIN = 0.08


@pytest.fixture(scope="module")
def split_rows() -> dict[str, list[tuple[str, str]]]:
    rows = distinct_rows(TEACHER_ROWS + DEV + TEST, seed=11)
    return {"pool": rows[:TEACHER_ROWS], "dev": rows[TEACHER_ROWS:TEACHER_ROWS + DEV],
            "test": rows[TEACHER_ROWS + DEV:]}


@pytest.fixture(scope="module")
def trained_teacher(tmp_path_factory: pytest.TempPathFactory, split_rows: dict[str, list[tuple[str, str]]]) -> Path:
    """A tiny BERT fine-tuned on all TEACHER_ROWS labels: what a user brings as "their own checkpoint"."""
    work = tmp_path_factory.mktemp("teacher")
    pool, dev = split_rows["pool"], split_rows["dev"]
    cfg = RunConfig(cache_dir=str(work / "cache"))
    cfg.data.max_length = 64
    cfg.teacher = tiny_teacher_config(demo=True, demo_hidden_size=64, finetune_epochs=4, demo_learning_rate=2e-3)
    cfg.train.num_threads = 1
    teachers.build_demo_teacher([text for text, _ in pool], LABELS, cfg.teacher, work / "init", max_length=64, seed=0)
    loaded = teachers.load_teacher(cfg.teacher, LABELS, str(work / "init"))

    def ids(rows: list[tuple[str, str]]) -> np.ndarray:
        return np.array([LABELS.index(label) for _, label in rows], dtype=np.int64)

    tuned = teachers.finetune_teacher(loaded, [text for text, _ in pool], ids(pool), [text for text, _ in dev], ids(dev),
                                      LABELS, cfg, torch.device("cpu"), None, work)
    return Path(tuned.directory)


@pytest.mark.parametrize("generated", [0, GENERATED], ids=["unlabelled", "unlabelled_and_generated"])
def test_it_beats_the_labels_only_student_with_unlabelled_text(tmp_path: Path, trained_teacher: Path,
                                                                split_rows: dict[str, list[tuple[str, str]]],
                                                                generated: int) -> None:
    pool = split_rows["pool"]
    # The first LABELLED rows keep their label; the rest of the pool is text without one.
    corpus = [(text, label if index < LABELLED else "") for index, (text, label) in enumerate(pool)]
    cfg = small_run_config(tmp_path, datasets.write_csv(corpus, tmp_path / "train.csv"), epochs=4, batch_size=32,
                           learning_rate=3e-3, early_stopping_patience=0, baseline=True)
    cfg.data.dev_path = str(datasets.write_csv(split_rows["dev"], tmp_path / "dev.csv"))
    cfg.data.test_path = str(datasets.write_csv(split_rows["test"], tmp_path / "test.csv"))
    cfg.teacher = tiny_teacher_config(name_or_path=str(trained_teacher), demo_hidden_size=64)
    if generated:
        cfg.transfer = TransferConfig(preset="light", target_rows=generated, methods=["mask", "pos", "ngram"])

    result = run(cfg, RecordingReporter())

    assert not result.teacher_finetuned  # its head already knows these labels
    assert result.transfer["rows"]["labelled"] == LABELLED
    assert result.transfer["rows"]["unlabelled"] == TEACHER_ROWS - LABELLED
    assert sum(result.transfer["rows"]["generated"].values()) == generated
    student, baseline = result.metrics["student"]["accuracy"], result.metrics["baseline"]["accuracy"]
    teacher = result.metrics["teacher"]["accuracy"]
    print(f"generated {generated}: teacher {teacher:.3f}, distilled {student:.3f}, labels only {baseline:.3f} "
          f"on {TEST} test texts")
    assert student - baseline >= MIN_GAIN, (teacher, student, baseline)


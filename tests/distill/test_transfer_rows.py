"""A grown transfer set in a run: made from training texts only, labelled by the teacher, kept across a resume."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from distill import datasets, run
from distill.config import TRANSFER_METHODS, TransferConfig
from distill.corpus.reading import CorpusStream
from distill.corpus.splits import prepare_splits
from distill.transfer import load_generated_rows
from distill.progress import STAGE_DISTILLING, STAGE_GENERATING, RecordingReporter
from distill.tasks import normalize_text

from .conftest import distinct_rows, small_run_config

TARGET = 500


class StopWhenDistilling(RecordingReporter):
    """Asks the run to stop at the student's third step: generation and labelling are done by then."""

    def should_stop(self) -> bool:
        distilling = STAGE_DISTILLING in self.stages()
        return distilling and sum(1 for kind, phase, _ in self.events if kind == "step" and phase == "student") >= 3


def _config(tmp_path: Path, name: str):
    csv = tmp_path / "reviews.csv"
    if not csv.is_file():
        datasets.write_csv(distinct_rows(400), csv)
    cfg = small_run_config(tmp_path, csv, epochs=1, batch_size=32)
    cfg.output_dir = str(tmp_path / name)
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1
    cfg.transfer = TransferConfig(preset="light", target_rows=TARGET, methods=["mask", "pos", "ngram"])
    return cfg


def test_it_grows_the_training_set_from_training_texts_only_and_keeps_it_across_a_resume(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    straight = run(_config(tmp_path, "straight"), reporter)

    assert straight.status == "done" and STAGE_GENERATING in reporter.stages()
    summary = straight.transfer
    made = summary["rows"]["generated"]
    assert sum(made.values()) == TARGET and made["mlm"] == 0 and min(made["mask"], made["pos"], made["ngram"]) > 0
    assert straight.training["steps"] == -(-(straight.corpus["train"] + TARGET) // 32)  # one epoch over both
    corpus = {normalize_text(text) for text, _ in distinct_rows(400)}
    examples = summary["examples"]
    assert len(examples) == 10 and {example["method"] for example in examples} == {"mask", "pos", "ngram"}
    for example in examples:
        assert normalize_text(example["text"]) not in corpus  # new text, never a corpus row again
        assert example["label"] in straight.labels and 0.5 <= example["confidence"] <= 1.0
        if example["method"] == "ngram":
            assert example["text"] in example["source_text"]

    # Every generated row: made from a training text (never a dev or test one), and new.
    cfg = _config(tmp_path, "straight")
    splits = prepare_splits(CorpusStream(cfg.data.train_path), None, None, dev_fraction=cfg.data.dev_fraction,
                            test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed)
    train, held_out = list(splits.train.texts), set(splits.dev.texts) | set(splits.test.texts)
    rows = load_generated_rows(Path(cfg.output_dir) / "generated_rows")
    assert rows is not None and len(rows) == TARGET
    for text, source, method in zip(rows.texts, rows.sources, rows.methods):
        assert train[source] not in held_out and normalize_text(text) not in corpus
        if TRANSFER_METHODS[method] == "ngram":
            assert text in train[source]

    stopped = run(_config(tmp_path, "resumed"), StopWhenDistilling())
    assert stopped.status == "cancelled"
    again = RecordingReporter()
    resumed = run(_config(tmp_path, "resumed"), again)

    assert resumed.status == "done"
    assert resumed.training["resumed_from_step"] == 3
    # The same rows, sources and methods after the resume: read back, not made again.
    assert not [point for kind, stage, point in again.events if kind == "progress" and stage == STAGE_GENERATING]
    keep = lambda result: {key: value for key, value in result.transfer.items() if key != "teacher_texts_per_second"}  # noqa: E731
    assert keep(resumed) == keep(straight)
    assert dataclasses.asdict(resumed.student) != {} and resumed.student.test_accuracy == straight.student.test_accuracy

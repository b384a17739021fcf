"""A tagging run given a file of unlabelled text (DataConfig.unlabeled_path): its lines join training as untagged
sentences, which the teacher tags and the student learns from, and a note says so (or, in hard mode, that they
are not used)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from distill import datasets, run
from distill.config import RunConfig
from distill.progress import RecordingReporter

from .conftest import tiny_teacher_config
from .test_tagging_pipeline import _corpus

TAGGED, UNTAGGED, BATCH = 120, 60, 16


@pytest.mark.parametrize("mode, note", [("soft", "tagging_unlabeled_file"), ("hard", "tagging_unlabeled_file_hard")])
def test_it_trains_a_tagger_on_the_unlabelled_files_sentences_and_says_so(tmp_path: Path, mode: str,
                                                                         note: str) -> None:
    texts = [text for text, _tags in datasets.peoples_daily() if 8 <= len(text) <= 40]
    sentences = [text for text in dict.fromkeys(texts[TAGGED:]) if text not in set(texts[:TAGGED])][:UNTAGGED]
    more = tmp_path / "more.txt"
    more.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    cfg = RunConfig(output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    cfg.data.task, cfg.data.max_length = "tagging", 64
    cfg.data.train_path, cfg.data.unlabeled_path = str(_corpus(tmp_path / "pd.jsonl", TAGGED)), str(more)
    cfg.teacher = tiny_teacher_config(demo=True, finetune_epochs=1)
    cfg.student.embedding_dim = cfg.student.hidden_size = 16
    cfg.train.device, cfg.train.num_threads, cfg.train.epochs, cfg.train.baseline = "cpu", 1, 1, False
    cfg.train.batch_size, cfg.train.mode = BATCH, mode
    reporter = RecordingReporter()

    result = run(cfg, reporter)

    assert result.status == "done"
    assert result.corpus["unlabeled_file"] == UNTAGGED
    assert result.training["steps"] == math.ceil(result.corpus["train"] / BATCH)  # the file's sentences included
    notes = [params for kind, _text, params in reporter.events if kind == "message" and params["code"] == note]
    assert notes == [{"code": note, "params": {"count": UNTAGGED}}]

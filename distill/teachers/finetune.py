"""Fine-tuning a teacher that has no head for the corpus's labels, on the one training loop; shared by every run.

A finished fine-tune lives in the cache under ``finetune_key`` (teacher, labels, rows, settings)
with a marker file written last; a run that finds it reuses it. While one runs, its resumable
position lives in the run's ``teacher_checkpoint`` folder (``training.loop`` writes it).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_text_atomically
from ..config import RunConfig, TeacherConfig
from ..errors import ConfigError
from ..evaluate import accuracy_from_logits, cross_entropy_from_logits
from ..progress import PHASE_TEACHER, STAGE_FINETUNING_TEACHER, NullReporter, Reporter, send_note
from ..training.loop import DevResult, LoopOutcome, LoopSettings, TrainingJob, run_training
from ..training.losses import IGNORE_INDEX
from .labelling import labelling_lock, length_order, logits_in_memory, texts_digest, tokenize_batch
from .loading import LoadedTeacher, fingerprint_folder, load_teacher

# Written last into a fine-tuned teacher folder; its presence means the folder is complete.
FINETUNE_MARKER = "cld_finetune.json"
# Under output_dir while a fine-tune runs: its resumable position; removed once the marker is written.
TEACHER_CHECKPOINT_DIR = "teacher_checkpoint"
# Under cache_dir: finished fine-tunes, one folder per finetune_key, shared by every run with the same inputs.
FINETUNED_TEACHERS = "finetuned-teachers"
_FINETUNE_FORMAT = 1  # part of finetune_key: bump it when the fine-tune's recipe changes


def finished_finetune(directory: str | Path, source_fingerprint: str, labels: list[str]) -> bool:
    """True when ``directory`` holds a completed fine-tune of this teacher for these labels."""
    marker = Path(directory) / FINETUNE_MARKER
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text(encoding="utf-8"))
    return info.get("source_fingerprint") == source_fingerprint and info.get("labels") == list(labels)


def finetune_key(source_fingerprint: str, labels: list[str], train_texts: Sequence[str], train_labels: np.ndarray,
                 dev_texts: Sequence[str], dev_labels: np.ndarray, cfg: RunConfig) -> str:
    """What a fine-tune's weights depend on, hashed: teacher, labels, train and dev rows, every setting.

    The dev rows count because they choose the best epoch's weights; the texts are hashed by content
    (a row store's view remembers its digest, and the teacher-output cache needs it anyway).
    """
    tcfg = cfg.teacher
    identity = {
        "format": _FINETUNE_FORMAT, "source_fingerprint": source_fingerprint, "labels": list(labels),
        "train": texts_digest(train_texts), "train_labels": _array_digest(np.asarray(train_labels, dtype=np.int64)),
        "dev": texts_digest(dev_texts), "dev_labels": _array_digest(np.asarray(dev_labels, dtype=np.int64)),
        "epochs": tcfg.finetune_epochs, "learning_rate": tcfg.demo_learning_rate if tcfg.demo else tcfg.finetune_learning_rate,
        "batch_size": tcfg.finetune_batch_size, "max_length": cfg.data.max_length, "seed": cfg.train.seed,
        "amp": cfg.train.amp,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def finetuned_dir(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / FINETUNED_TEACHERS / key


def finetune_teacher(loaded: LoadedTeacher, train_texts: Sequence[str], train_labels: np.ndarray,
                     dev_texts: Sequence[str], dev_labels: np.ndarray, labels: list[str], cfg: RunConfig,
                     device: torch.device, reporter: Reporter | None, output_dir: str | Path) -> LoadedTeacher:
    """Train the teacher's head (and body) on the labeled rows; keep the best-dev weights in the shared cache.

    The fine-tuned teacher goes to ``finetuned_dir(cfg.cache_dir, finetune_key(...))``, so any later
    run with the same teacher, rows and settings, in any output folder, takes it instead of training
    again; one worker fine-tunes a key at a time (a second one waits, then reuses).

    ``train_labels`` / ``dev_labels`` are (N,) int64 indices into ``labels``, IGNORE_INDEX (-100) for an
    unlabeled row, which is skipped. Texts are read one batch at a time, so they may be lazy views of a
    corpus larger than memory. A finished fine-tune (marker file matching this teacher and labels) is
    reused, not repeated. The position is checkpointed in ``output_dir/teacher_checkpoint`` every
    ``cfg.train.checkpoint_every_steps`` steps, at each epoch end and on cancel; a rerun for the same
    teacher, labels, data and settings continues from it and ends with the weights an uninterrupted
    fine-tune would have (bit-equal on CPU).
    """

    reporter = reporter or NullReporter()
    target = finetuned_dir(cfg.cache_dir, finetune_key(loaded.fingerprint, labels, train_texts, train_labels,
                                                       dev_texts, dev_labels, cfg))
    checkpoint_dir = Path(output_dir) / TEACHER_CHECKPOINT_DIR
    return finetune_once(target, loaded.fingerprint, labels, checkpoint_dir, reporter,
                         reload=lambda: reload_finetuned(cfg.teacher, labels, target),
                         train=lambda: _finetune(loaded, train_texts, train_labels, dev_texts, dev_labels, labels, cfg,
                                                 device, reporter, target, checkpoint_dir))


def finetune_once(target: Path, fingerprint: str, labels: list[str], checkpoint_dir: Path, reporter: Reporter,
                  reload: Callable[[], LoadedTeacher], train: Callable[[], LoadedTeacher]) -> LoadedTeacher:
    """A finished fine-tune in ``target`` reloaded, else ``train()`` run by one worker at a time.

    A second worker with the same key waits on the lock, then finds the first one's result and
    reloads it; the text and the tagging teacher share this so both reuse and wait alike.
    """
    if finished_finetune(target, fingerprint, labels):
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # left by a worker killed between saving and cleaning up
        send_note(reporter, "teacher_finetune_reused_at", folder=str(target))
        return reload()
    with labelling_lock(target, target / FINETUNE_MARKER, reporter, waiting_note="teacher_finetune_waiting"):
        if finished_finetune(target, fingerprint, labels):  # it finished while this worker waited
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            send_note(reporter, "teacher_finetune_reused_at", folder=str(target))
            return reload()
        return train()


def _finetune(loaded: LoadedTeacher, train_texts: Sequence[str], train_labels: np.ndarray, dev_texts: Sequence[str],
              dev_labels: np.ndarray, labels: list[str], cfg: RunConfig, device: torch.device, reporter: Reporter,
              target: Path, checkpoint_dir: Path) -> LoadedTeacher:
    """The fine-tune itself, through the one loop, resumable from ``checkpoint_dir``, ending in ``target`` (marker written last)."""
    from transformers import get_linear_schedule_with_warmup

    train_labels = np.asarray(train_labels, dtype=np.int64)  # (N,)
    dev_labels = np.asarray(dev_labels, dtype=np.int64)  # (N_dev,)
    train_rows = _labeled_rows(train_labels, len(train_texts), labels, "train")  # (N_l,) the rows trained on
    dev_rows = _labeled_rows(dev_labels, len(dev_texts), labels, "dev")  # (N_dev_l,)
    if not len(train_rows):
        raise ConfigError(
            "The teacher has no trained head for these labels and the training file has no labeled rows to fine-tune it on.",
            code="config_no_labels_for_teacher",
        )

    tcfg = cfg.teacher
    lr = tcfg.demo_learning_rate if tcfg.demo else tcfg.finetune_learning_rate
    batch_size = tcfg.finetune_batch_size
    max_length = cfg.data.max_length
    model = loaded.model.to(device)
    tokenizer = loaded.tokenizer
    steps_per_epoch = math.ceil(len(train_rows) / batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.finetune_epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    dev_order = length_order(dev_texts, dev_rows)  # (N_dev_l,) read once, reused by every epoch's evaluation
    dev_targets = dev_labels[dev_order]  # (N_dev_l,)
    signature = {
        "source_fingerprint": loaded.fingerprint, "labels": list(labels),
        "settings": {"epochs": tcfg.finetune_epochs, "learning_rate": lr, "batch_size": batch_size,
                     "max_length": max_length, "seed": cfg.train.seed, "amp": cfg.train.amp},
        # Row counts and label digests, not the texts: hashing a huge corpus again costs a full read.
        "data": {"train_rows": len(train_texts), "train_labels": _array_digest(train_labels),
                 "dev_rows": len(dev_texts), "dev_labels": _array_digest(dev_labels)},
    }

    def epoch_batches(epoch: int) -> list[np.ndarray]:
        order = _epoch_order(train_rows, cfg.train.seed, epoch)  # (N_l,)
        return [order[position * batch_size:(position + 1) * batch_size] for position in range(steps_per_epoch)]

    def forward(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = tokenize_batch(tokenizer, [train_texts[int(row)] for row in rows], max_length, device)  # input_ids (B, T)
        return model(**encoded).logits, torch.as_tensor(train_labels[rows], device=device)  # (B, C), (B,)

    def batch_loss(forwarded: tuple[torch.Tensor, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        logits, targets = forwarded
        return torch.nn.functional.cross_entropy(logits.float(), targets), {}

    def evaluate() -> DevResult:
        dev_logits = logits_in_memory(model, tokenizer, dev_texts, dev_order, max_length, tcfg.inference_batch_size,
                                      device, cfg.train.amp)  # (N_dev_l, C)
        dev_accuracy = accuracy_from_logits(dev_logits, dev_targets)
        dev_loss = cross_entropy_from_logits(dev_logits, dev_targets)
        return DevResult(score=dev_accuracy, metrics={
            "dev_accuracy": dev_accuracy if dev_accuracy is not None else float("nan"),
            "dev_loss": dev_loss if dev_loss is not None else float("nan")})

    return run_finetune_job(model, tokenizer, optimizer, scheduler, epoch_batches, steps_per_epoch, forward,
                            batch_loss, evaluate, signature, cfg, device, reporter, target, checkpoint_dir,
                            save=lambda best: _save_finetuned(model, tokenizer, target, loaded.fingerprint, labels,
                                                              best if len(dev_rows) else None))


def run_finetune_job(model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, epoch_batches: Any,
                     steps_per_epoch: int, forward: Any, batch_loss: Any, evaluate: Any, signature: dict[str, Any],
                     cfg: RunConfig, device: torch.device, reporter: Reporter, target: Path, checkpoint_dir: Path, *,
                     save: Any) -> LoadedTeacher:
    """A teacher fine-tune's parts run on the shared loop; ``save(best_score)`` writes the result into ``target``
    (with its marker) when it ends, then its checkpoints go. Shared by the text and the tagging fine-tunes."""

    def finished(outcome: LoopOutcome) -> None:
        save(outcome.best_score)  # without dev rows the "score" is a step: ``save`` decides what to keep of it
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # after the marker: a kill in between leaves a finished fine-tune

    job = TrainingJob(
        model=model, optimizer=optimizer, scheduler=scheduler, epoch_batches=epoch_batches,
        steps_per_epoch=steps_per_epoch, forward=forward, loss=batch_loss, evaluate=evaluate,
        checkpoint_dir=checkpoint_dir, signature=signature, config=cfg.to_dict(),
        phase=PHASE_TEACHER, stage=STAGE_FINETUNING_TEACHER,
        resuming_note="teacher_finetune_resuming", stale_note="teacher_finetune_stale",
        on_finished=finished,
    )
    tcfg = cfg.teacher
    settings = LoopSettings(epochs=tcfg.finetune_epochs, seed=cfg.train.seed, amp=cfg.train.amp, max_grad_norm=1.0,
                            log_every_steps=cfg.train.log_every_steps,
                            checkpoint_every_steps=cfg.train.checkpoint_every_steps, num_threads=cfg.train.num_threads)
    run_training(job, settings, device, reporter)
    return LoadedTeacher(model=model, tokenizer=tokenizer, needs_finetune=False,
                         fingerprint=fingerprint_folder(target), source=str(target), directory=str(target))


def _labeled_rows(label_ids: np.ndarray, rows: int, labels: list[str], name: str) -> np.ndarray:
    """Indices of the rows with a label, after checking the ids fit ``labels``."""
    if label_ids.shape != (rows,):
        raise ValueError(f"{name} labels have shape {label_ids.shape}, but there are {rows} {name} texts")
    labeled = np.flatnonzero(label_ids != IGNORE_INDEX)  # (N_l,)
    if len(labeled) and not (0 <= label_ids[labeled].min() and label_ids[labeled].max() < len(labels)):
        raise ValueError(f"{name} labels must be indices into the {len(labels)} labels or {IGNORE_INDEX}")
    return labeled


def _epoch_order(rows: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    # A function of (seed, epoch) only, so a resumed fine-tune replays exactly the batches it missed.
    # The mask keeps a negative seed valid: SeedSequence takes only non-negative entropy.
    generator = np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, epoch])
    return rows[generator.permutation(len(rows))]


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _save_finetuned(model: Any, tokenizer: Any, target: Path, source_fingerprint: str, labels: list[str],
                    dev_accuracy: float | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / FINETUNE_MARKER).unlink(missing_ok=True)  # an interrupted save must not look finished
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    marker = {"source_fingerprint": source_fingerprint, "labels": list(labels), "dev_accuracy": dev_accuracy}
    write_text_atomically(target / FINETUNE_MARKER, json.dumps(marker))


def reload_finetuned(cfg: TeacherConfig, labels: list[str], directory: str | Path) -> LoadedTeacher:
    local_cfg = copy.copy(cfg)
    local_cfg.local_files_only = True  # a local folder never needs the network
    return load_teacher(local_cfg, labels, name_or_path=str(directory))

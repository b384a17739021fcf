"""The student loop: copy the teacher's (cached) outputs, evaluate, stop early, checkpoint, resume.

Every epoch's batches are a pure function of (seed, epoch), and the checkpoint
holds model, optimizer, scheduler, RNG states and the position inside the
epoch, so a run stopped at any step boundary and resumed ends with the same
weights as one that never stopped (bit-equal on CPU).
"""
from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import losses
from .config import RunConfig
from .data import length_bucketed_batches, pad_batch
from .evaluate import Batch, accuracy_from_logits, amp_dtype, autocast, cross_entropy_from_logits, predict_logits
from .progress import PHASE_STUDENT, NullReporter, Reporter, RunCancelled

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.safetensors"
# Config sections whose change makes an old checkpoint meaningless for this run.
RESUME_SECTIONS = ("data", "student", "train")
RESUME_IGNORED_TRAIN_KEYS = ("device", "num_threads", "log_every_steps")  # do not change the maths


@dataclass
class TransferSet:
    """What the student learns from: its own token ids, the teacher's logits and any true labels."""

    token_ids: list[list[int]]  # student token ids per row
    teacher_logits: np.ndarray  # (N, C) float32, usually a read-only memmap from the teacher cache
    labels: np.ndarray  # (N,) int64 class index, losses.IGNORE_INDEX (-100) = unlabeled


@dataclass
class EvalSet:
    token_ids: list[list[int]]
    labels: np.ndarray  # (N,) int64, losses.IGNORE_INDEX (-100) = unlabeled (not scored)


@dataclass
class TrainOutcome:
    best_dev_accuracy: float | None  # None when dev has no labels
    steps: int  # optimizer steps taken in total (across resumes)
    epochs_completed: float
    stopped_early: bool
    resumed_from_step: int  # 0 for a fresh run


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def eval_batches(dataset: EvalSet, batch_size: int, pad_id: int) -> list[Batch]:
    """Length-sorted padded batches (evaluation order does not matter, padding does)."""
    batches = length_bucketed_batches([len(t) for t in dataset.token_ids], batch_size, shuffle=False, seed=0)
    out: list[Batch] = []
    for rows in batches:
        input_ids, attention_mask = pad_batch([dataset.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
        out.append((input_ids, attention_mask, torch.as_tensor(dataset.labels[rows], dtype=torch.long)))
    return out


def student_logits(model: torch.nn.Module, dataset: EvalSet, batch_size: int, pad_id: int, device: torch.device,
                   amp: str = "auto") -> np.ndarray:
    """Logits (N, C) in dataset order."""
    batches = length_bucketed_batches([len(t) for t in dataset.token_ids], batch_size, shuffle=False, seed=0)
    was_training = model.training
    model.eval()
    logits, _ = predict_logits(model, eval_batches(dataset, batch_size, pad_id), device, amp)
    model.train(was_training)
    out = np.zeros_like(logits)
    order = [i for rows in batches for i in rows]
    if len(order):
        out[order] = logits
    return out


def _epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    # A function of (seed, epoch) only, so a resumed run replays exactly the same batches.
    return length_bucketed_batches(lengths, batch_size, shuffle=True, seed=seed * 1_000_003 + epoch)


def _rng_state() -> dict[str, Any]:
    """Every RNG the loop touches, as tensors and primitives only (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _resume_signature(cfg: RunConfig) -> dict[str, Any]:
    raw = cfg.to_dict()
    signature = {section: dict(raw[section]) for section in RESUME_SECTIONS}
    for key in RESUME_IGNORED_TRAIN_KEYS:
        signature["train"].pop(key, None)
    return signature


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temp file, then os.replace: a crash mid-write never leaves a corrupt last.pt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    # weights_only=True: the checkpoint holds only tensors and primitives, so nothing in it can run code.
    return torch.load(path, map_location="cpu", weights_only=True)


def _save_best(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def _load_best(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))


def train_student(model: torch.nn.Module, transfer: TransferSet, dev: EvalSet, cfg: RunConfig, *, pad_id: int,
                  device: torch.device, checkpoint_dir: str | Path, reporter: Reporter | None = None) -> TrainOutcome:
    """Distil into ``model`` in place; on return it holds the best-dev weights.

    Resumes from ``checkpoint_dir/last.pt`` when it exists and was written for the same
    data/student/train settings. ``reporter.should_stop()`` is polled before every step;
    when it says stop, the position is checkpointed and ``RunCancelled`` raised.
    """
    reporter = reporter or NullReporter()
    tcfg = cfg.train
    checkpoint_dir = Path(checkpoint_dir)
    last_path = checkpoint_dir / CHECKPOINT_NAME
    best_path = checkpoint_dir / BEST_NAME
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cpu" and tcfg.num_threads:
        torch.set_num_threads(tcfg.num_threads)

    set_seed(tcfg.seed)
    model.to(device)
    lengths = [len(ids) for ids in transfer.token_ids]
    batches_per_epoch = math.ceil(len(lengths) / tcfg.batch_size)
    total_steps = max(1, batches_per_epoch * tcfg.epochs)
    warmup_steps = int(tcfg.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup_steps, total_steps))
    soft_loss = losses.get_soft_loss(tcfg.soft_loss)
    use_scaler = amp_dtype(device, tcfg.amp) == torch.float16  # bf16 needs no loss scaling
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)

    step = 0
    epoch = 0
    position = 0  # index of the next batch inside the current epoch
    best_score: float | None = None
    bad_evals = 0
    finished = False
    resumed_from = 0
    signature = _resume_signature(cfg)
    if last_path.is_file():
        state = load_checkpoint(last_path)
        if state.get("signature") == signature:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if use_scaler and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            _set_rng_state(state["rng"])
            step, epoch, position = state["step"], state["epoch"], state["position"]
            best_score, bad_evals, finished = state["best_score"], state["bad_evals"], state["finished"]
            resumed_from = step
            reporter.on_message(f"Resuming student training from step {step} (epoch {epoch + 1}).")
        else:
            reporter.on_message("The checkpoint in this folder was written for other settings; training from scratch.")

    def checkpoint(done: bool) -> None:
        save_checkpoint(last_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if use_scaler else {}, "rng": _rng_state(),
            "step": step, "epoch": epoch, "position": position, "best_score": best_score,
            "bad_evals": bad_evals, "finished": done, "signature": signature, "config": cfg.to_dict(),
        })

    def evaluate() -> bool:
        """Score dev, keep the best weights; True when patience ran out."""
        nonlocal best_score, bad_evals
        logits = student_logits(model, dev, tcfg.batch_size * 2, pad_id, device, tcfg.amp)
        dev_accuracy = accuracy_from_logits(logits, dev.labels) if len(dev.labels) else None
        dev_loss = cross_entropy_from_logits(logits, dev.labels) if len(dev.labels) else None
        reporter.on_eval(PHASE_STUDENT, {
            "step": step, "epoch": epoch + position / batches_per_epoch,
            "dev_accuracy": float("nan") if dev_accuracy is None else dev_accuracy,
            "dev_loss": float("nan") if dev_loss is None else dev_loss,
        })
        # Without dev labels the latest weights count as best (there is nothing to compare).
        score = dev_accuracy if dev_accuracy is not None else float(step)
        if best_score is None or score > best_score:
            best_score, bad_evals = score, 0
            _save_best(model, best_path)
            return False
        bad_evals += 1
        return bool(tcfg.early_stopping_patience) and bad_evals >= tcfg.early_stopping_patience

    stopped_early = finished and step < total_steps
    start_time = time.perf_counter()
    session_steps = 0
    session_samples = 0
    model.train()
    while not finished and epoch < tcfg.epochs:
        batches = _epoch_batches(lengths, tcfg.batch_size, tcfg.seed, epoch)
        while position < len(batches):
            if reporter.should_stop():
                checkpoint(done=False)
                raise RunCancelled()
            rows = np.asarray(batches[position])
            input_ids, attention_mask = pad_batch([transfer.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
            input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
            teacher = torch.from_numpy(np.asarray(transfer.teacher_logits[rows], dtype=np.float32)).to(device)  # (B, C)
            labels = torch.as_tensor(transfer.labels[rows], dtype=torch.long, device=device)  # (B,)

            with autocast(device, tcfg.amp):
                logits = model(input_ids, attention_mask)  # (B, C)
            logits = logits.float()
            loss_soft = soft_loss(logits, teacher, tcfg.temperature)
            loss = tcfg.soft_weight * loss_soft
            loss_hard = torch.zeros((), device=device)
            if tcfg.mode == "semi":
                hard_labels = losses.apply_virtual_labels(labels, teacher, tcfg.virtual_label_threshold)  # (B,)
                if bool((hard_labels != losses.IGNORE_INDEX).any()):
                    loss_hard = losses.hard_ce_loss(logits, hard_labels)
                    weight = losses.hard_weight_at(step, total_steps, tcfg.hard_weight, tcfg.hard_weight_schedule)
                    loss = loss + weight * loss_hard

            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            position += 1
            session_steps += 1
            session_samples += len(rows)

            if step % max(1, tcfg.log_every_steps) == 0 or step == total_steps:
                elapsed = time.perf_counter() - start_time
                reporter.on_step(PHASE_STUDENT, {
                    "step": step, "epoch": epoch + position / len(batches), "loss": loss.item(),
                    "loss_soft": loss_soft.item(), "loss_hard": loss_hard.item(), "lr": scheduler.get_last_lr()[0],
                    "samples_per_s": session_samples / max(elapsed, 1e-9),
                    "eta_s": elapsed / session_steps * (total_steps - step),
                })
            at_epoch_end = position == len(batches)
            if at_epoch_end:
                epoch, position = epoch + 1, 0
            due_eval = (tcfg.eval_every_steps and step % tcfg.eval_every_steps == 0) or \
                (not tcfg.eval_every_steps and at_epoch_end)
            if due_eval:
                model.eval()
                stop = evaluate()
                model.train()
                if stop:
                    reporter.on_message(f"Early stopping: dev accuracy did not improve for {bad_evals} evaluations.")
                    stopped_early = finished = True
                if not tcfg.checkpoint_every_steps or finished:
                    checkpoint(done=finished)
            if tcfg.checkpoint_every_steps and step % tcfg.checkpoint_every_steps == 0 and not finished:
                checkpoint(done=False)
            if finished or at_epoch_end:
                break

    if not finished:
        # The last evaluation may predate the final steps (eval_every_steps); score the end too.
        if tcfg.eval_every_steps and step % tcfg.eval_every_steps != 0:
            model.eval()
            evaluate()
        finished = True
        checkpoint(done=True)
    if best_path.is_file():
        _load_best(model, best_path)
    model.eval()
    best_accuracy = best_score if (best_score is not None and (dev.labels >= 0).any()) else None
    return TrainOutcome(best_dev_accuracy=best_accuracy, steps=step, epochs_completed=epoch + position / max(1, batches_per_epoch),
                        stopped_early=stopped_early, resumed_from_step=resumed_from)


def _linear_schedule(warmup_steps: int, total_steps: int):
    """Linear warm-up to the base rate, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor

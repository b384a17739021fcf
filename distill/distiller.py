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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import losses
from .config import RunConfig
from .errors import ConfigError
from .evaluate import (Batch, accuracy_from_logits, autocast, check_amp_supported, cross_entropy_from_logits,
                       grad_scaler, predict_logits, scaled_step)
from .progress import PHASE_STUDENT, STAGE_DISTILLING, NullReporter, Reporter, RunCancelled
from .students import StudentOutput, TransformerStudent
from .teachers import TeacherIntermediates
from .tokens.batches import length_bucketed_batches, pad_batch, token_lengths

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.safetensors"
# Config sections whose change makes an old checkpoint meaningless for this run.
RESUME_SECTIONS = ("data", "student", "train")
RESUME_IGNORED_TRAIN_KEYS = ("device", "num_threads", "log_every_steps")  # do not change the maths
# Only part of the maths when intermediate matching is on; left out otherwise so checkpoints
# written before these settings existed still resume.
INTERMEDIATE_TRAIN_KEYS = ("hidden_weight", "attention_weight", "layer_mapping")


@dataclass
class TransferSet:
    """What the student learns from: its own token ids, the teacher's logits and any true labels."""

    token_ids: Sequence[list[int]]  # student token ids per row: a list, or a data.TokenStore on disk
    teacher_logits: np.ndarray | None  # (N, C) float32, usually a read-only memmap from the teacher cache; None in "hard" mode
    labels: np.ndarray  # (N,) int64 class index, losses.IGNORE_INDEX (-100) = unlabeled
    intermediates: TeacherIntermediates | None = None  # teacher hidden states / attentions, for intermediate matching


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


def eval_batches(dataset: EvalSet, batch_size: int, pad_id: int,
                 batches: Sequence[np.ndarray] | None = None) -> Iterator[Batch]:
    """Length-sorted padded batches, padded one at a time as they are consumed (a dev set may be huge).

    Evaluation order does not matter, padding does; ``batches`` are row indices when the caller
    already has them (it needs them to put predictions back in dataset order).
    """
    if batches is None:
        batches = length_bucketed_batches(token_lengths(dataset.token_ids), batch_size, shuffle=False, seed=0)
    for rows in batches:
        input_ids, attention_mask = pad_batch([dataset.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
        yield input_ids, attention_mask, torch.as_tensor(dataset.labels[rows], dtype=torch.long)


def student_logits(model: torch.nn.Module, dataset: EvalSet, batch_size: int, pad_id: int, device: torch.device,
                   amp: str = "auto") -> np.ndarray:
    """Logits (N, C) in dataset order."""
    batches = length_bucketed_batches(token_lengths(dataset.token_ids), batch_size, shuffle=False, seed=0)
    was_training = model.training
    model.eval()
    logits, _ = predict_logits(model, eval_batches(dataset, batch_size, pad_id, batches), device, amp)  # (N, C)
    model.train(was_training)
    out = np.zeros_like(logits)
    if len(logits):
        out[np.concatenate(batches)] = logits
    return out


def _epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
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
    ignored = RESUME_IGNORED_TRAIN_KEYS + (() if uses_intermediates(cfg) else INTERMEDIATE_TRAIN_KEYS)
    for key in ignored:
        signature["train"].pop(key, None)
    return signature


def uses_intermediates(cfg: RunConfig) -> bool:
    return cfg.train.hidden_weight > 0 or cfg.train.attention_weight > 0


def resolve_layer_mapping(mapping: Sequence[Sequence[int]], student_layers: int,
                          teacher_layers: int) -> list[tuple[int, int]]:
    """(student, teacher) layer pairs; 0 = embeddings, k = output of layer k.

    Empty ``mapping`` = TinyBERT's uniform mapping: student layer s takes teacher
    layer ceil(s * N_t / N_s), so the last layers meet and the rest spread evenly.
    """
    if not mapping:
        return [(s, math.ceil(s * teacher_layers / student_layers)) for s in range(1, student_layers + 1)]
    pairs: list[tuple[int, int]] = []
    for pair in mapping:
        if len(pair) != 2 or not 0 <= int(pair[0]) <= student_layers or not 0 <= int(pair[1]) <= teacher_layers:
            raise ConfigError(
                f"layer_mapping entry {list(pair)} is not [student layer 0-{student_layers}, teacher layer 0-{teacher_layers}]",
                code="config_layer_mapping", pair=list(pair), student_layers=student_layers,
                teacher_layers=teacher_layers)
        pairs.append((int(pair[0]), int(pair[1])))
    return pairs


def teacher_layers_needed(cfg: RunConfig, pairs: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Teacher hidden-state indices and attention layers to cache for ``pairs`` (attention skips embeddings)."""
    hidden = sorted({t for _, t in pairs}) if cfg.train.hidden_weight > 0 else []
    attention = sorted({t for s, t in pairs if s >= 1 and t >= 1}) if cfg.train.attention_weight > 0 else []
    return hidden, attention


@dataclass
class _Matcher:
    """What intermediate matching needs inside the loop: the layer pairs and the width projection."""

    hidden_pairs: list[tuple[int, int]]  # (student hidden index, row in the teacher hidden batch)
    attention_pairs: list[tuple[int, int]]  # (student layer index into attentions, row in the teacher batch)
    projection: torch.nn.Linear | None  # student width -> teacher width, learnt with the student


def _build_matcher(model: torch.nn.Module, transfer: TransferSet, cfg: RunConfig,
                   lengths: Sequence[int]) -> _Matcher | None:
    tcfg = cfg.train
    if not uses_intermediates(cfg):
        return None
    if not isinstance(model, TransformerStudent):
        raise ConfigError("hidden/attention matching needs the transformer student",
                          code="config_intermediate_matching", architecture=type(model).__name__)
    stored = transfer.intermediates
    if stored is None:
        raise ValueError("intermediate matching is on but the transfer set has no teacher intermediates")
    if not np.array_equal(np.asarray(stored.lengths), np.asarray(lengths)):
        raise ConfigError("the student's token positions do not line up with the teacher's; intermediate matching "
                          "needs the student to read with the teacher's tokenizer and the same max_length",
                          code="config_intermediate_matching")
    pairs = resolve_layer_mapping(tcfg.layer_mapping, len(model.layers), stored.num_layers)
    hidden_layers, attention_layers = teacher_layers_needed(cfg, pairs)
    if not (set(hidden_layers) <= set(stored.hidden_layers) and set(attention_layers) <= set(stored.attention_layers)):
        raise ValueError(f"the cached teacher intermediates hold layers {stored.hidden_layers}/{stored.attention_layers}, "
                         f"not {hidden_layers}/{attention_layers}")
    hidden_pairs = [(s, stored.hidden_layers.index(t)) for s, t in pairs] if hidden_layers else []
    attention_pairs = [(s - 1, stored.attention_layers.index(t)) for s, t in pairs if s >= 1 and t >= 1] \
        if attention_layers else []
    projection = None
    student_width = model.config["hidden_size"]
    if hidden_pairs and student_width != stored.hidden_size:
        # Its own seed, and the global RNG put back: turning matching on leaves dropout's draws unchanged.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            projection = torch.nn.Linear(student_width, stored.hidden_size)
    return _Matcher(hidden_pairs, attention_pairs, projection)


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
    lengths = token_lengths(transfer.token_ids)  # (N,)
    if tcfg.mode != "hard" and transfer.teacher_logits is None:
        raise ValueError(f"mode {tcfg.mode!r} needs the teacher's logits")
    matcher = _build_matcher(model, transfer, cfg, lengths)
    projection = matcher.projection if matcher else None
    if projection is not None:
        projection.to(device)
    trained = list(model.parameters()) + (list(projection.parameters()) if projection is not None else [])
    batches_per_epoch = math.ceil(len(lengths) / tcfg.batch_size)
    total_steps = max(1, batches_per_epoch * tcfg.epochs)
    warmup_steps = int(tcfg.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(trained, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup_steps, total_steps))
    soft_loss = losses.get_soft_loss(tcfg.soft_loss)
    check_amp_supported(model, device, tcfg.amp)
    scaler = grad_scaler(device, tcfg.amp)

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
            if projection is not None:
                projection.load_state_dict(state["projection"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if scaler.is_enabled() and state.get("scaler"):
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
            "projection": projection.state_dict() if projection is not None else {},
            "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "rng": _rng_state(),
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
            rows = batches[position]  # (B,)
            input_ids, attention_mask = pad_batch([transfer.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
            input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
            labels = torch.as_tensor(transfer.labels[rows], dtype=torch.long, device=device)  # (B,)

            with autocast(device, tcfg.amp):
                if matcher is None:
                    output = StudentOutput(logits=model(input_ids, attention_mask))  # (B, C)
                else:
                    output = model(input_ids, attention_mask, output_hidden_states=bool(matcher.hidden_pairs),
                                   output_attentions=bool(matcher.attention_pairs))
            logits = output.logits.float()  # (B, C)
            components: dict[str, torch.Tensor] = {}
            if tcfg.mode == "hard":
                # The no-distillation baseline: true labels only, nothing from the teacher.
                components["loss_hard"] = losses.hard_ce_loss(logits, labels)
                loss = components["loss_hard"]
            else:
                teacher = torch.from_numpy(np.asarray(transfer.teacher_logits[rows], dtype=np.float32)).to(device)  # (B, C)
                components["loss_soft"] = soft_loss(logits, teacher, tcfg.temperature)
                loss = tcfg.soft_weight * components["loss_soft"]
                components["loss_hard"] = torch.zeros((), device=device)
                if tcfg.mode == "semi":
                    hard_labels = losses.apply_virtual_labels(labels, teacher, tcfg.virtual_label_threshold)  # (B,)
                    if bool((hard_labels != losses.IGNORE_INDEX).any()):
                        components["loss_hard"] = losses.hard_ce_loss(logits, hard_labels)
                        weight = losses.hard_weight_at(step, total_steps, tcfg.hard_weight, tcfg.hard_weight_schedule)
                        loss = loss + weight * components["loss_hard"]
            if matcher is not None:
                loss = loss + _intermediate_losses(matcher, output, transfer.intermediates, rows, attention_mask,
                                                   tcfg.hidden_weight, tcfg.attention_weight, components)

            scaled_step(loss, optimizer, scaler, trained, tcfg.max_grad_norm)
            scheduler.step()
            step += 1
            position += 1
            session_steps += 1
            session_samples += len(rows)

            elapsed = time.perf_counter() - start_time
            eta_s = elapsed / session_steps * (total_steps - step)
            if step % max(1, tcfg.log_every_steps) == 0 or step == total_steps:
                reporter.on_step(PHASE_STUDENT, {
                    "step": step, "epoch": epoch + position / len(batches), "loss": loss.item(),
                    **{name: value.item() for name, value in components.items()}, "lr": scheduler.get_last_lr()[0],
                    "samples_per_s": session_samples / max(elapsed, 1e-9),
                    "eta_s": eta_s,
                })
            if step < total_steps:  # the last step is not the end: a dev evaluation and a checkpoint follow
                reporter.on_progress(STAGE_DISTILLING, {"done": step, "total": total_steps, "eta_s": eta_s})
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
                checkpoint(done=finished)
            elif tcfg.checkpoint_every_steps and step % tcfg.checkpoint_every_steps == 0:
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
    # Done: an early stop ends the stage short of total_steps, and the bar says how far it got.
    reporter.on_progress(STAGE_DISTILLING, {"done": step, "total": step, "eta_s": 0.0})
    best_accuracy = best_score if (best_score is not None and (dev.labels >= 0).any()) else None
    return TrainOutcome(best_dev_accuracy=best_accuracy, steps=step, epochs_completed=epoch + position / max(1, batches_per_epoch),
                        stopped_early=stopped_early, resumed_from_step=resumed_from)


def _intermediate_losses(matcher: _Matcher, output: StudentOutput, stored: TeacherIntermediates, rows: np.ndarray,
                         attention_mask: torch.Tensor, hidden_weight: float, attention_weight: float,
                         components: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted TinyBERT terms, each the mean over its layer pairs (so the weight does not scale with depth)."""
    device, width = attention_mask.device, attention_mask.shape[1]
    total = torch.zeros((), device=device)
    if matcher.hidden_pairs:
        teacher_hidden = stored.hidden_batch(rows, width).to(device)  # (L_h, B, T, H_t)
        components["loss_hidden"] = torch.stack([
            # float32 before the projection: under autocast the student's states may be bf16/fp16.
            losses.hidden_mse_loss(output.hidden_states[s].float(), teacher_hidden[t], matcher.projection, attention_mask)
            for s, t in matcher.hidden_pairs]).mean()
        total = total + hidden_weight * components["loss_hidden"]
    if matcher.attention_pairs:
        teacher_attention = stored.attention_batch(rows, width).to(device)  # (L_a, B, h_t, T, T)
        components["loss_attention"] = torch.stack([
            losses.attention_mse_loss(output.attentions[s], teacher_attention[t], attention_mask)
            for s, t in matcher.attention_pairs]).mean()
        total = total + attention_weight * components["loss_attention"]
    return total


def _linear_schedule(warmup_steps: int, total_steps: int):
    """Linear warm-up to the base rate, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor

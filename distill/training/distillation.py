"""The student's distillation: what it learns from, the loss of a batch, and the run of the one loop.

The loop itself (step, evaluation, checkpoint/resume, early stopping) is ``training.loop``;
this module says what is particular to a student: the transfer set (its token ids, the
teacher's cached logits and intermediates, any true labels), the soft/hard/intermediate
loss of a batch, the dev set it is scored on, and the settings a checkpoint must match.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from ..tokens.batches import length_bucketed_batches, pad_batch, token_lengths
from ..errors import ConfigError
from ..evaluate import Batch, accuracy_from_logits, cross_entropy_from_logits, predict_logits
from ..progress import PHASE_STUDENT, STAGE_DISTILLING, NullReporter, Reporter
from ..students import StudentOutput, TransformerStudent
from ..teachers import TeacherIntermediates
from . import losses
from .loop import DevResult, LoopSettings, TrainingJob, run_training

# Config sections whose change makes an old checkpoint meaningless for this run.
RESUME_SECTIONS = ("data", "student", "train")
# Do not change the maths (baseline only says whether a second, separate training follows;
# checkpoint_selection only which evaluation's weights are returned, so checkpoints older than it resume).
RESUME_IGNORED_TRAIN_KEYS = ("device", "num_threads", "log_every_steps", "baseline", "checkpoint_selection")
# Only part of the maths when intermediate matching is on; left out otherwise so checkpoints
# written before these settings existed still resume.
INTERMEDIATE_TRAIN_KEYS = ("hidden_weight", "attention_weight", "layer_mapping")


@dataclass
class TransferSet:
    """What the student learns from: its own token ids, the teacher's logits and any true labels."""

    token_ids: Sequence[list[int]]  # student token ids per row: a list, or a tokens.store.TokenStore on disk
    teacher_logits: np.ndarray | None  # (N, C) float32, usually a read-only memmap from the teacher cache; None in "hard" mode
    labels: np.ndarray  # (N,) int64 class index, losses.IGNORE_INDEX (-100) = unlabeled
    intermediates: TeacherIntermediates | None = None  # teacher hidden states / attentions, for intermediate matching


@dataclass
class EvalSet:
    token_ids: list[list[int]]
    labels: np.ndarray  # (N,) int64, losses.IGNORE_INDEX (-100) = unlabeled (not scored)
    # (N, C) the teacher's logits on these rows, for choosing the checkpoint by agreement; None: not known
    teacher_logits: np.ndarray | None = None


@dataclass
class TrainOutcome:
    best_dev_accuracy: float | None  # None when dev has no labels
    steps: int  # optimizer steps taken in total (across resumes)
    epochs_completed: float
    stopped_early: bool
    resumed_from_step: int  # 0 for a fresh run
    kept_epoch: float | None = None  # the epoch of the evaluation whose weights were returned; None before any
    selection: str = "accuracy"  # the rule that chose it (TrainConfig.checkpoint_selection, resolved)


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


def _resume_signature(cfg: RunConfig) -> dict[str, Any]:
    raw = cfg.to_dict()
    signature = {section: dict(raw[section]) for section in RESUME_SECTIONS}
    ignored = RESUME_IGNORED_TRAIN_KEYS + (() if uses_intermediates(cfg) else INTERMEDIATE_TRAIN_KEYS)
    for key in ignored:
        signature["train"].pop(key, None)
    if cfg.transfer.enabled:
        # Which rows were generated is part of what the student learnt from; off, it is left out so that
        # checkpoints written before transfer sets existed still resume.
        signature["transfer"] = dict(raw["transfer"])
    if not cfg.student.crf:  # likewise, so checkpoints written before taggers had a CRF option still resume
        signature["student"].pop("crf", None)
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


def train_student(model: torch.nn.Module, transfer: TransferSet, dev: EvalSet, cfg: RunConfig, *, pad_id: int,
                  device: torch.device, checkpoint_dir: str | Path, reporter: Reporter | None = None,
                  phase: str = PHASE_STUDENT, stage: str = STAGE_DISTILLING) -> TrainOutcome:
    """Distil into ``model`` in place, through the one loop; on return it holds the best-dev weights.

    ``phase`` and ``stage`` name its chart line and progress bar: the labels-only baseline trains
    through here too, as PHASE_BASELINE in STAGE_BASELINE.

    Resumes from ``checkpoint_dir/last.pt`` when it exists and was written for the same
    data/student/train settings. ``reporter.should_stop()`` is polled before every step;
    when it says stop, the position is checkpointed and ``RunCancelled`` raised.
    """
    reporter = reporter or NullReporter()
    tcfg = cfg.train
    model.to(device)
    lengths = token_lengths(transfer.token_ids)  # (N,)
    if tcfg.mode != "hard" and transfer.teacher_logits is None:
        raise ValueError(f"mode {tcfg.mode!r} needs the teacher's logits")
    matcher = _build_matcher(model, transfer, cfg, lengths)
    projection = matcher.projection if matcher else None
    if projection is not None:
        projection.to(device)
    trained = list(model.parameters()) + (list(projection.parameters()) if projection is not None else [])
    steps_per_epoch = math.ceil(len(lengths) / tcfg.batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.epochs)
    warmup_steps = int(tcfg.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(trained, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup_steps, total_steps))
    soft_loss = losses.get_soft_loss(tcfg.soft_loss)

    def forward(rows: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, StudentOutput]:
        input_ids, attention_mask = pad_batch([transfer.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        labels = torch.as_tensor(transfer.labels[rows], dtype=torch.long, device=device)  # (B,)
        if matcher is None:
            output = StudentOutput(logits=model(input_ids, attention_mask))  # (B, C)
        else:
            output = model(input_ids, attention_mask, output_hidden_states=bool(matcher.hidden_pairs),
                           output_attentions=bool(matcher.attention_pairs))
        return rows, attention_mask, labels, output

    def batch_loss(forwarded: tuple[np.ndarray, torch.Tensor, torch.Tensor, StudentOutput],
                   step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rows, attention_mask, labels, output = forwarded
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
        return loss, components

    selection = tcfg.selection()
    if selection in ("agreement", "soft_loss") and (tcfg.mode == "hard" or dev.teacher_logits is None or not len(dev.token_ids)):
        selection = "accuracy"  # nothing of the teacher's to agree with: a labels-only student, or no dev logits

    def evaluate() -> DevResult:
        logits = student_logits(model, dev, tcfg.batch_size * 2, pad_id, device, tcfg.amp)  # (N_dev, C)
        dev_accuracy = accuracy_from_logits(logits, dev.labels) if len(dev.labels) else None
        dev_loss = cross_entropy_from_logits(logits, dev.labels) if len(dev.labels) else None
        metrics = {"dev_accuracy": float("nan") if dev_accuracy is None else dev_accuracy,
                   "dev_loss": float("nan") if dev_loss is None else dev_loss}
        score = dev_accuracy
        if dev.teacher_logits is not None and len(dev.token_ids) and tcfg.mode != "hard":
            teacher_dev = np.array(dev.teacher_logits, dtype=np.float32)  # (N_dev, C), a writable copy for torch
            agreement = float((logits.argmax(-1) == teacher_dev.argmax(-1)).mean())
            with torch.no_grad():
                dev_soft = float(soft_loss(torch.from_numpy(np.asarray(logits, dtype=np.float32)),
                                           torch.from_numpy(teacher_dev), tcfg.temperature))
            metrics["dev_teacher_agreement"] = agreement
            metrics["dev_soft_loss"] = dev_soft
            # Accuracy only breaks ties: agreement and the soft loss count every dev row, labelled or not.
            if selection == "agreement":
                score = agreement + 1e-3 * (dev_accuracy or 0.0)
            elif selection == "soft_loss":
                score = -dev_soft + 1e-6 * (dev_accuracy or 0.0)
        if selection == "last":
            score = None  # the loop keeps the latest weights when there is no score
        return DevResult(score=score, metrics=metrics)

    job = TrainingJob(
        model=model, optimizer=optimizer, scheduler=scheduler,
        epoch_batches=lambda epoch: _epoch_batches(lengths, tcfg.batch_size, tcfg.seed, epoch),
        steps_per_epoch=steps_per_epoch, forward=forward, loss=batch_loss, evaluate=evaluate,
        checkpoint_dir=Path(checkpoint_dir), signature=_resume_signature(cfg), config=cfg.to_dict(),
        phase=phase, stage=stage,
        resuming_note="student_resuming", stale_note="student_stale",
        extra_modules={"projection": projection},  # student width -> teacher width; None without hidden matching
    )
    outcome = run_training(job, LoopSettings(
        epochs=tcfg.epochs, seed=tcfg.seed, amp=tcfg.amp, max_grad_norm=tcfg.max_grad_norm,
        log_every_steps=tcfg.log_every_steps, eval_every_steps=tcfg.eval_every_steps,
        checkpoint_every_steps=tcfg.checkpoint_every_steps, early_stopping_patience=tcfg.early_stopping_patience,
        num_threads=tcfg.num_threads), device, reporter)
    has_labels = bool((dev.labels >= 0).any())
    best_accuracy = outcome.best_metrics.get("dev_accuracy")
    return TrainOutcome(best_dev_accuracy=best_accuracy if has_labels and best_accuracy == best_accuracy else None,
                        steps=outcome.steps,
                        epochs_completed=outcome.epochs_completed, stopped_early=outcome.stopped_early,
                        resumed_from_step=outcome.resumed_from_step, kept_epoch=outcome.best_metrics.get("epoch"),
                        selection=selection)


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

"""A tagging student's training: one tag per character, learnt from the teacher's per-character logits
and/or the gold tags, through the one loop (``training.loop``).

The student reads one token per character (``tokens.characters.encode_characters``), so row i's
position t is character t of its text, the teacher's logits row ``offsets[i] + t`` and gold tag t: no
alignment happens here. Texts longer than max_length are cut; their last characters are not trained
on, and not scored.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from ..progress import PHASE_STUDENT, STAGE_DISTILLING, NullReporter, Reporter
from ..students.taggers import TaggerModel
from ..tasks.tagging_metrics import entity_metrics
from ..tokens.batches import length_bucketed_batches, pad_batch, token_lengths
from .distillation import _epoch_batches, _linear_schedule, _resume_signature
from .losses import IGNORE_INDEX, hard_weight_at
from .loop import DevResult, LoopSettings, TrainingJob, run_training
from .tagging_losses import tagging_loss


@dataclass
class TaggingSet:
    """What a tagger learns from, or is scored on: per row its character ids, gold tags and the teacher's logits.

    Row i's ids cover its text's first ``len(token_ids[i])`` characters; ``tags[i]`` and the teacher's
    rows may run on past them (the whole text), and only their first ``len(token_ids[i])`` are read.
    """

    token_ids: Sequence[list[int]]  # one id per character (encode_characters): a list, or a TokenStore
    tags: Sequence[Sequence[int]]  # per row gold tag ids, one per character; IGNORE_INDEX (-100) or [] = unlabelled
    teacher_values: np.ndarray | None = None  # (sum of len(text), C) float32 per-character teacher logits; None in hard mode
    teacher_offsets: np.ndarray | None = None  # (N + 1,) int64: row i's teacher logits are values[offsets[i]:offsets[i+1]]
    teacher_mask: np.ndarray | None = None  # (sum of len(text),) bool: False where the teacher has no output for a character

    def labelled_rows(self) -> list[int]:
        """Rows with at least one gold tag among the characters the student reads."""
        return [row for row in range(len(self.token_ids))
                if any(tag != IGNORE_INDEX for tag in list(self.tags[row])[:len(self.token_ids[row])])]


def tag_ids(tags: Sequence[str] | None, tag_names: Sequence[str]) -> list[int]:
    """Gold tag names as ids for a TaggingSet; None (an unlabelled row) gives []. A tag not in ``tag_names`` is -100."""
    index = {name: position for position, name in enumerate(tag_names)}
    return [] if tags is None else [index.get(tag, IGNORE_INDEX) for tag in tags]


@dataclass
class TaggingOutcome:
    best_dev_f1: float | None  # entity F1 (micro); None when dev has no labels
    steps: int  # optimizer steps taken in total (across resumes)
    epochs_completed: float
    stopped_early: bool
    resumed_from_step: int  # 0 for a fresh run


def _padded_tags(dataset: TaggingSet, rows: np.ndarray, width: int) -> torch.Tensor:
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for row, index in enumerate(rows):
        length = len(dataset.token_ids[index])
        gold = list(dataset.tags[index])[:length]
        if gold:
            labels[row, :len(gold)] = torch.as_tensor(gold, dtype=torch.long)
    return labels


def _padded_teacher(dataset: TaggingSet, rows: np.ndarray, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    assert dataset.teacher_values is not None and dataset.teacher_offsets is not None
    classes = dataset.teacher_values.shape[1]
    logits = torch.zeros((len(rows), width, classes), dtype=torch.float32)  # (B, T, C)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)  # (B, T)
    for row, index in enumerate(rows):
        begin, end = int(dataset.teacher_offsets[index]), int(dataset.teacher_offsets[index + 1])
        length = min(len(dataset.token_ids[index]), end - begin)
        # torch.as_tensor copies out of the (read-only, memory-mapped) cache arrays into the batch.
        logits[row, :length] = torch.as_tensor(np.array(dataset.teacher_values[begin:begin + length], dtype=np.float32))
        mask[row, :length] = True if dataset.teacher_mask is None else \
            torch.as_tensor(np.array(dataset.teacher_mask[begin:begin + length], dtype=bool))
    return logits, mask


def tagger_predictions(model: TaggerModel, dataset: TaggingSet, tag_names: Sequence[str], batch_size: int,
                       pad_id: int, device: torch.device) -> list[list[str]]:
    """Per row, one tag name per character read (its CRF's Viterbi path, or each character's argmax), in dataset order."""
    lengths = token_lengths(dataset.token_ids)  # (N,)
    predictions: list[list[str]] = [[] for _ in range(len(lengths))]
    filled = np.flatnonzero(lengths > 0)  # an empty text has nothing to tag, and a recurrent student cannot read it
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for batch in length_bucketed_batches(lengths[filled], batch_size, shuffle=False, seed=0):
            rows = filled[batch]
            input_ids, attention_mask = pad_batch([dataset.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
            input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
            emissions = model(input_ids, attention_mask).float()  # (B, T, C)
            for index, ids in zip(rows, model.decode(emissions, attention_mask)):
                predictions[index] = [tag_names[tag] for tag in ids]
    model.train(was_training)
    return predictions


def dev_entity_metrics(model: TaggerModel, dataset: TaggingSet, tag_names: Sequence[str], batch_size: int,
                       pad_id: int, device: torch.device) -> dict | None:
    """entity_metrics over the labelled rows (their characters the student reads); None when no row is labelled."""
    rows = dataset.labelled_rows()
    if not rows:
        return None
    predicted = tagger_predictions(model, dataset, tag_names, batch_size, pad_id, device)
    gold: list[list[str]] = []
    guessed: list[list[str]] = []
    for row in rows:
        length = len(dataset.token_ids[row])
        tags = list(dataset.tags[row])[:length]
        # A character without a gold tag (-100) is read as O, so seqeval still sees aligned sequences.
        gold.append([tag_names[tag] if tag != IGNORE_INDEX else "O" for tag in tags] + ["O"] * (length - len(tags)))
        guessed.append(predicted[row])
    return entity_metrics(gold, guessed)


def _dev_score(scores: dict) -> float:
    """Entity F1 once any entity is found; before that, token accuracy - 1 (below every F1 above 0).

    A tagger's F1 is 0 for its first epochs (it says O everywhere until entities form), and a flat 0 would
    stop training early before any entity was learnt; the token accuracy under it still measures progress.
    Once F1 is above 0 the score is F1 itself, so the best score is the best dev F1."""
    return scores["f1"] if scores["f1"] > 0 else scores["token_accuracy"] - 1.0


def train_tagger(model: TaggerModel, train: TaggingSet, dev: TaggingSet, tag_names: Sequence[str], cfg: RunConfig, *,
                 pad_id: int, device: torch.device, checkpoint_dir: str | Path, reporter: Reporter | None = None,
                 phase: str = PHASE_STUDENT, stage: str = STAGE_DISTILLING) -> TaggingOutcome:
    """Train ``model`` in place through the one loop; on return it holds the best-dev (entity F1) weights.

    ``cfg.train`` gives the mode ("hard": gold tags only; "soft": the teacher's per-character logits;
    "semi": both), soft loss (token "kl" or emission "mse"), temperature, weights and the loop's settings.
    The hard loss is the CRF's NLL when the model has a CRF, else token cross-entropy. Resumes from
    ``checkpoint_dir/last.pt`` when it was written for the same data/student/train settings.
    """
    reporter = reporter or NullReporter()
    tcfg = cfg.train
    if tcfg.mode != "hard" and (train.teacher_values is None or train.teacher_offsets is None):
        raise ValueError(f"mode {tcfg.mode!r} needs the teacher's per-character logits")
    model.to(device)
    lengths = token_lengths(train.token_ids)  # (N,)
    rows_kept = np.flatnonzero(lengths > 0)  # empty texts have no character to learn from
    if not len(rows_kept):
        raise ValueError("the tagging set has no character to train on")
    steps_per_epoch = math.ceil(len(rows_kept) / tcfg.batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(int(tcfg.warmup_ratio * total_steps),
                                                                              total_steps))

    def forward(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        rows = rows_kept[rows]
        input_ids, attention_mask = pad_batch([train.token_ids[i] for i in rows], pad_id)  # (B, T), (B, T)
        width = input_ids.shape[1]
        labels = _padded_tags(train, rows, width).to(device)  # (B, T)
        teacher, teacher_mask = (None, None) if tcfg.mode == "hard" else _padded_teacher(train, rows, width)
        attention_mask = attention_mask.to(device)
        emissions = model(input_ids.to(device), attention_mask)  # (B, T, C)
        return (emissions, attention_mask, labels, None if teacher is None else teacher.to(device),
                None if teacher_mask is None else teacher_mask.to(device))

    def batch_loss(forwarded: tuple[torch.Tensor, ...], step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        emissions, attention_mask, labels, teacher, teacher_mask = forwarded
        return tagging_loss(emissions.float(), attention_mask, labels, teacher, teacher_mask, crf=model.crf,
                            mode=tcfg.mode, soft_loss=tcfg.soft_loss, temperature=tcfg.temperature,
                            soft_weight=tcfg.soft_weight,
                            hard_weight=hard_weight_at(step, total_steps, tcfg.hard_weight, tcfg.hard_weight_schedule))

    def evaluate() -> DevResult:
        scores = dev_entity_metrics(model, dev, tag_names, tcfg.batch_size * 2, pad_id, device)
        if scores is None:
            return DevResult(score=None, metrics={"dev_f1": float("nan"), "dev_token_accuracy": float("nan")})
        return DevResult(score=_dev_score(scores), metrics={
            "dev_f1": scores["f1"], "dev_precision": scores["precision"], "dev_recall": scores["recall"],
            "dev_token_accuracy": scores["token_accuracy"]})

    signature = _resume_signature(cfg)
    signature["task"] = "tagging"  # a text student's checkpoint in the same folder is not this one's
    job = TrainingJob(
        model=model, optimizer=optimizer, scheduler=scheduler,
        # Indices into rows_kept; a function of (seed, epoch) only, so a resumed run replays the same batches.
        epoch_batches=lambda epoch: _epoch_batches(lengths[rows_kept], tcfg.batch_size, tcfg.seed, epoch),
        steps_per_epoch=steps_per_epoch, forward=forward, loss=batch_loss, evaluate=evaluate,
        checkpoint_dir=Path(checkpoint_dir), signature=signature, config=cfg.to_dict(), phase=phase, stage=stage,
        resuming_note="student_resuming", stale_note="student_stale",
    )
    outcome = run_training(job, LoopSettings(
        epochs=tcfg.epochs, seed=tcfg.seed, amp=tcfg.amp, max_grad_norm=tcfg.max_grad_norm,
        log_every_steps=tcfg.log_every_steps, eval_every_steps=tcfg.eval_every_steps,
        checkpoint_every_steps=tcfg.checkpoint_every_steps, early_stopping_patience=tcfg.early_stopping_patience,
        num_threads=tcfg.num_threads), device, reporter)
    has_dev_labels = bool(dev.labelled_rows())
    return TaggingOutcome(best_dev_f1=max(outcome.best_score or 0.0, 0.0) if has_dev_labels else None,
                          steps=outcome.steps,
                          epochs_completed=outcome.epochs_completed, stopped_early=outcome.stopped_early,
                          resumed_from_step=outcome.resumed_from_step)

"""The one training loop, shared by the student's distillation and the teacher's fine-tune.

The loop owns what every training needs the same way: seeding, the optimizer step in mixed
precision, the evaluation cadence, early stopping, best-weights tracking, progress events,
cancellation and an exact checkpoint/resume. What differs between trainings (the model, an
epoch's batches, the loss of a batch, the dev score, where checkpoints live) comes in a
``TrainingJob``; how long and how often comes in ``LoopSettings``. (TextBrewer splits it the same
way: ``AbstractDistiller`` under both ``BasicTrainer`` and ``BasicDistiller``.)

Every epoch's batches must be a pure function of (seed, epoch), and the checkpoint holds model,
optimizer, scheduler, loss scaler, every RNG state and the position inside the epoch, so a run
stopped at any step boundary and resumed ends with the same weights as one that never stopped
(bit-equal on CPU).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..progress import Reporter, RunCancelled, send_note
from .checkpoints import (BEST_NAME, CHECKPOINT_NAME, load_best_weights, load_checkpoint, resumable, rng_state,
                          save_best_weights, save_checkpoint, set_rng_state, set_seed)
from .precision import autocast, check_amp_supported, grad_scaler, scaled_step


@dataclass
class DevResult:
    """One dev evaluation, as a training's ``evaluate`` returns it."""

    score: float | None  # higher is better; None when dev has no labels: the latest weights then count as best
    metrics: dict[str, float]  # the eval point's numbers beside step and epoch, e.g. dev_accuracy, dev_loss


@dataclass
class TrainingJob:
    """What one training is: the parts the loop cannot know. Build the optimizer after moving the model."""

    model: torch.nn.Module  # trained in place; holds the best-dev weights when the loop returns
    optimizer: torch.optim.Optimizer  # over the model's and the extra modules' parameters
    scheduler: torch.optim.lr_scheduler.LRScheduler  # stepped once per optimizer step
    epoch_batches: Callable[[int], Sequence[np.ndarray]]  # epoch -> row-index batches; a pure function of (seed, epoch)
    steps_per_epoch: int  # len(epoch_batches(e)) for every epoch
    forward: Callable[[np.ndarray], Any]  # a batch's rows -> whatever ``loss`` needs; run under autocast
    loss: Callable[[Any, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]  # (forward's output, step) -> (loss, named parts), float32
    evaluate: Callable[[], DevResult]  # the dev score of the model as it is now (the loop puts it in eval mode)
    checkpoint_dir: Path  # last.pt and best.safetensors live here
    signature: dict[str, Any]  # what the maths depends on; a checkpoint written for another signature is not resumed
    config: dict[str, Any]  # saved in the checkpoint beside the position, so a checkpoint explains itself
    phase: str  # progress.PHASE_*: the chart line every step and eval point belongs to
    stage: str  # progress.STAGE_*: the stage whose bar on_progress moves
    resuming_note: str  # progress.NOTE_CODES: said when a checkpoint is resumed, with step= and epoch= (1-based)
    stale_note: str  # progress.NOTE_CODES: said when the checkpoint found was written for other settings
    # Trained beside the model and checkpointed under their names; None (a module these settings do not
    # need) is saved as {}, so the payload's keys do not depend on the settings.
    extra_modules: dict[str, torch.nn.Module | None] = field(default_factory=dict)
    # Called with the outcome once the best weights are loaded, before the final progress point (the
    # teacher saves its folder here, so the bar reads 100% only after the save).
    on_finished: Callable[[LoopOutcome], None] | None = None


@dataclass
class LoopSettings:
    epochs: int  # passes over the batches
    seed: int  # seeds every RNG at the start; resumed runs restore the RNG states instead
    amp: str  # precision.AMP_MODES
    max_grad_norm: float  # gradients are clipped to this norm before every step
    log_every_steps: int  # an on_step point every this many steps (and at the last one)
    eval_every_steps: int = 0  # 0: evaluate at each epoch's end
    checkpoint_every_steps: int = 0  # 0: checkpoint only after evaluations and on cancel
    early_stopping_patience: int = 0  # stop after this many evaluations without a better score; 0: never stop early
    num_threads: int = 0  # CPU threads for torch; 0 leaves torch's choice


@dataclass
class LoopOutcome:
    best_score: float | None  # the best DevResult.score (the last step when dev has no labels); None before any evaluation
    best_metrics: dict[str, float]  # that evaluation's point (step, epoch, dev accuracy...); {} before any
    steps: int  # optimizer steps taken in total (across resumes)
    epochs_completed: float
    stopped_early: bool
    resumed_from_step: int  # 0 for a fresh run


def run_training(job: TrainingJob, settings: LoopSettings, device: torch.device, reporter: Reporter) -> LoopOutcome:
    """Train ``job.model`` in place, resuming from ``job.checkpoint_dir`` when it holds a checkpoint of this job.

    ``reporter.should_stop()`` is polled before every step; when it says stop, the position is
    checkpointed and ``RunCancelled`` raised. On return the model holds the best-dev weights, in eval mode.
    """
    model = job.model
    if device.type == "cpu" and settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    set_seed(settings.seed)
    check_amp_supported(model, device, settings.amp)
    scaler = grad_scaler(device, settings.amp)
    extras = {name: module for name, module in job.extra_modules.items() if module is not None}
    parameters = [*model.parameters(), *(p for module in extras.values() for p in module.parameters())]
    total_steps = max(1, job.steps_per_epoch * settings.epochs)
    last_path, best_path = job.checkpoint_dir / CHECKPOINT_NAME, job.checkpoint_dir / BEST_NAME
    job.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    step = epoch = position = 0  # position: index of the next batch inside the current epoch
    best_score: float | None = None
    best_metrics: dict[str, float] = {}
    bad_evals = 0
    finished = False
    resumed_from = 0
    saved = load_checkpoint(last_path) if last_path.is_file() else None
    if saved is not None and resumable(saved, job.signature):
        model.load_state_dict(saved["model"])
        for name, module in extras.items():
            module.load_state_dict(saved[name])
        job.optimizer.load_state_dict(saved["optimizer"])
        job.scheduler.load_state_dict(saved["scheduler"])
        if scaler.is_enabled() and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"])
        step, epoch, position = saved["step"], saved["epoch"], saved["position"]
        best_score, bad_evals, finished = saved["best_score"], saved["bad_evals"], saved["finished"]
        best_metrics = dict(saved.get("best_metrics") or {})  # absent from checkpoints older than it
        resumed_from = step
        send_note(reporter, job.resuming_note, step=step, epoch=epoch + 1)
    else:
        if saved is not None:
            send_note(reporter, job.stale_note)
        # Best weights without their last.pt are not this run's either.
        last_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    del saved

    def checkpoint(done: bool) -> None:
        save_checkpoint(last_path, {
            "model": model.state_dict(), "optimizer": job.optimizer.state_dict(),
            "scheduler": job.scheduler.state_dict(), "scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "rng": rng_state(), "step": step, "epoch": epoch, "position": position, "best_score": best_score,
            "best_metrics": best_metrics,
            "bad_evals": bad_evals, "finished": done, "signature": job.signature, "config": job.config,
            **{name: module.state_dict() if module is not None else {} for name, module in job.extra_modules.items()},
        })

    def evaluate() -> bool:
        """Score dev, keep the best weights; True when patience ran out."""
        nonlocal best_score, best_metrics, bad_evals
        model.eval()
        result = job.evaluate()
        model.train()
        point = {"step": step, "epoch": epoch + position / max(1, job.steps_per_epoch), **result.metrics}
        reporter.on_eval(job.phase, point)
        # Without dev labels the latest weights count as best (there is nothing to compare).
        score = result.score if result.score is not None else float(step)
        if best_score is None or score > best_score:
            best_score, best_metrics, bad_evals = score, dict(point), 0
            save_best_weights(model, best_path)
            return False
        bad_evals += 1
        return bool(settings.early_stopping_patience) and bad_evals >= settings.early_stopping_patience

    stopped_early = finished and step < total_steps
    start_time = time.perf_counter()
    session_steps = session_samples = 0
    model.train()
    while not finished and epoch < settings.epochs:
        batches = job.epoch_batches(epoch)
        while position < len(batches):
            if reporter.should_stop():
                checkpoint(done=False)
                raise RunCancelled()
            rows = batches[position]  # (B,)
            with autocast(device, settings.amp):
                output = job.forward(rows)
            loss, components = job.loss(output, step)
            scaled_step(loss, job.optimizer, scaler, parameters, settings.max_grad_norm)
            job.scheduler.step()
            step += 1
            position += 1
            session_steps += 1
            session_samples += len(rows)

            elapsed = time.perf_counter() - start_time
            eta_s = elapsed / session_steps * (total_steps - step)
            if step % max(1, settings.log_every_steps) == 0 or step == total_steps:
                reporter.on_step(job.phase, {
                    "step": step, "epoch": epoch + position / len(batches), "loss": loss.item(),
                    **{name: value.item() for name, value in components.items()},
                    "lr": job.scheduler.get_last_lr()[0], "samples_per_s": session_samples / max(elapsed, 1e-9),
                    "eta_s": eta_s,
                })
            if step < total_steps:  # the last step is not the end: a dev evaluation and a checkpoint follow
                reporter.on_progress(job.stage, {"done": step, "total": total_steps, "eta_s": eta_s})
            at_epoch_end = position == len(batches)
            if at_epoch_end:
                epoch, position = epoch + 1, 0
            due_eval = (settings.eval_every_steps and step % settings.eval_every_steps == 0) or \
                (not settings.eval_every_steps and at_epoch_end)
            if due_eval:
                if evaluate():
                    send_note(reporter, "early_stopping", evaluations=bad_evals)
                    stopped_early = finished = True
                finished = finished or step >= total_steps  # the last step's evaluation ends the training
                checkpoint(done=finished)
            elif settings.checkpoint_every_steps and step % settings.checkpoint_every_steps == 0:
                checkpoint(done=False)
            if finished or at_epoch_end:
                break

    if not finished:
        # The last evaluation may predate the final steps (eval_every_steps); score the end too.
        if settings.eval_every_steps and step % settings.eval_every_steps != 0:
            evaluate()
        finished = True
        checkpoint(done=True)
    if best_path.is_file():
        load_best_weights(model, best_path)
    model.eval()
    outcome = LoopOutcome(best_score=best_score, best_metrics=best_metrics, steps=step,
                          epochs_completed=epoch + position / max(1, job.steps_per_epoch),
                          stopped_early=stopped_early, resumed_from_step=resumed_from)
    if job.on_finished is not None:
        job.on_finished(outcome)
    # Done: an early stop ends the stage short of total_steps, and the bar says how far it got.
    reporter.on_progress(job.stage, {"done": step, "total": step, "eta_s": 0.0})
    return outcome

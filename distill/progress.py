"""How the engine talks to whoever runs it: progress events out, a stop flag in.

The engine calls a ``Reporter``; the web layer implements one that stores each
point in the database and pushes it to the browser, the CLI one that draws a
progress bar, tests one that records. Every point is a flat dict of named
numbers, so any reporter can store or plot it without knowing the engine.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

# Stages in the order a run passes through them. The web layer mirrors these as
# Run.status values; keep the names stable.
STAGE_PREPARING = "preparing"  # reading the corpus, building vocabularies
STAGE_FINETUNING_TEACHER = "finetuning_teacher"  # teacher had no head for these labels
STAGE_LABELLING = "labelling"  # teacher computes soft labels (or reads them from cache)
STAGE_DISTILLING = "distilling"  # student training
STAGE_BASELINE = "baseline"  # the same student trained on labels only (TrainConfig.baseline), for comparison
STAGE_EVALUATING = "evaluating"  # final dev/test scores, speed, export
STAGES = (STAGE_PREPARING, STAGE_FINETUNING_TEACHER, STAGE_LABELLING, STAGE_DISTILLING, STAGE_BASELINE,
          STAGE_EVALUATING)

# Phases a metric point belongs to, so one chart can tell the teacher's
# fine-tuning curve from the student's distillation curve.
PHASE_TEACHER = "teacher"
PHASE_STUDENT = "student"
PHASE_BASELINE = "baseline"  # the no-distillation baseline's curve: the student on labels only


@runtime_checkable
class Reporter(Protocol):
    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        """A new stage began; ``info`` carries e.g. {"device": "cpu"} or {"cached": True}."""

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        """A training point: step, epoch, loss and its components, lr, samples_per_s, eta_s."""

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        """A dev evaluation: step, epoch, dev_accuracy, dev_loss."""

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        """How far a long stage is: ``done`` and ``total``, ``eta_s``.

        Teacher labelling counts texts; teacher fine-tuning and student distillation count training
        steps. ``done == total`` only once the stage's work is over (after the last dev evaluation and
        save), so a bar never reads 100% while the stage still runs. Called after every batch or step,
        so a reporter that stores or sends it should throttle.
        """

    def on_message(self, message: str) -> None:
        """A human-readable note in English; the web run page lists it, translated where its wording is known."""

    def should_stop(self) -> bool:
        """Polled between steps; True ends the run as cancelled at the next step boundary."""


class NullReporter:
    """Ignores everything and never stops; the default for library use."""

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        pass

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        pass

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        pass

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        pass

    def on_message(self, message: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class RecordingReporter(NullReporter):
    """Keeps every event in order; used by tests and by the CLI summary."""

    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.events: list[tuple[str, str, dict]] = []
        self.stop_after_steps = stop_after_steps
        self.steps_seen = 0

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        self.events.append(("stage", stage, dict(info)))

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        self.steps_seen += 1
        self.events.append(("step", phase, dict(point)))

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        self.events.append(("eval", phase, dict(point)))

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        self.events.append(("progress", stage, dict(point)))

    def on_message(self, message: str) -> None:
        self.events.append(("message", message, {}))

    def should_stop(self) -> bool:
        return self.stop_after_steps is not None and self.steps_seen >= self.stop_after_steps

    def stages(self) -> list[str]:
        return [name for kind, name, _ in self.events if kind == "stage"]


class RunCancelled(Exception):
    """Raised inside the engine when the reporter asked to stop; the run ends as cancelled."""

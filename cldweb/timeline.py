"""A run's story for its page: the stages it passed through with the time each took, and one progress bar
with the time left over the whole run.

The times come from the run's stage marks (points of phase ``stage``, written by the reporter when the
engine enters a stage, and by ``Run.resume`` when a stopped run is queued again), measured between one
mark and the next; once the run is done, the engine's own ``RunResult.stage_seconds`` replace the last
attempt's (they also split out loading the teacher and exporting, which have no mark of their own).
Earlier attempts (a resume, a crashed worker) keep their measured times: the timeline sums them.

Nothing here is stored: ``rows`` and ``overall`` are worked out from the row at each status message.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from cldweb import messages

# ``run`` below is a cldweb.models.Run, not imported: models imports this module (for status messages).
Run = Any

# The phase of a stage mark (a point of kind "note", MetricPoint.PHASE_STAGE).
PHASE_STAGE = "stage"
QUEUED = "queued"
# Every line the timeline can show, in the order a run meets them.
ORDER = ("queued", "preparing", "loading_teacher", "finetuning_teacher", "generating", "labelling", "distilling",
         "baseline", "evaluating", "exporting")

# How long each stage takes relative to the others, for the stages not reached yet: a rough prior,
# corrected by what this run measured (see ``overall``). Fine-tuning and distilling are training
# passes; labelling one forward pass of the teacher; the rest is bookkeeping.
WEIGHTS = {"preparing": 0.5, "loading_teacher": 0.2, "finetuning_teacher": 6.0, "generating": 2.0, "labelling": 3.0,
           "distilling": 6.0, "baseline": 6.0, "evaluating": 0.8, "exporting": 0.4}
# Stages whose measured speed says something about the stages after them (long, counted work).
MEASURING = ("finetuning_teacher", "generating", "labelling", "distilling", "baseline")
# The bar never reads 100% before the run is done: the last step of a stage still has evaluating and exporting after it.
MOST_BEFORE_DONE = 0.99


def planned(run: Run) -> list[str]:
    """The stages this run's settings go through, as far as they are known before it starts.

    Whether the teacher needs fine-tuning is known only when the engine gets there (a teacher with a
    head for these labels skips it), so it is planned and shown as skipped once passed.
    """
    config = run.config or {}
    train, transfer = config.get("train") or {}, config.get("transfer") or {}
    stages = [QUEUED, "preparing", "finetuning_teacher"]
    if (transfer.get("preset") or "off") != "off":
        stages.append("generating")
    stages += ["labelling", "distilling"]
    if train.get("baseline") and train.get("mode") != "hard":
        stages.append("baseline")
    return stages + ["evaluating", "exporting"]


def _marks(run: Run) -> list[dict[str, Any]]:
    marks = [{"stage": values.get("stage", ""), "at": at, "stopped_at": _parse(values.get("stopped_at"))}
             for values, at in run.points.filter(phase=PHASE_STAGE).order_by("seq")
             .values_list("values", "created_at")]
    if not marks or marks[0]["stage"] != QUEUED:
        marks.insert(0, {"stage": QUEUED, "at": run.created_at, "stopped_at": None})
    return marks


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def stage_seconds(run: Run, now: datetime | None = None) -> dict[str, float]:
    """Seconds spent in each stage so far, over every attempt (the current stage up to ``now``)."""
    now = now or timezone.now()
    marks = _marks(run)
    end = run.finished_at if run.is_finished and run.finished_at else now
    segments: list[tuple[str, float]] = []
    for index, mark in enumerate(marks):
        following = marks[index + 1] if index + 1 < len(marks) else None
        # A run stopped (cancelled, failed) and resumed later: its stage ended when it stopped, not at the resume.
        until = (following["stopped_at"] or following["at"]) if following else end
        segments.append((mark["stage"], max(0.0, (until - mark["at"]).total_seconds())))
    engine = (run.result or {}).get("stage_seconds") or {}
    if run.status == "done" and engine:
        # The engine timed the last attempt exactly (and split loading the teacher and exporting out):
        # its times replace what the marks of that attempt measured.
        last_start = max((i for i, (stage, _s) in enumerate(segments) if stage == "preparing"), default=len(segments))
        segments = segments[:last_start] + [(str(stage), float(seconds)) for stage, seconds in engine.items()
                                            if isinstance(seconds, (int, float))]
    totals: dict[str, float] = {}
    for stage, seconds in segments:
        totals[stage] = totals.get(stage, 0.0) + seconds
    return totals


def rows(run: Run, now: datetime | None = None) -> list[dict[str, Any]]:
    """The timeline's lines in run order: {"stage", "label", "state", "seconds", "time"}.

    ``state``: "done", "current" (its seconds so far), "pending" (not reached), "skipped" (passed
    without running it: a teacher that needed no fine-tuning) or "stopped" (where a failed or
    cancelled run ended). A finished run lists the stages that ran, with their time.
    """
    seconds = stage_seconds(run, now)
    names = stage_names()
    plan = planned(run)
    current = run.status if run.is_active else ""
    current_index = ORDER.index(current) if current in ORDER else -1
    stopped = ""
    if run.status in ("failed", "cancelled"):
        stopped = _marks(run)[-1]["stage"]
    out = []
    for stage in ORDER:
        index = ORDER.index(stage)
        if stage == current:
            state = "current"
        elif stage == stopped:
            state = "stopped"
        elif stage in seconds and (not run.is_active or index < current_index):
            state = "done"
        elif run.is_active and stage in plan and index > current_index:
            state = "pending"
        elif run.is_active and stage in plan:
            state = "skipped"
        else:
            continue
        value = seconds.get(stage)
        out.append({"stage": stage, "label": names[stage], "state": state,
                    "seconds": None if value is None or state in ("pending", "skipped") else round(value, 1),
                    "time": messages.stage_state_time(state, value)})
    return out


def overall(run: Run, now: datetime | None = None) -> dict[str, Any]:
    """The whole run's bar: {"fraction", "eta_s", "text"} (fraction 0–1, eta_s None while unknown);
    {} when the run failed or was cancelled (no bar then says anything true).

    Each stage's length is estimated as: a finished stage its time; the current one its time so far
    plus the time left it reports (labelling, fine-tuning and distilling do), else at least the prior;
    a later one its WEIGHTS prior scaled by the seconds per weight this run has measured on its long
    stages (the labels-only baseline takes as long as the distillation, with the same student and budget).
    Until one long stage has measured its speed the time left is unknown and the bar moves by the priors.
    Queueing is not work: it counts neither way.
    """
    if run.status == "done":
        return {"fraction": 1.0, "eta_s": 0.0, "text": messages.overall_done()}
    if not run.is_active:
        return {}
    seconds = stage_seconds(run, now)
    plan = [stage for stage in planned(run) if stage != QUEUED]
    if run.status == QUEUED:
        return {"fraction": 0.0, "eta_s": None, "text": messages.overall_progress(0.0, None)}
    current = run.status
    progress = run.current_progress
    reported_left = progress.get("eta_s") if isinstance(progress.get("eta_s"), (int, float)) else None
    share_done = (progress["done"] / progress["total"]) if progress.get("total") else None
    current_index = plan.index(current) if current in plan else len(plan)

    measured: dict[str, float] = {}
    for stage in plan[:current_index]:
        if stage in seconds:
            measured[stage] = seconds[stage]
    if reported_left is not None:
        measured[current] = seconds.get(current, 0.0) + reported_left
    units = [(measured[stage], WEIGHTS[stage]) for stage in MEASURING if stage in measured]
    per_weight = sum(s for s, _w in units) / sum(w for _s, w in units) if units else None

    estimates: dict[str, float] = {}
    weights_done = 0.0
    for index, stage in enumerate(plan):
        if index < current_index:
            if stage in seconds:
                estimates[stage] = seconds[stage]
                weights_done += WEIGHTS[stage]
            continue  # skipped: it takes nothing
        if stage == current and stage in measured:
            estimates[stage] = measured[stage]
        elif stage == "baseline" and "distilling" in estimates:
            estimates[stage] = estimates["distilling"]
        elif per_weight is not None:
            estimates[stage] = WEIGHTS[stage] * per_weight
        if stage == current:
            estimates[stage] = max(estimates.get(stage, 0.0), seconds.get(current, 0.0))
            weights_done += WEIGHTS[stage] * (share_done or 0.0)

    spent = sum(seconds.get(stage, 0.0) for stage in plan[:current_index + 1])
    if per_weight is None:
        total_weight = sum(WEIGHTS[stage] for stage in plan[current_index:]) + sum(
            WEIGHTS[stage] for stage in plan[:current_index] if stage in seconds)
        fraction, eta = weights_done / total_weight if total_weight else 0.0, None
    else:
        total = sum(estimates.values())
        fraction, eta = (spent / total if total else 0.0), max(0.0, total - spent)
    fraction = min(MOST_BEFORE_DONE, max(0.0, fraction))
    return {"fraction": round(fraction, 4), "eta_s": None if eta is None else round(eta, 1),
            "text": messages.overall_progress(fraction, eta)}


def stage_names() -> dict[str, str]:
    """Every timeline line's name: the report's stage names, and the queue."""
    return {QUEUED: messages.stage_queued_name(), **messages.report_stage_names()}

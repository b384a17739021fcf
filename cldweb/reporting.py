"""WebReporter: the engine's progress, stored first, then pushed to browsers.

The path of one training point: ``distill`` calls ``on_step`` -> a MetricPoint row
is written with the next ``seq`` (the database is the source of truth) -> the point
joins a pending batch -> at most ~4 times a second the batch goes to the Channels
group ``run-<id>``, where every RunConsumer watching that run forwards it. The
engine's notes (``on_message``) take the same path as points of kind "note", sent at once.

The channel layer is at-most-once: a dropped batch is filled in from the database
when the browser reconnects with ``?after=<last seq>``. Sending is therefore
best-effort and never fails the run.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Mapping, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

from cldweb import jobs
from cldweb.lib.jsonsafe import json_safe
from cldweb.models import MetricPoint, Run

logger = logging.getLogger(__name__)


class PointMessage(TypedDict):
    seq: int
    phase: str  # "teacher" | "student" | "" (a note)
    kind: str  # "step" | "eval" | "note"
    step: int
    values: dict[str, Any]  # named numbers; a note's {"text": English, "code": ..., "params": {...}}


class RunSummary(TypedDict):
    """A run's status for its owner's list pages (dashboard, runs list, queue), group ``owner-<user id>``."""

    type: str  # "runs.status"
    run: int
    name: str  # "" when unnamed: the page words "Run #<id>" in its own language
    status: str
    is_active: bool
    queue_position: int  # among everyone's queued runs, 1 = next; 0 unless queued
    runs_ahead: int  # as on the run page: those running now and those earlier in the queue


def group_name(run_id: int) -> str:
    return f"run-{run_id}"


def owner_group_name(user_id: int) -> str:
    return f"owner-{user_id}"


def run_summary(run: Run) -> RunSummary:
    return {"type": "runs.status", "run": run.pk, "name": run.name, "status": run.status, "is_active": run.is_active,
            "queue_position": run.queue_position(), "runs_ahead": run.runs_ahead()}


def gpu_name() -> str:
    """The name of the GPU this worker trains on ("NVIDIA H200"), shown while the run is going."""
    import torch  # already loaded in a worker that trains on a GPU

    try:
        return torch.cuda.get_device_name(torch.cuda.current_device())
    except Exception:  # the engine reported cuda but the driver cannot say: the type alone is shown
        return ""


def send_queue_positions() -> None:
    """Every queued run's status to its page and its owner's, so "Waiting for 2 runs ahead of it" and the
    queue page's positions count down live (after a run starts, ends, is cancelled or moved in the queue)."""
    for run_id in Run.objects.filter(status=Run.Status.QUEUED).values_list("pk", flat=True):
        WebReporter(run_id).send_status()


class WebReporter:
    """distill.progress.Reporter for a Run row; used by the Celery task."""

    FLUSH_INTERVAL_S = 0.25  # at most ~4 batches per second per run
    STOP_POLL_INTERVAL_S = 1.0  # read Run.cancel_requested (and write heartbeat_at) at most once a second
    PROGRESS_INTERVAL_S = 1.0  # store and push a stage's progress at most once a second (it comes every batch)

    def __init__(self, run_id: int, *, attempt: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run_id = run_id
        # The attempt whose heartbeat ``should_stop`` writes (through jobs.beat, which checks it);
        # None for a reporter that only sends the status and writes no heartbeat.
        self.attempt = attempt
        self.group = group_name(run_id)
        self._clock = clock
        self._last_seq = MetricPoint.next_seq(run_id) - 1  # a retried run continues numbering
        self._pending: list[PointMessage] = []
        self._last_flush = -math.inf
        self._last_poll = -math.inf
        self._last_progress = -math.inf
        self._stop = False
        # A private layer instance (not the process-wide one) so closing its Redis pools
        # after each send cannot touch connections that other code in this process uses.
        self._layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    # -- Reporter protocol ---------------------------------------------------------------

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        self.flush()
        if info.get("device") == "cuda":
            info = {**info, "device_name": gpu_name()}
        Run(pk=self.run_id).mark_stage(stage, info, attempt=self.attempt)
        if stage in Run.STAGE_STATUSES:  # the stage mark the run page's timeline measures from (cldweb.timeline)
            self._record(MetricPoint.PHASE_STAGE, MetricPoint.KIND_NOTE, MetricPoint.stage_values(stage))
        self.flush()
        # The new stage's first point and first progress point are shown at once (the mark's send is no batch to wait for).
        self._last_flush = self._last_progress = -math.inf
        self.send_status()

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        self._record(phase, MetricPoint.KIND_STEP, point)

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        self._record(phase, MetricPoint.KIND_EVAL, point)

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        # Throttled, except for the last point (done == total), so the stored state is never
        # left a second short of the end of the pass.
        now = self._clock()
        finished = point.get("done") == point.get("total")
        if not finished and now - self._last_progress < self.PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        if Run(pk=self.run_id).record_progress(stage, point):
            self.send_status(owner_too=False)  # only the run page shows the progress

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        """A note from the engine: stored as a point (kind "note") with its English text, code and
        params, and sent at once, so the run page lists it live and again after a reload or a
        reconnect, said in the reader's language (cldweb/messages.py engine_note)."""
        logger.info("run %s: %s", self.run_id, message)
        self._record("", MetricPoint.KIND_NOTE, {"text": str(message), "code": code, "params": dict(params or {})})
        self.flush()  # a few per run: no reason to hold one back for the next batch

    def should_stop(self) -> bool:
        now = self._clock()
        if now - self._last_poll >= self.STOP_POLL_INTERVAL_S:
            self._last_poll = now
            if self.attempt is not None:
                jobs.beat(self.run_id, self.attempt)
            self._stop = jobs.cancel_requested(self.run_id)
        if self._pending and now - self._last_flush >= self.FLUSH_INTERVAL_S:
            self.flush()
        return self._stop

    # -- batching -----------------------------------------------------------------------

    def _record(self, phase: str, kind: str, point: dict[str, Any]) -> None:
        values = json_safe(dict(point))
        step = values.get("step")
        self._last_seq += 1
        row = MetricPoint.objects.create(
            run_id=self.run_id,
            seq=self._last_seq,
            phase=phase,
            kind=kind,
            step=int(step) if isinstance(step, (int, float)) else 0,
            values=values,
        )
        self._pending.append(row.to_message())  # type: ignore[arg-type]
        if self._clock() - self._last_flush >= self.FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Send the pending points now (on stage changes, at close, and when the interval passed)."""
        if not self._pending:
            return
        self._last_flush = self._clock()
        batch, self._pending = self._pending, []
        self._send({"type": "run.points", "points": batch})

    def send_status(self, *, owner_too: bool = True) -> None:
        """The run's status to its page (group ``run-<id>``) and, with ``owner_too``, to its owner's list
        pages (group ``owner-<user id>``), which update their status cells and say when a run ends."""
        run = Run.objects.get(pk=self.run_id)
        sends: list[tuple[str, dict[str, Any]]] = [(self.group, {**run.status_message(), "type": "run.status"})]
        if owner_too:
            sends.append((owner_group_name(run.owner_id), dict(run_summary(run))))
        self._send_all(sends)
        if run.status != Run.Status.QUEUED:  # it started or ended: the runs queued behind it moved up
            send_queue_positions()

    def close(self) -> None:
        self.flush()

    def _send(self, message: dict[str, Any]) -> None:
        self._send_all([(self.group, message)])

    def _send_all(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        layer = self._layer

        async def send_and_close() -> None:
            try:
                for group, message in sends:
                    await layer.group_send(group, message)
            finally:
                # async_to_sync runs this on a fresh event loop that ends with the call;
                # Redis connections left open on it fail later with "Event loop is closed".
                close_pools = getattr(layer, "close_pools", None)  # channels_redis only
                if close_pools is not None:
                    await close_pools()

        try:
            async_to_sync(send_and_close)()
        except Exception:  # the live channel is best-effort; the database replay fills gaps
            logger.warning("run %s: could not push progress to %s", self.run_id,
                           ", ".join(group for group, _message in sends), exc_info=True)

"""The job protocol: who runs a Run, told by the row, not the broker.

Each delivered task is a *slot*, not a ticket for its own run: ``claim`` resumes the task's own run
when its worker died mid-run (stale heartbeat), and otherwise takes the first queued run in queue
order (``Run.queue_order``), whoever's it is. Every queued run has one task outstanding and each
delivery takes at most one queued run, so every run still runs once, in the order the queue shows,
however the owners reorder it; a delivery that finds nothing queued does nothing.

A worker takes the row with ``claim`` (one atomic compare-and-set on ``attempt``), writes
``heartbeat_at`` with ``beat`` while it works, and ends it with ``record_result``,
``mark_cancelled`` or ``mark_failed`` given its ``attempt``, which change nothing once another
attempt took over. ``watchdog`` finds rows whose worker died (stale heartbeat) or whose message
was lost (queued too long) and queues them again; Redis may forget messages, the row does not.

``attempt`` is the fencing token: each take increments it, and every write of a worker is
conditional on it, so a worker that lost its run can never overwrite the outcome of another.
The heartbeat has one writer, ``beat``, and it checks the attempt too.

Called by cldweb.tasks (the Celery task and the watchdog's beat) and cldweb.reporting (the
heartbeat between steps); views only ever ask for a cancel (``Run.request_cancel``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from cldweb.lib.jsonsafe import json_safe
from cldweb.messages import worker_lost_record
from cldweb.models import Run


@dataclass
class Claim:
    """What ``claim`` decided for one delivery of the task of run ``run_id``.

    ``outcome`` is TAKEN when the delivery has a run to work on: ``run``, its own or the first queued one.
    Otherwise it says why its own run needs nothing (and no other run was queued): ``run`` is the
    own run as read (None when it does not exist). ``ended`` is the own run when this claim ended it
    (cancelled, gave up): its page must be told, whether or not another run was taken too.
    """

    TAKEN = "taken"  # this worker runs the new attempt (run.attempt)
    FINISHED = "finished"  # already done, failed or cancelled: nothing to do
    BUSY = "busy"  # a live worker has it (fresh heartbeat) or won the race: a duplicate delivery
    WAITING = "waiting"  # still queued, but others were first to take the queued runs: nothing left here
    CANCELLED = "cancelled"  # a cancel was requested before anyone ran it again: now cancelled
    GAVE_UP = "gave_up"  # its worker died CLD_MAX_ATTEMPTS times: now failed with worker_lost
    MISSING = "missing"  # no such run (deleted)

    outcome: str
    run: Run | None
    ended: Run | None = None


@dataclass
class WatchdogReport:
    """Run ids each watchdog sweep acted on."""

    requeued: list[int] = field(default_factory=list)  # worker died: queued again for another attempt
    resent: list[int] = field(default_factory=list)  # still queued long after it was sent: sent again
    cancelled: list[int] = field(default_factory=list)  # worker died after a cancel was requested
    failed: list[int] = field(default_factory=list)  # worker died CLD_MAX_ATTEMPTS times

    @property
    def changed(self) -> list[int]:
        """Runs whose status changed (browsers watching them are told)."""
        return self.requeued + self.cancelled + self.failed


# -- taking the run ---------------------------------------------------------------------


def claim(run_id: int) -> Claim:
    """Give this delivery of run ``run_id``'s task a run to work on, or say why there is none.

    Its own run first, when it is in a stage with a stale heartbeat (its worker died and the
    message came back): resumed, cancelled if a cancel was requested, failed after
    CLD_MAX_ATTEMPTS. Otherwise the delivery is a free slot and takes the first queued run
    (``claim_first_queued``), which may be its own or another: each queued run's own task is
    still on its way, and will be the slot of whichever run is first then.
    """
    own = _claim_own(run_id)
    if own.outcome == Claim.TAKEN:
        return own
    taken = claim_first_queued()
    if taken is not None:
        return Claim(Claim.TAKEN, taken, ended=own.ended)
    if own.outcome == Claim.WAITING:  # its own run was queued when read: another delivery won the race for it
        run = Run.objects.filter(pk=run_id).first()
        if run is not None and run.status in Run.STAGE_STATUSES:
            return Claim(Claim.BUSY, run)
        if run is not None and run.is_finished:
            return Claim(Claim.FINISHED, run)
    return own


def _claim_own(run_id: int) -> Claim:
    """The task's own run: TAKEN again when it is in a stage with a stale heartbeat, else why not.

    In a stage with a fresh heartbeat it belongs to a live worker: this delivery is a duplicate.
    The take is a conditional UPDATE on ``attempt`` (inside select_for_update, which SQLite
    ignores), so of two workers that read the same row, exactly one wins. A queued run is left to
    ``claim_first_queued``, unless a cancel was requested for it: then it is cancelled here.
    """
    now = timezone.now()
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("corpus", "teacher").filter(pk=run_id).first()
        if run is None:
            return Claim(Claim.MISSING, None)
        if run.is_finished:
            return Claim(Claim.FINISHED, run)
        if run.status == Run.Status.QUEUED and not run.cancel_requested:
            return Claim(Claim.WAITING, run)
        if run.status != Run.Status.QUEUED and not heartbeat_is_stale(run, now):
            return Claim(Claim.BUSY, run)
        if run.cancel_requested:
            mark_cancelled(run, attempt=run.attempt)
            return Claim(Claim.CANCELLED, run, ended=run)
        if run.attempt >= settings.CLD_MAX_ATTEMPTS:
            mark_worker_lost(run)
            return Claim(Claim.GAVE_UP, run, ended=run)
        taken = Run.objects.filter(pk=run.pk, attempt=run.attempt, status__in=Run.STAGE_STATUSES).update(
            attempt=F("attempt") + 1, status=Run.Status.PREPARING, heartbeat_at=now,
            started_at=run.started_at or now, error_code="", error_message="", error_params={},
        )
        if not taken:
            return Claim(Claim.BUSY, run)
    run.refresh_from_db()
    return Claim(Claim.TAKEN, run)


def claim_first_queued() -> Run | None:
    """Take the first queued run in queue order, anyone's; None when no queued run is left.

    The queue is read once; each candidate is taken with the same conditional UPDATE as ``claim``
    (on ``attempt`` and still queued, not cancel-requested), so two slots never take one run:
    the one that loses the race tries the next. Runs queued after the read have tasks of their own.
    A run whose cancel was requested while queued is skipped: its own task cancels it.
    """
    for pk, attempt in Run.waiting().values_list("pk", "attempt"):
        now = timezone.now()
        taken = Run.objects.filter(pk=pk, attempt=attempt, status=Run.Status.QUEUED, cancel_requested=False).update(
            attempt=F("attempt") + 1, status=Run.Status.PREPARING, heartbeat_at=now,
            started_at=Coalesce(F("started_at"), Value(now)), error_code="", error_message="", error_params={},
        )
        if taken:
            return Run.objects.select_related("corpus", "teacher").get(pk=pk)
    return None


# -- the heartbeat ----------------------------------------------------------------------


def beat(run_id: int, attempt: int) -> bool:
    """Write the heartbeat of ``attempt``; False once the run is not that attempt's to run any more
    (re-queued by the watchdog, taken by another worker, or ended), and then nothing is written.

    The only writer of ``heartbeat_at`` while a run is in a stage: a worker that lost its run
    must not keep it looking alive, or the watchdog would never recover the attempt that replaced it.
    """
    return bool(
        Run.objects.filter(pk=run_id, attempt=attempt, status__in=Run.STAGE_STATUSES)
        .update(heartbeat_at=timezone.now())
    )


def cancel_requested(run_id: int) -> bool:
    """The user's stop flag, which the engine polls between steps (through the reporter)."""
    return bool(Run.objects.filter(pk=run_id).values_list("cancel_requested", flat=True).first())


def heartbeat_is_stale(run: Run, now: datetime | None = None) -> bool:
    if run.heartbeat_at is None:
        return True
    now = now or timezone.now()
    return run.heartbeat_at < now - timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S)


# -- the watchdog -----------------------------------------------------------------------


def watchdog(now: datetime | None = None) -> WatchdogReport:
    """Recover runs that no live worker holds. Beat calls it every CLD_WATCHDOG_INTERVAL_S.

    * In a stage with a heartbeat older than CLD_HEARTBEAT_STALE_S (the worker was killed):
      queued again (the next attempt resumes from the checkpoint); cancelled instead if a
      cancel was requested; failed with ``worker_lost`` after CLD_MAX_ATTEMPTS attempts.
    * Queued for longer than CLD_QUEUE_LOST_S with no worker (the message was lost, e.g.
      Redis restarted): sent again. A message that was only waiting is then delivered
      twice; the start protocol drops the second.
    """
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S)
    lost_before = now - timedelta(seconds=settings.CLD_QUEUE_LOST_S)
    report = WatchdogReport()
    silent = Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True)
    for run in Run.objects.filter(silent, status__in=Run.STAGE_STATUSES):
        # Conditional on what was read: a worker that beat or a task that took the row
        # since then wins, and this sweep leaves the run alone.
        rows = Run.objects.filter(silent, pk=run.pk, attempt=run.attempt, status=run.status)
        if run.cancel_requested:
            if rows.update(status=Run.Status.CANCELLED, finished_at=now):
                report.cancelled.append(run.pk)  # its checkpoints stay: it can be resumed
        elif run.attempt >= settings.CLD_MAX_ATTEMPTS:
            if rows.update(**_worker_lost_fields(run), finished_at=now):
                report.failed.append(run.pk)
        elif rows.update(status=Run.Status.QUEUED, heartbeat_at=now):
            run.enqueue()
            report.requeued.append(run.pk)
    waiting_since = Q(heartbeat_at__lt=lost_before) | Q(heartbeat_at__isnull=True, created_at__lt=lost_before)
    for run in Run.objects.filter(waiting_since, status=Run.Status.QUEUED, cancel_requested=False):
        if Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED, heartbeat_at=run.heartbeat_at).update(heartbeat_at=now):
            run.enqueue()
            report.resent.append(run.pk)
    return report


# -- endings: with ``attempt``, only while the run is still that attempt's ----------------
#
# Without ``attempt`` (None) an ending is unconditional: a run cancelled before any worker
# took it, and tests that put a row in a state.


def record_result(run: Run, result: dict[str, Any], *, attempt: int | None = None) -> bool:
    """Store the engine's RunResult: done, or cancelled when the engine stopped on the user's request
    (its folder and checkpoints are kept, so it can be resumed; deleting the run removes them)."""
    cancelled = result.get("status") == "cancelled"
    device = str(result.get("device") or run.device)[:32]
    device_name = str((result.get("environment") or {}).get("device_name") or "") if device == "cuda" else ""
    return _finish(
        run, attempt,
        status=Run.Status.CANCELLED if cancelled else Run.Status.DONE,
        result=result,
        export_path="" if cancelled else str(result.get("export_path") or ""),
        device=device,
        device_name=device_name[:200] or run.device_name,
    )


def mark_cancelled(run: Run, *, attempt: int | None = None) -> bool:
    """Cancelled (by the worker that ran it, or before any worker did); what it checkpointed stays, to resume."""
    return _finish(run, attempt, status=Run.Status.CANCELLED)


def mark_failed(run: Run, code: str, message: str, params: dict[str, Any] | None = None, *,
                attempt: int | None = None) -> bool:
    """Failed with an engine error code (or "internal", "time_limit"); the page words it from the code."""
    return _finish(run, attempt, status=Run.Status.FAILED, error_code=code[:64], error_message=message,
                   error_params=json_safe(params or {}))


def mark_worker_lost(run: Run) -> bool:
    return _finish(run, run.attempt, **_worker_lost_fields(run))


def _worker_lost_fields(run: Run) -> dict[str, Any]:
    return {
        "status": Run.Status.FAILED,
        "error_code": "worker_lost",
        "error_message": worker_lost_record(run.attempt),
        "error_params": {"attempts": run.attempt},
    }


def _finish(run: Run, attempt: int | None, **fields: Any) -> bool:
    """End the run with ``fields``. Given an ``attempt``, only if the run is still that attempt's
    and has not ended: a worker that lost its run must not overwrite the outcome of another."""
    fields["finished_at"] = timezone.now()
    rows = Run.objects.filter(pk=run.pk)
    if attempt is not None:
        rows = rows.filter(attempt=attempt).exclude(status__in=Run.TERMINAL_STATUSES)
    if not rows.update(**fields):
        return False
    for name, value in fields.items():
        setattr(run, name, value)
    return True

"""Celery tasks. They only adapt a Run row to the engine; training logic lives in distill/.

A job survives faults because the Run row, not the broker, says who runs it:

* ``run_distillation`` takes a row with ``jobs.claim``: its own run after a crash, else the first
  queued run in queue order, which may be another user's or another of the owner's (one worker wins
  each row; a delivery that finds nothing queued exits). It keeps ``heartbeat_at`` fresh from a
  thread, and ends the row only while it is still its attempt's. A new attempt resumes from ``checkpoints/last.pt`` (the engine does this).
* ``watchdog`` (Celery beat, ``jobs.watchdog``) queues again the runs whose worker died or whose message was lost.
* The soft time limit becomes a stop request, so the engine checkpoints before the run fails.
* Cancelling is a database flag the engine polls; tasks are never revoked with terminate.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connections, transaction

import distill
from distill import DistillError, RunCancelled

from cldweb import jobs
from cldweb.celery import RUN_DISTILLATION_TASK
from cldweb.jobs import Claim, WatchdogReport
from cldweb.messages import INTERNAL_ERROR_RECORD, TIME_LIMIT_RECORD
from cldweb.models import Run
from cldweb.reporting import WebReporter, json_safe

logger = logging.getLogger(__name__)

STOP_TIME_LIMIT = "time_limit"  # the soft time limit arrived
STOP_TAKEN_OVER = "taken_over"  # the watchdog re-queued the run or another attempt took it


class TaskReporter(WebReporter):
    """The WebReporter, plus stops the task itself asks for (the user's cancel is the row's flag)."""

    def __init__(self, run_id: int, attempt: int) -> None:
        super().__init__(run_id, attempt=attempt)
        self.stop_reason = ""

    def request_stop(self, reason: str) -> None:
        """Called from the heartbeat thread or a signal handler; the engine stops at its next poll."""
        self.stop_reason = self.stop_reason or reason

    def should_stop(self) -> bool:
        cancelled = super().should_stop()  # always called: it also flushes points and beats
        return cancelled or bool(self.stop_reason)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, name=RUN_DISTILLATION_TASK)
def run_distillation(self, run_id: int) -> None:
    """Train the student for one Run, resuming from its checkpoint when an earlier attempt left one."""
    worker = f"{self.request.hostname or 'local'} pid {os.getpid()}"
    claim = jobs.claim(run_id)  # this delivery is a slot: the run it takes may be another than its own
    if claim.ended is not None or claim.outcome != Claim.TAKEN:
        _log_not_taken(run_id, claim, worker)
    if claim.ended is not None:  # its own run, cancelled or given up by the claim: its page is told
        WebReporter(claim.ended.pk).send_status()
    if claim.outcome != Claim.TAKEN:
        return

    run = claim.run
    assert run is not None
    attempt = run.attempt
    if run.pk == run_id:
        logger.info("run %s: attempt %s taken by %s", run.pk, attempt, worker)
    else:
        logger.info("run %s: attempt %s taken by %s, first in the queue when run %s's task arrived",
                    run.pk, attempt, worker, run_id)
    run_id = run.pk  # from here on, the run taken: its row, heartbeat and reporter
    if self.request.id:
        Run.objects.filter(pk=run_id, attempt=attempt).update(celery_task_id=self.request.id)
    reporter = TaskReporter(run_id, attempt)
    try:
        with _heartbeat(run, attempt, reporter), _soft_time_limit_stops(reporter):
            result = distill.run(run.build_config(), reporter)
        reporter.flush()
        if result.status == "cancelled" and reporter.stop_reason:
            _record_stop(run, attempt, reporter.stop_reason)
        else:  # done, or cancelled by the user (finished work counts even if a stop came too late)
            jobs.record_result(run, json_safe(result.to_dict()), attempt=attempt)
    except RunCancelled:  # the pipeline returns "cancelled" itself; kept in case a stage raises it
        if reporter.stop_reason:
            _record_stop(run, attempt, reporter.stop_reason)
        else:
            jobs.mark_cancelled(run, attempt=attempt)
    except DistillError as error:
        jobs.mark_failed(run, error.code, error.message, error.params, attempt=attempt)
    except SoftTimeLimitExceeded:
        logger.warning("run %s: soft time limit reached where the engine does not poll; stopped without a new checkpoint",
                       run_id)
        jobs.mark_failed(run, "time_limit", TIME_LIMIT_RECORD, attempt=attempt)
    except Exception:
        logger.exception("run %s failed with an unexpected error", run_id)
        jobs.mark_failed(run, "internal", INTERNAL_ERROR_RECORD, attempt=attempt)
    finally:
        reporter.close()
        reporter.send_status()


@shared_task(ignore_result=True, name="cldweb.watchdog")
def watchdog() -> WatchdogReport:
    """Queue again the runs no live worker holds (see jobs.watchdog). Beat runs it every
    CLD_WATCHDOG_INTERVAL_S; it is a plain function call too."""
    report = jobs.watchdog()
    for run_id in report.requeued:
        logger.warning("run %s: its worker stopped (no heartbeat for %ss); queued again", run_id,
                       settings.CLD_HEARTBEAT_STALE_S)
    for run_id in report.resent:
        logger.warning("run %s: queued for over %ss without a worker; its message was sent again", run_id,
                       settings.CLD_QUEUE_LOST_S)
    for run_id in report.cancelled:
        logger.warning("run %s: its worker stopped after a cancel was requested; marked cancelled", run_id)
    for run_id in report.failed:
        logger.error("run %s: its worker stopped %s times; the run failed", run_id, settings.CLD_MAX_ATTEMPTS)
    for run_id in report.changed:
        WebReporter(run_id).send_status()
    return report


def _record_stop(run: Run, attempt: int, reason: str) -> None:
    """The engine stopped (checkpoint saved) because the task asked it to, not the user."""
    if reason == STOP_TIME_LIMIT:
        jobs.mark_failed(run, "time_limit", TIME_LIMIT_RECORD, attempt=attempt)
    else:  # STOP_TAKEN_OVER: the row is another attempt's now; leave it alone
        logger.warning("run %s: attempt %s stopped at a checkpoint; the run is no longer its own", run.pk, attempt)


def _log_not_taken(run_id: int, claim: Claim, worker: str) -> None:
    """Why this delivery does not run its own run (it may have taken another all the same)."""
    own = claim.ended or claim.run
    if claim.ended is not None:
        logger.warning("run %s: not started (%s)", run_id, claim.ended.status)  # cancelled, or failed: worker_lost
    elif claim.outcome == Claim.BUSY:
        assert own is not None
        logger.info("run %s: duplicate delivery ignored by %s; attempt %s is running (status %s, heartbeat %s)",
                    run_id, worker, own.attempt, own.status, own.heartbeat_at)
    elif claim.outcome == Claim.FINISHED:
        logger.info("run %s: already %s; message dropped by %s", run_id, own.status if own else "", worker)
    elif claim.outcome == Claim.WAITING:
        logger.info("run %s: still queued, but other deliveries took every queued run; nothing for %s", run_id, worker)
    elif claim.outcome == Claim.MISSING:
        logger.warning("run %s does not exist; task dropped", run_id)
    else:
        logger.warning("run %s: not started (%s)", run_id, claim.outcome)


@contextmanager
def _heartbeat(run: Run, attempt: int, reporter: TaskReporter) -> Iterator[None]:
    """Write ``heartbeat_at`` every CLD_HEARTBEAT_INTERVAL_S from a thread while the block runs.

    Independent of the engine, so a stage that does not report for minutes is not taken for a
    dead worker. When the run stops being this attempt's (the watchdog re-queued it after a
    stall, another worker took it), the engine is asked to stop at its next step.
    """
    if transaction.get_connection().in_atomic_block:
        # Run inside a caller's transaction (Task.apply in a test): another connection cannot
        # see the row and would only wait for the caller's lock. Nobody else can take the run.
        yield
        return
    stopped = threading.Event()

    def beat() -> None:
        try:
            while not stopped.wait(settings.CLD_HEARTBEAT_INTERVAL_S):
                try:
                    still_ours = jobs.beat(run.pk, attempt)
                except DatabaseError:
                    logger.warning("run %s: could not write the heartbeat", run.pk, exc_info=True)
                    continue
                if not still_ours and not stopped.is_set():
                    logger.warning("run %s: attempt %s no longer holds the run; stopping it", run.pk, attempt)
                    reporter.request_stop(STOP_TAKEN_OVER)
                    return
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"heartbeat-run-{run.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join(timeout=30)  # at worst a write waiting on a database lock; never hang the task on it


@contextmanager
def _soft_time_limit_stops(reporter: TaskReporter) -> Iterator[None]:
    """Make Celery's soft time limit a stop request, so the engine checkpoints before the run fails.

    At the soft limit billiard sends SIGUSR1 to the pool process, whose handler raises
    SoftTimeLimitExceeded wherever the code is: mid-step, with the training state unsaved.
    Here the first signal only asks the engine to stop; it polls between steps, saves
    ``checkpoints/last.pt`` and returns as cancelled. A part that does not poll (reading the
    corpus, exporting) gets half the time left before the hard limit; then the signal comes
    again and raises SoftTimeLimitExceeded, as Celery would have.
    """
    signum = getattr(signal, "SIGUSR1", None)
    if signum is None or threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; soft limits need the prefork pool anyway
        return
    previous = signal.getsignal(signum)
    escalation: list[threading.Timer] = []

    def raise_time_limit(*_: object) -> None:
        raise SoftTimeLimitExceeded()

    def request_stop(*_: object) -> None:
        logger.warning("run %s: soft time limit reached; stopping at the next checkpoint", reporter.run_id)
        reporter.request_stop(STOP_TIME_LIMIT)
        signal.signal(signum, raise_time_limit)
        grace_s = max(1.0, (settings.CELERY_TASK_TIME_LIMIT - settings.CELERY_TASK_SOFT_TIME_LIMIT) / 2)
        timer = threading.Timer(grace_s, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        escalation.append(timer)

    signal.signal(signum, request_stop)
    try:
        yield
    finally:
        for timer in escalation:
            timer.cancel()
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

"""Jobs survive faults: the database row says who runs a job, so a killed worker, a restarted
Redis, a duplicated message or a time limit never loses or doubles a run.

Real Celery workers (on a private queue), real Redis, the real engine on a tiny corpus;
the watchdog is called directly instead of waiting for beat.
"""
from __future__ import annotations

import os
import re
import signal
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import torch
from django.core.files import File
from django.utils import timezone

import distill
from cldweb.celery import app as celery_app
from cldweb.embedded_redis import EmbeddedRedis
from cldweb.models import DEMO_TEACHER_NAME, Corpus, MetricPoint, Run, Teacher
from cldweb.tasks import run_distillation, watchdog

from distill.config import RunConfig
from distill.progress import RecordingReporter
from tests.processes import ChildProcess, start_worker, wait_for, write_review_sample

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.slow]

RUN_TIMEOUT_S = 300  # a few tiny runs share 2 cores with other engineers' heavy tests
LOG_EVERY_STEPS = 2
STEPS_PER_EPOCH = 20  # 320 training rows (400 reviews minus dev and test) / batch 16

# A run shrunk to seconds of CPU: a one-layer demo teacher fine-tuned for one epoch, a narrow
# BiLSTM, no early stopping (so the length of a run is known), a checkpoint every 10 steps.
TINY_CONFIG = {
    "data": {"max_length": 32},
    "teacher": {"demo_hidden_size": 32, "demo_layers": 1, "demo_heads": 2, "finetune_epochs": 1},
    "student": {"embedding_dim": 32, "hidden_size": 32},
    "train": {"mode": "soft", "batch_size": 16, "log_every_steps": LOG_EVERY_STEPS, "checkpoint_every_steps": 10,
              "early_stopping_patience": 0, "num_threads": 1,
              "baseline": False},  # these tests kill and resume the distillation; a second training only adds time
}


@pytest.fixture(autouse=True)
def isolated_storage():
    """The workers and this process must share files, so the per-test overrides of the web
    tests' conftest are switched off here (as in test_e2e_spine.py)."""


@pytest.fixture(scope="module")
def review_csv(tmp_path_factory) -> Path:
    return write_review_sample(tmp_path_factory.mktemp("faults") / "reviews.csv", rows=400, seed=7)


@pytest.fixture
def reviews(owner, review_csv) -> Corpus:
    with review_csv.open("rb") as handle:
        return Corpus.create_from_upload(owner=owner, upload=File(handle, name="reviews.csv"), name="reviews")


@pytest.fixture
def queue(settings) -> str:
    """A private queue: only this test's workers read it, never the session's shared worker."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name  # Run.enqueue and the watchdog send here
    return name


class Workers:
    """Named Celery workers on the test's private queue, each one started and waited for until ready."""

    def __init__(self, database_url: str, log_dir: Path, queue: str) -> None:
        self.database_url, self.log_dir, self.queue = database_url, log_dir, queue
        self.started: list[ChildProcess] = []

    def start(self, name: str, **env: str) -> ChildProcess:
        env = {"CLD_TASK_QUEUE": self.queue, "CLD_HEARTBEAT_INTERVAL_S": "1", **env}
        worker = start_worker(self.database_url, self.log_dir, name=f"{name}-{self.queue}", **env)
        self.started.append(worker)
        wait_for(lambda: " ready." in worker.log_tail() or not worker.alive(), RUN_TIMEOUT_S, f"worker {name} to start")
        assert worker.alive(), worker.log_tail()
        return worker


@pytest.fixture
def workers(live_database_url, process_logs, queue):
    pool = Workers(live_database_url, process_logs, queue)
    yield pool
    for worker in pool.started:
        worker.stop()


def demo_teacher() -> Teacher:
    teacher, _ = Teacher.objects.get_or_create(owner=None, kind=Teacher.KIND_DEMO, defaults={"name": DEMO_TEACHER_NAME})
    return teacher


def tiny_run(owner, corpus: Corpus, *, epochs: int) -> Run:
    """A queued run resolved as Run.create resolves it, with TINY_CONFIG; not sent yet."""
    config = {section: dict(values) for section, values in TINY_CONFIG.items()}
    config["train"]["epochs"] = epochs
    run = Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher(), config=config)
    run.config = run.build_config().to_dict()
    run.save(update_fields=["config"])
    return run


def finished(run: Run) -> Run | None:
    run.refresh_from_db()
    return run if run.is_finished else None


def seqs(run: Run) -> list[int]:
    return list(MetricPoint.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))


def steps(run: Run, phase: str, kind: str = MetricPoint.KIND_STEP) -> list[int]:
    return list(MetricPoint.objects.filter(run=run, phase=phase, kind=kind).order_by("seq").values_list("step", flat=True))


def full_log(worker: ChildProcess) -> str:
    return worker.log_tail(chars=10_000_000)


def test_it_resumes_on_a_new_worker_after_the_worker_is_killed(owner, reviews, workers, settings, tmp_path):
    settings.CLD_HEARTBEAT_STALE_S = 3  # this process's watchdog gives up on a silent worker after 3 s
    doomed = workers.start("doomed")
    run = tiny_run(owner, reviews, epochs=12)
    run.enqueue()
    checkpoint = run.output_dir / "checkpoints" / "last.pt"

    wait_for(checkpoint.is_file, RUN_TIMEOUT_S, "the first student checkpoint")
    doomed.kill_hard()  # SIGKILL to the whole process group: no cleanup, the message stays unacknowledged
    run.refresh_from_db()
    assert (run.status, run.attempt) == (Run.Status.DISTILLING, 1), "killed in the middle of distilling"
    points_before_kill = len(seqs(run))

    survivor = workers.start("survivor")
    wait_for(lambda: run.pk in watchdog().requeued, 60, "the watchdog to queue the run again")

    # Meanwhile, the same config uninterrupted, in this process (its own folders, same seed).
    reference_config = RunConfig.from_dict(
        {**run.config, "output_dir": str(tmp_path / "reference"), "cache_dir": str(tmp_path / "reference-cache")})
    recorder = RecordingReporter()
    threads = torch.get_num_threads()
    try:
        expected = distill.run(reference_config, recorder)
    finally:
        torch.set_num_threads(threads)  # the engine set 1 for this process; later tests want their own

    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to finish on the second worker")
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message, survivor.log_tail())
    assert run.attempt == 2
    resumed = re.search(rf"run {run.pk}: Resuming student training from step (\d+)", full_log(survivor))
    assert resumed and int(resumed.group(1)) >= 10, "the second attempt resumed from the checkpoint, not from scratch"

    # The chart's history has no holes, and every training step of the uninterrupted run is in it.
    all_seqs = seqs(run)
    assert all_seqs == list(range(1, len(all_seqs) + 1)) and len(all_seqs) > points_before_kill
    expected_student_steps = [point["step"] for kind, phase, point in recorder.events if kind == "step" and phase == "student"]
    assert set(steps(run, "student")) == set(expected_student_steps)
    # Steps between the checkpoint and the kill are trained (and reported) again by the resumed attempt.
    replayed = len(steps(run, "student")) - len(expected_student_steps)
    assert 0 <= replayed <= 10 // LOG_EVERY_STEPS + 1

    # Same final numbers as the uninterrupted run.
    assert run.result["student"]["dev_accuracy"] == pytest.approx(expected.student.dev_accuracy, abs=1e-9)
    assert run.result["student"]["test_accuracy"] == pytest.approx(expected.student.test_accuracy, abs=1e-9)
    assert run.result["teacher"]["test_accuracy"] == pytest.approx(expected.teacher.test_accuracy, abs=1e-9)
    last_eval = MetricPoint.objects.filter(run=run, phase="student", kind="eval").latest("seq").values
    expected_eval = [point for kind, phase, point in recorder.events if kind == "eval" and phase == "student"][-1]
    assert last_eval["step"] == expected_eval["step"]
    assert last_eval["dev_loss"] == pytest.approx(expected_eval["dev_loss"], rel=1e-5)


def test_it_completes_a_run_across_a_redis_restart(owner, reviews, live_database_url, process_logs, queue, tmp_path):
    with EmbeddedRedis(data_dir=tmp_path / "redis") as broker:
        worker = start_worker(live_database_url, process_logs, name=f"redis-{queue}",
                              REDIS_URL=broker.url, CLD_TASK_QUEUE=queue, CLD_HEARTBEAT_INTERVAL_S="1")
        try:
            wait_for(lambda: " ready." in worker.log_tail() or not worker.alive(), RUN_TIMEOUT_S, "the worker to start")
            epochs = 4
            run = tiny_run(owner, reviews, epochs=epochs)
            send(run, broker.url, queue)
            wait_for(lambda: len(steps(run, "student")) >= 2, RUN_TIMEOUT_S, "the student to start training")

            broker.stop()  # an outage the worker notices, not a blip between two reads
            wait_for(lambda: "Connection to broker lost" in worker.log_tail(), 60, "the worker to lose Redis")
            broker.start()

            wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to finish")
            assert run.status == Run.Status.DONE, (run.error_code, run.error_message, worker.log_tail())
            assert run.attempt == 1
            all_seqs = seqs(run)
            assert all_seqs == list(range(1, len(all_seqs) + 1))
            total_steps = epochs * STEPS_PER_EPOCH
            assert steps(run, "student") == list(range(LOG_EVERY_STEPS, total_steps + 1, LOG_EVERY_STEPS))
            assert steps(run, "student", MetricPoint.KIND_EVAL) == list(range(STEPS_PER_EPOCH, total_steps + 1, STEPS_PER_EPOCH))

            # The worker is connected to the new server: it takes the next message sent there.
            send(run, broker.url, queue)
            wait_for(lambda: f"run {run.pk}: already done" in worker.log_tail(), 60, "the worker to read the restarted Redis")
        finally:
            worker.stop()


def send(run: Run, broker_url: str, queue: str) -> None:
    """Run.enqueue's message, through a broker other than this process's configured one."""
    with celery_app.connection_for_write(broker_url) as connection:
        run_distillation.apply_async((run.pk,), queue=queue, connection=connection)


def test_it_runs_a_job_delivered_to_two_workers_exactly_once(owner, reviews, workers):
    alpha = workers.start("alpha")
    beta = workers.start("beta")
    run = tiny_run(owner, reviews, epochs=2)
    run.enqueue()
    run.enqueue()  # the same job twice, as after a redelivery or a watchdog resend: one message per idle worker

    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to finish")
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    assert run.attempt == 1

    def workers_saying(text: str) -> list[str]:
        return [worker.name for worker in (alpha, beta) if text in full_log(worker)]

    wait_for(lambda: workers_saying(f"run {run.pk}: duplicate delivery ignored"), 60, "the second delivery to be dropped")
    taker = workers_saying(f"run {run.pk}: attempt 1 taken by")
    assert len(taker) == 1 and workers_saying(f"run {run.pk}: duplicate delivery ignored") != taker
    assert workers_saying(f"run {run.pk}: Corpus:") == taker, "only the worker that took the run prepared its data"
    assert workers_saying(f"run {run.pk}: attempt 2") == []
    all_seqs = seqs(run)
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    for phase in ("teacher", "student"):
        trained = steps(run, phase)
        assert trained == sorted(set(trained)), f"{phase} steps were reported once each"


def test_it_fails_a_run_whose_worker_stopped_too_many_times(owner, reviews, queue, settings, redis_url):
    settings.CLD_HEARTBEAT_STALE_S = 60
    settings.CLD_MAX_ATTEMPTS = 3
    silent_since = timezone.now() - timedelta(minutes=5)
    exhausted, crashed_once, alive = (tiny_run(owner, reviews, epochs=1) for _ in range(3))
    Run.objects.filter(pk=exhausted.pk).update(status=Run.Status.DISTILLING, attempt=3, heartbeat_at=silent_since)
    Run.objects.filter(pk=crashed_once.pk).update(status=Run.Status.LABELLING, attempt=1, heartbeat_at=silent_since)
    Run.objects.filter(pk=alive.pk).update(status=Run.Status.DISTILLING, attempt=1, heartbeat_at=timezone.now())

    report = watchdog()

    assert report.failed == [exhausted.pk] and report.requeued == [crashed_once.pk]
    exhausted.refresh_from_db()
    assert exhausted.status == Run.Status.FAILED and exhausted.error_code == "worker_lost"
    assert "The worker stopped 3 times while running this job" in exhausted.error_message
    crashed_once.refresh_from_db()
    assert (crashed_once.status, crashed_once.attempt) == (Run.Status.QUEUED, 1)  # the next worker makes it 2
    assert redis.Redis.from_url(redis_url).llen(queue) == 1, "the re-queued run's message was sent"
    alive.refresh_from_db()
    assert (alive.status, alive.attempt) == (Run.Status.DISTILLING, 1)

    # A late redelivery of the failed run's message changes nothing.
    run_distillation.apply(args=(exhausted.pk,))
    exhausted.refresh_from_db()
    assert (exhausted.status, exhausted.attempt) == (Run.Status.FAILED, 3)


def test_it_resends_a_queued_run_whose_message_was_lost_and_cancels_a_dead_cancelled_run(
        owner, reviews, queue, settings, redis_url):
    settings.CLD_QUEUE_LOST_S = 600
    long_ago = timezone.now() - timedelta(hours=1)
    lost, waiting, cancelled_then_killed = (tiny_run(owner, reviews, epochs=1) for _ in range(3))
    Run.objects.filter(pk=lost.pk).update(created_at=long_ago)
    Run.objects.filter(pk=cancelled_then_killed.pk).update(
        status=Run.Status.DISTILLING, attempt=1, heartbeat_at=long_ago, cancel_requested=True)

    report = watchdog()

    assert report.resent == [lost.pk] and report.cancelled == [cancelled_then_killed.pk]
    assert redis.Redis.from_url(redis_url).llen(queue) == 1
    assert watchdog().resent == [], "sent again only after another CLD_QUEUE_LOST_S"
    waiting.refresh_from_db()
    cancelled_then_killed.refresh_from_db()
    assert waiting.status == Run.Status.QUEUED
    assert cancelled_then_killed.status == Run.Status.CANCELLED


def test_it_saves_a_checkpoint_and_fails_when_the_soft_time_limit_arrives(owner, reviews, workers):
    worker = workers.start("limited")
    run = tiny_run(owner, reviews, epochs=12)
    run.enqueue()
    checkpoint = run.output_dir / "checkpoints" / "last.pt"
    wait_for(checkpoint.is_file, RUN_TIMEOUT_S, "the first student checkpoint")

    pool = worker.descendant_pids()
    assert len(pool) == 1, pool
    os.kill(pool[0], signal.SIGUSR1)  # what billiard's timeout handler sends the pool process at the soft limit

    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to stop")
    assert run.status == Run.Status.FAILED and run.error_code == "time_limit", (run.error_message, worker.log_tail())
    assert "last checkpoint is kept" in run.error_message
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    last_reported = steps(run, "student")[-1]
    # Saved where training stopped (not the periodic one every 10 steps): within one report of the last point.
    assert not state["finished"] and last_reported <= state["step"] < last_reported + LOG_EVERY_STEPS
    assert worker.alive() and pool[0] in worker.descendant_pids(), "the pool process survived and takes the next job"


def test_it_resumes_a_cancelled_run_from_its_checkpoint_to_the_end(owner, reviews, workers):
    worker = workers.start("resumer")
    run = tiny_run(owner, reviews, epochs=12)
    run.enqueue()
    checkpoint = run.output_dir / "checkpoints" / "last.pt"
    wait_for(checkpoint.is_file, RUN_TIMEOUT_S, "the first student checkpoint")

    assert run.request_cancel()
    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to stop")
    assert run.status == Run.Status.CANCELLED, (run.status, worker.log_tail())
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)  # kept by the cancel, saved where it stopped
    stopped_at = state["step"]
    before = steps(run, "student")
    assert not state["finished"] and before[-1] <= stopped_at < before[-1] + LOG_EVERY_STEPS
    teacher_steps = steps(run, "teacher")

    run.resume()  # the same run, its own folder: the engine continues from last.pt
    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to finish after the resume")

    assert run.status == Run.Status.DONE, (run.error_code, run.error_message, worker.log_tail())
    assert run.attempt == 2
    assert f"run {run.pk}: Resuming student training from step {stopped_at}" in full_log(worker)
    # The stored curve: the first attempt's points stay, the resumed ones follow the checkpoint's step, none twice.
    trained = steps(run, "student")
    assert trained[:len(before)] == before
    assert trained[len(before)] > stopped_at
    assert trained == sorted(set(trained)) and trained[-1] == 12 * STEPS_PER_EPOCH
    assert steps(run, "teacher") == teacher_steps, "the fine-tuned teacher was reused, not trained again"
    all_seqs = seqs(run)
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    marks = [values["stage"] for values in MetricPoint.objects.filter(run=run, phase=MetricPoint.PHASE_STAGE)
             .order_by("seq").values_list("values", flat=True)]
    assert marks[marks.index("queued"):][:2] == ["queued", "preparing"] and marks[-1] == "evaluating"

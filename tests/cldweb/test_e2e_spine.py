"""The spine, end to end with every part real: upload -> run on a real Celery worker
(against the suite's own Redis) -> points in the database -> a WebSocket gets them
live and, after reconnecting with its last seq, exactly the missed ones -> the zip
downloads and its safetensors give the same predictions as the run's own student.
Also: a running job is cancelled and ends as cancelled.
"""
from __future__ import annotations

import asyncio
import io
import zipfile

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from cldweb.asgi import application
from cldweb.models import DEMO_TEACHER_NAME, Corpus, MetricPoint, Run, Teacher
from distill.config import RunConfig
from distill.corpus.reading import CorpusStream
from distill.corpus.splits import prepare_splits
from distill.export import load_exported
from tests.processes import wait_for, write_review_sample

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.slow]

RUN_TIMEOUT_S = 420  # a tiny demo teacher + BiLSTM on 900 reviews; minutes on 2 busy cores at worst


@pytest.fixture(autouse=True)
def isolated_storage():
    """The worker and this process must share files and channel groups, so the
    per-test overrides of the web tests' conftest are switched off here."""


@pytest.fixture
def review_csv(tmp_path):
    return write_review_sample(tmp_path / "reviews.csv", rows=900, seed=7)


def demo_teacher() -> Teacher:
    teacher, _ = Teacher.objects.get_or_create(owner=None, kind=Teacher.KIND_DEMO, defaults={"name": DEMO_TEACHER_NAME})
    return teacher


def upload_and_start(client: Client, csv_path, *, epochs: int) -> Run:
    with open(csv_path, "rb") as handle:
        response = client.post(reverse("corpus-upload"), {"file": handle, "name": "reviews"})
    assert response.status_code == 302, response.content.decode()[:2000]
    corpus = Corpus.objects.latest("pk")
    response = client.post(
        reverse("corpus-preview", args=[corpus.pk]), {"text_column": "text", "label_column": "label", "continue": "1"}
    )
    assert response.status_code == 302
    corpus.refresh_from_db()
    assert corpus.row_count == 900 and set(corpus.label_counts) == {"pos", "neg"}
    response = client.post(reverse("run-create"), {
        "corpus": corpus.pk, "teacher": demo_teacher().pk, "student_architecture": "bilstm",
        "mode": "soft", "epochs": epochs, "max_length": 48,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    return Run.objects.latest("pk")


def websocket_for(client: Client, run: Run, after: int) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/runs/{run.pk}/?after={after}",
        headers=[(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")],
    )


async def receive_points(communicator: WebsocketCommunicator, at_least: int, timeout_s: float) -> list[dict]:
    """Collect 'points' messages until ``at_least`` points arrived (status messages are skipped)."""
    points: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(points) < at_least:
        message = await communicator.receive_json_from(timeout=max(0.1, deadline - loop.time()))
        if message["type"] == "points":
            points.extend(message["points"])
    return points


def seqs(points: list[dict]) -> list[int]:
    return [point["seq"] for point in points]


def stored_seqs(run: Run, after: int = 0) -> list[int]:
    return list(MetricPoint.objects.filter(run=run, seq__gt=after).order_by("seq").values_list("seq", flat=True))


def finished(run: Run) -> Run | None:
    run.refresh_from_db()
    return run if run.is_finished else None


def test_it_distills_live_replays_missed_points_and_serves_the_student(owner, celery_worker, review_csv):
    client = Client()
    client.force_login(owner)
    run = upload_and_start(client, review_csv, epochs=3)

    # First viewer: connects early and receives points live as the worker trains.
    async def first_viewer() -> list[dict]:
        communicator = websocket_for(client, run, after=0)
        connected, _ = await communicator.connect()
        assert connected
        try:
            return await receive_points(communicator, at_least=5, timeout_s=RUN_TIMEOUT_S)
        finally:
            await communicator.disconnect()

    seen = asyncio.run(first_viewer())
    assert seqs(seen) == list(range(1, len(seen) + 1)), "live points arrive in order, without gaps or repeats"
    last_seen = seen[-1]["seq"]

    # While nobody watches, the worker goes on; wait until it has stored more.
    wait_for(lambda: len(stored_seqs(run, after=last_seen)) >= 3, RUN_TIMEOUT_S, "points made while disconnected")

    # Reconnect with the last seq: the backlog is exactly the missed points, then live ones continue it.
    async def second_viewer() -> list[dict]:
        communicator = websocket_for(client, run, after=last_seen)
        connected, _ = await communicator.connect()
        assert connected
        try:
            backlog = await communicator.receive_json_from(timeout=30)
            assert backlog["type"] == "points"
            return backlog["points"]
        finally:
            await communicator.disconnect()

    backlog = asyncio.run(second_viewer())
    assert len(backlog) >= 3
    assert seqs(backlog) == list(range(last_seen + 1, last_seen + 1 + len(backlog)))

    wait_for(lambda: finished(run), RUN_TIMEOUT_S, f"run {run.pk} to finish")
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message, celery_worker.log_tail())
    assert run.attempt == 1

    # Every point the worker made is in the database, numbered 1..N without holes.
    all_seqs = stored_seqs(run)
    assert all_seqs == list(range(1, len(all_seqs) + 1))
    phases = set(MetricPoint.objects.filter(run=run).exclude(kind=MetricPoint.KIND_NOTE).values_list("phase", flat=True))
    assert phases == {"teacher", "student"}  # the demo teacher was fine-tuned, then the student distilled
    # The engine's notes are numbered with the points: the worker's reporter stored them too.
    assert MetricPoint.objects.filter(run=run, kind=MetricPoint.KIND_NOTE).exists()
    evals = MetricPoint.objects.filter(run=run, phase="student", kind="eval")
    assert evals.exists() and all(0.0 <= p.values["dev_accuracy"] <= 1.0 for p in evals)

    # The results page shows both models side by side.
    page = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert run.result["student"]["parameters"] > 0
    assert f'{run.result["student"]["parameters"]:,}' in page or str(run.result["student"]["parameters"]) in page

    # Download: the zip's safetensors rebuild the student class and predict exactly as the run's own student.
    response = client.get(reverse("run-download", args=[run.pk]))
    assert response.status_code == 200
    payload = b"".join(response.streaming_content)
    names = set(zipfile.ZipFile(io.BytesIO(payload)).namelist())
    assert names == {"model.onnx", "model.int8.onnx", "model.safetensors", "config.json", "vocab.json", "labels.json",
                     "README.md", "predict.py"}
    downloaded = run.output_dir / "downloaded.zip"
    downloaded.write_bytes(payload)

    config = RunConfig.from_dict(run.config)
    corpus = CorpusStream(config.data.train_path, config.data.text_column, config.data.label_column)
    splits = prepare_splits(
        corpus, None, None, dev_fraction=config.data.dev_fraction,
        test_fraction=config.data.test_fraction, seed=config.data.split_seed,
    )
    test_texts = [example.text for example in splits.test]
    predictor = load_exported(downloaded)
    predictions = [label for label, _ in predictor.predict(test_texts)]
    accuracy = sum(p == example.label for p, example in zip(predictions, splits.test)) / len(splits.test)
    assert accuracy == pytest.approx(run.result["student"]["test_accuracy"], abs=1e-9)
    assert accuracy > 0.5  # better than a coin on a balanced 2-class split, even with a tiny teacher


def test_it_cancels_a_running_job(owner, celery_worker, review_csv):
    client = Client()
    client.force_login(owner)
    run = upload_and_start(client, review_csv, epochs=50)
    # Cancel once the job is really training, not while it waits in the queue.
    wait_for(lambda: MetricPoint.objects.filter(run=run).exists(), RUN_TIMEOUT_S, "the first training point")
    response = client.post(reverse("run-cancel", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested
    wait_for(lambda: finished(run), 20, "the cancelled run to stop within seconds")
    assert run.status == Run.Status.CANCELLED, (run.error_code, run.error_message)
    assert not run.export_path
    # The folder stays with what was checkpointed, so the run can be resumed (deleting it removes the folder).
    assert run.output_dir.exists() and run.points.exists()
    page = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert ('id="run-resume"' in page) == bool(run.saved_checkpoints)
    assert "Cancelled" in page or "已取消" in page
    assert "Cancelling" not in page and "正在取消" not in page

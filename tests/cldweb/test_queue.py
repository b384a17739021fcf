"""The queue: workers take queued runs in queue order (Run.queue_order), owners reorder their own runs,
the queue page lists them with their places among everyone's, and each status change reaches the owner's
list pages (group owner-<user id>, ws/runs/). Real database, real channels_redis layer."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from cldweb import jobs
from cldweb.jobs import Claim
from cldweb.models import Run, Teacher
from cldweb.reporting import WebReporter
from cldweb.routing import websocket_urlpatterns
from cldweb.tasks import run_distillation

pytestmark = pytest.mark.django_db


def queued(owner, corpus, teacher, order: int) -> Run:
    """A queued run at place ``order`` (never sent: the test is its worker)."""
    return Run.objects.create(owner=owner, corpus=corpus, teacher=teacher, queue_order=order)


@pytest.fixture
def others_corpus(other_user, corpus):
    corpus.pk = None  # the same file, another owner's row
    corpus.owner = other_user
    corpus.save()
    return corpus


@pytest.fixture
def line(owner, other_user, corpus, others_corpus, demo_teacher):
    """The queue: owner's a, someone else's x, owner's b, owner's c (in queue order, ids in another order)."""
    c = queued(owner, corpus, demo_teacher, 40)
    b = queued(owner, corpus, demo_teacher, 30)
    x = queued(other_user, others_corpus, demo_teacher, 20)
    a = queued(owner, corpus, demo_teacher, 10)
    return a, x, b, c


def order() -> list[int]:
    return list(Run.waiting().values_list("pk", flat=True))


# -- claiming in queue order ----------------------------------------------------------------


def test_it_claims_queued_runs_in_queue_order_whatever_task_arrives(line):
    a, x, b, c = line

    taken = [jobs.claim(c.pk).run.pk, jobs.claim(c.pk).run.pk, jobs.claim(a.pk).run.pk, jobs.claim(x.pk).run.pk]

    assert taken == [a.pk, x.pk, b.pk, c.pk]
    assert jobs.claim(b.pk).outcome == Claim.BUSY  # a fifth delivery: nothing queued is left
    assert set(Run.objects.values_list("status", "attempt")) == {(Run.Status.PREPARING, 1)}


def test_it_skips_a_run_whose_cancel_was_requested_and_cancels_it_from_its_own_task(line):
    a, x, b, c = line
    Run.objects.filter(pk=a.pk).update(cancel_requested=True)

    assert jobs.claim(c.pk).run.pk == x.pk
    claim = jobs.claim(a.pk)

    assert (claim.outcome, claim.run.pk, claim.ended.pk) == (Claim.TAKEN, b.pk, a.pk)
    a.refresh_from_db()
    assert a.status == Run.Status.CANCELLED and a.attempt == 0


def test_it_skips_a_cancelled_queued_run(line):
    a, x, b, c = line
    assert a.request_cancel()

    assert jobs.claim(c.pk).run.pk == x.pk


def test_it_resumes_its_own_run_after_a_crash_before_taking_from_the_queue(line, settings):
    a, x, b, c = line
    Run.objects.filter(pk=c.pk).update(status=Run.Status.DISTILLING, attempt=1,
                                       heartbeat_at=timezone.now() - timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S + 5))

    claim = jobs.claim(c.pk)

    assert (claim.outcome, claim.run.pk, claim.run.attempt) == (Claim.TAKEN, c.pk, 2)
    assert order() == [a.pk, x.pk, b.pk]


def test_it_leaves_a_live_workers_run_alone_and_takes_the_first_queued_one(line):
    a, x, b, c = line
    Run.objects.filter(pk=c.pk).update(status=Run.Status.DISTILLING, attempt=1, heartbeat_at=timezone.now())

    claim = jobs.claim(c.pk)  # a duplicate delivery of c's task: a free slot all the same

    assert claim.run.pk == a.pk
    c.refresh_from_db()
    assert (c.status, c.attempt) == (Run.Status.DISTILLING, 1)


@pytest.mark.django_db(transaction=True)
def test_two_claims_never_take_the_same_run(owner, corpus, demo_teacher):
    runs = [queued(owner, corpus, demo_teacher, order) for order in range(12)]
    start = threading.Barrier(4)

    def slot(run: Run) -> int | None:
        try:
            start.wait(timeout=30)
            claim = jobs.claim(run.pk)
            return claim.run.pk if claim.outcome == Claim.TAKEN else None
        finally:
            connections.close_all()  # this thread's connection

    taken: list[int | None] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for batch in range(0, len(runs), 4):  # four workers at once, three times
            start.reset()
            taken += pool.map(slot, runs[batch:batch + 4])

    assert sorted(pk for pk in taken if pk) == sorted(run.pk for run in runs)
    assert set(Run.objects.values_list("attempt", flat=True)) == {1}


def test_the_task_works_on_the_run_it_claimed_not_on_its_own(owner, corpus, tmp_path):
    folder = tmp_path / "pickled-teacher"  # a teacher the engine refuses at once: the run fails in a second
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    teacher = Teacher.objects.create(name="pickled", kind=Teacher.KIND_IMPORTED, path=str(folder))
    first = Run.create(owner=owner, corpus=corpus, teacher=teacher, epochs=1)
    second = Run.create(owner=owner, corpus=corpus, teacher=teacher, epochs=1)

    outcome = run_distillation.apply(args=(second.pk,), task_id="slot-of-the-second")

    assert outcome.successful()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Run.Status.FAILED and first.error_code == "unsafe_checkpoint_pickle"
    assert first.celery_task_id == "slot-of-the-second"
    assert (second.status, second.attempt) == (Run.Status.QUEUED, 0)  # its turn comes with the next delivery


# -- positions and moves --------------------------------------------------------------------


def test_it_counts_everyones_runs_ahead_in_queue_order(line, owner):
    a, x, b, c = line
    Run.objects.filter(pk=a.pk).update(status=Run.Status.DISTILLING)  # taken: running, so still ahead of the rest

    for run in (a, x, b, c):
        run.refresh_from_db()
    assert [run.queue_position() for run in (a, x, b, c)] == [0, 1, 2, 3]
    assert [run.runs_ahead() for run in (x, b, c)] == [1, 2, 3]
    entries = Run.queue_of(owner)
    assert [(entry.run.pk, entry.position) for entry in entries] == [(a.pk, 0), (b.pk, 2), (c.pk, 3)]
    assert [(entry.can_move_up, entry.can_move_down) for entry in entries[1:]] == [(False, True), (True, False)]


def test_it_moves_a_run_up_past_the_owners_previous_run_only(line):
    a, x, b, c = line

    swapped = c.move_in_queue("up")

    assert swapped.pk == b.pk
    assert order() == [a.pk, x.pk, c.pk, b.pk]
    assert b.move_in_queue("up").pk == c.pk
    b.refresh_from_db()
    assert b.move_in_queue("up").pk == a.pk  # swaps with the owner's a: x, someone else's, keeps place 2
    assert order() == [b.pk, x.pk, a.pk, c.pk]


def test_it_moves_a_run_down_past_the_owners_next_run(line):
    a, x, b, c = line

    assert a.move_in_queue("down").pk == b.pk

    assert order() == [b.pk, x.pk, a.pk, c.pk]


def test_it_refuses_to_move_a_run_past_the_ends_or_out_of_the_queue(line):
    from cldweb.models import RunActionRefused

    a, x, b, c = line
    with pytest.raises(RunActionRefused, match="already the first"):
        a.move_in_queue("up")
    with pytest.raises(RunActionRefused, match="already the last"):
        c.move_in_queue("down")
    Run.objects.filter(pk=b.pk).update(status=Run.Status.PREPARING)
    with pytest.raises(RunActionRefused, match="no longer queued"):
        b.move_in_queue("up")
    assert order() == [a.pk, x.pk, c.pk]


def test_the_queue_page_lists_only_the_users_runs_with_places_among_everyones(line, owner_client):
    a, x, b, c = line
    Run.objects.filter(pk=x.pk).update(name="someone else's secret")

    page = owner_client.get(reverse("run-queue")).content.decode()

    assert "someone else's secret" not in page and f'data-run="{x.pk}"' not in page
    assert page.index(f'id="queue-run-{a.pk}"') < page.index(f'id="queue-run-{b.pk}"') < page.index(f'id="queue-run-{c.pk}"')
    assert "Everyone's runs: 4 waiting, 0 running." in page
    assert f'href="{reverse("run-cancel", args=[c.pk])}?from=queue"' in page
    assert reverse("run-queue") in owner_client.get(reverse("run-list")).content.decode()


def test_it_moves_a_run_with_a_post_then_shows_the_queue_again(line, owner_client):
    a, x, b, c = line

    response = owner_client.post(reverse("run-move", args=[c.pk]), {"direction": "up"}, follow=True)

    assert response.redirect_chain == [(f"{reverse('run-queue')}#queue-run-{c.pk}", 302)]
    assert f"Run #{c.pk} moved up: it now starts before run #{b.pk}." in response.content.decode()
    assert order() == [a.pk, x.pk, c.pk, b.pk]
    assert owner_client.get(reverse("run-move", args=[c.pk])).url == reverse("run-queue")  # a GET moves nothing
    assert order() == [a.pk, x.pk, c.pk, b.pk]


def test_it_says_in_chinese_why_a_run_cannot_move(line, owner_client):
    a, x, b, c = line

    response = owner_client.post(reverse("run-move", args=[a.pk]), {"direction": "up"}, follow=True,
                                 headers={"accept-language": "zh-hans"})

    assert f"任务 #{a.pk}" in response.content.decode() and "already" not in response.content.decode()
    assert order() == [a.pk, x.pk, b.pk, c.pk]


def test_another_user_cannot_move_or_see_your_run_in_the_queue(line, other_client):
    a, x, b, c = line

    assert other_client.post(reverse("run-move", args=[c.pk]), {"direction": "up"}).status_code == 404
    assert order() == [a.pk, x.pk, b.pk, c.pk]
    assert f'data-run="{c.pk}"' not in other_client.get(reverse("run-queue")).content.decode()


def test_cancelling_from_the_queue_page_comes_back_to_it(line, owner_client):
    a, x, b, c = line
    cancel = reverse("run-cancel", args=[b.pk]) + "?from=queue"

    assert f'action="{cancel}"' in owner_client.get(cancel).content.decode()
    response = owner_client.post(cancel)

    assert response.url == reverse("run-queue")
    assert order() == [a.pk, x.pk, c.pk]


# -- the owner's live view (ws/runs/) -----------------------------------------------------------

application = URLRouter(websocket_urlpatterns)


def end(run: Run, status: str) -> None:
    """As the worker ends a run: the row, then the status to its page and its owner's (WebReporter.send_status)."""
    if status == Run.Status.DONE:
        jobs.record_result(Run.objects.get(pk=run.pk), {"status": "done"})
    else:
        jobs.mark_failed(Run.objects.get(pk=run.pk), "internal", "The worker crashed.")
    WebReporter(run.pk).send_status()


# transaction=True: database_sync_to_async closes connections inside a transaction (see test_consumer.py).
@pytest.mark.django_db(transaction=True)
def test_the_owners_pages_hear_of_their_own_runs_only(line, owner):
    a, x, b, c = line

    async def scenario():
        anonymous = WebsocketCommunicator(application, "/ws/runs/")
        anonymous.scope["user"] = AnonymousUser()
        refused = await anonymous.connect()
        mine = WebsocketCommunicator(application, "/ws/runs/")
        mine.scope["user"] = owner
        connected, _ = await mine.connect()
        assert connected
        await sync_to_async(end)(x, Run.Status.FAILED)  # someone else's run ended: only the places move
        await sync_to_async(end)(a, Run.Status.DONE)
        heard = [await mine.receive_json_from(timeout=5) for _ in range(6)]
        quiet = await mine.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await get_channel_layer().close_pools()
        return refused, heard, quiet

    refused, heard, quiet = async_to_sync(scenario)()

    assert refused == (False, 4403)
    assert [(m["run"], m["status"], m["queue_position"], m["runs_ahead"]) for m in heard] == [
        (a.pk, "queued", 1, 0), (b.pk, "queued", 2, 1), (c.pk, "queued", 3, 2),  # x left the queue
        (a.pk, "done", 0, 0), (b.pk, "queued", 1, 0), (c.pk, "queued", 2, 1),  # a ended: b and c move up
    ]
    assert heard[3] == {"type": "run", "run": a.pk, "name": "", "status": "done", "is_active": False,
                        "queue_position": 0, "runs_ahead": 0}
    assert quiet

"""RunConsumer over the real channels_redis layer (REDIS_URL), driven by WebsocketCommunicator."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from cldweb.models import MetricPoint
from cldweb.reporting import WebReporter
from cldweb.routing import websocket_urlpatterns

# transaction=True: database_sync_to_async closes connections that are inside a transaction,
# which would close the test's own transaction; committed rows survive reconnecting.
pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)


def add_points(run, count: int) -> None:
    start = MetricPoint.next_seq(run.pk)
    for seq in range(start, start + count):
        MetricPoint.objects.create(run=run, seq=seq, phase="student", kind="step", step=seq * 10,
                                   values={"step": seq * 10, "loss": 1.0 / seq})


def communicator_for(run_id: int, user, after: int | None = None) -> WebsocketCommunicator:
    path = f"/ws/runs/{run_id}/" + (f"?after={after}" if after is not None else "")
    communicator = WebsocketCommunicator(application, path)
    communicator.scope["user"] = user
    return communicator


async def close_layer() -> None:
    await get_channel_layer().close_pools()


def test_it_refuses_another_users_run(run, other_user):
    async def scenario():
        communicator = communicator_for(run.pk, other_user)
        connected, code = await communicator.connect()
        await close_layer()
        return connected, code

    connected, code = async_to_sync(scenario)()

    assert connected is False
    assert code == 4403


def test_it_refuses_anonymous_visitors(run):
    async def scenario():
        connected, _ = await communicator_for(run.pk, AnonymousUser()).connect()
        await close_layer()
        return connected

    assert async_to_sync(scenario)() is False


def test_it_refuses_a_run_that_does_not_exist(owner):
    async def scenario():
        connected, _ = await communicator_for(999_999, owner).connect()
        await close_layer()
        return connected

    assert async_to_sync(scenario)() is False


def test_it_replays_exactly_the_points_after_the_clients_seq(run, owner):
    add_points(run, 5)

    async def scenario():
        communicator = communicator_for(run.pk, owner, after=3)
        connected, _ = await communicator.connect()
        assert connected
        backlog = await communicator.receive_json_from()
        status = await communicator.receive_json_from()
        await communicator.disconnect()
        await close_layer()
        return backlog, status

    backlog, status = async_to_sync(scenario)()

    assert backlog["type"] == "points"
    assert [p["seq"] for p in backlog["points"]] == [4, 5]
    assert backlog["points"][0] == {"seq": 4, "phase": "student", "kind": "step", "step": 40,
                                    "values": {"step": 40, "loss": 0.25}}
    story = {"timeline": status.pop("timeline"), "overall": status.pop("overall")}
    assert status == {"type": "status", "status": "queued", "device": "", "device_name": "", "is_active": True,
                      "cancel_requested": False, "progress": {}, "runs_ahead": 0}
    assert [(row["stage"], row["state"]) for row in story["timeline"][:2]] == [("queued", "current"), ("preparing", "pending")]
    assert story["overall"] == {"fraction": 0.0, "eta_s": None}


def test_it_forwards_live_points_from_the_reporter_without_repeating_the_backlog(run, owner):
    add_points(run, 2)
    clock = [100.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])

    async def scenario():
        communicator = communicator_for(run.pk, owner, after=0)
        connected, _ = await communicator.connect()
        assert connected
        backlog = await communicator.receive_json_from()
        await communicator.receive_json_from()  # status

        # The worker's reporter: a stage change (its mark for the timeline, then the status), then points
        # (stored first, then sent).
        await sync_to_async(reporter.on_stage)("distilling", {"device": "cpu"})
        mark = await communicator.receive_json_from()
        status = await communicator.receive_json_from()
        await sync_to_async(reporter.on_step)("student", {"step": 30, "loss": 0.5})
        first_live = await communicator.receive_json_from()
        await sync_to_async(reporter.on_step)("student", {"step": 40, "loss": 0.4})  # within 0.25 s: held back
        await sync_to_async(reporter.on_eval)("student", {"step": 40, "dev_accuracy": 0.75})
        clock[0] += 1.0
        await sync_to_async(reporter.should_stop)()  # the interval passed: the held points go out
        second_live = await communicator.receive_json_from()
        # A batch replayed by the layer (or overlapping the backlog) is dropped by seq.
        await get_channel_layer().group_send(f"run-{run.pk}", {"type": "run.points", "points": backlog["points"]})
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        await close_layer()
        return backlog, mark, status, first_live, second_live

    backlog, mark, status, first_live, second_live = async_to_sync(scenario)()

    assert [p["seq"] for p in backlog["points"]] == [1, 2]
    assert [(p["seq"], p["phase"], p["values"]["stage"]) for p in mark["points"]] == [(3, "stage", "distilling")]
    assert (status["type"], status["status"], status["device"]) == ("status", "distilling", "cpu")
    assert [(row["stage"], row["state"]) for row in status["timeline"] if row["state"] == "current"] == [
        ("distilling", "current")]
    assert [p["seq"] for p in first_live["points"]] == [4]
    assert [(p["seq"], p["kind"]) for p in second_live["points"]] == [(5, "step"), (6, "eval")]
    assert second_live["points"][1]["values"] == {"step": 40, "dev_accuracy": 0.75}
    assert list(run.points.values_list("seq", flat=True)) == [1, 2, 3, 4, 5, 6]


def test_it_pushes_labelling_progress_live_and_to_a_client_that_connects_later(run, owner):
    clock = [0.0]
    reporter = WebReporter(run.pk, clock=lambda: clock[0])

    async def scenario():
        communicator = communicator_for(run.pk, owner)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()  # backlog
        await communicator.receive_json_from()  # status
        await sync_to_async(reporter.on_stage)("labelling", {"device": "cpu"})
        await communicator.receive_json_from()  # the stage's mark
        stage = await communicator.receive_json_from()
        await sync_to_async(reporter.on_progress)("labelling", {"done": 12_345, "total": 100_000, "eta_s": 180.0})
        live = await communicator.receive_json_from()
        await communicator.disconnect()

        later = communicator_for(run.pk, owner)  # a reload: the stored point comes with the status
        connected, _ = await later.connect()
        assert connected
        await later.receive_json_from()  # backlog
        replayed = await later.receive_json_from()
        await later.disconnect()
        await close_layer()
        return stage, live, replayed

    stage, live, replayed = async_to_sync(scenario)()

    assert (stage["status"], stage["progress"]) == ("labelling", {})
    assert live["type"] == "status"
    assert live["progress"] == {"stage": "labelling", "done": 12_345, "total": 100_000, "eta_s": 180.0}
    def without_times(status):  # the current stage's time has grown between the two
        return {**status, "timeline": [(row["stage"], row["state"]) for row in status["timeline"]], "overall": None}

    assert without_times(replayed) == without_times(live)


def test_it_reads_from_redis_longer_than_a_blocking_receive_waits(settings):
    """redis-py 8 defaults to a 5 s read timeout, the same as channels_redis's blocking receive:
    idle WebSockets then crash with "Timeout reading from ...". The settings must keep a margin."""
    from channels_redis.core import RedisChannelLayer

    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


def test_it_fills_a_batch_the_layer_dropped_from_the_database(run, owner):
    add_points(run, 2)

    async def scenario():
        communicator = communicator_for(run.pk, owner, after=0)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()  # backlog: seq 1-2
        await communicator.receive_json_from()  # status
        # Points 3 and 4 are stored but their batch never arrives; the next batch carries only 5.
        await sync_to_async(add_points)(run, 3)
        await get_channel_layer().group_send(
            f"run-{run.pk}", {"type": "run.points", "points": await sync_to_async(run.points_after)(4)})
        live = await communicator.receive_json_from()
        await communicator.disconnect()
        await close_layer()
        return live

    live = async_to_sync(scenario)()
    assert [p["seq"] for p in live["points"]] == [3, 4, 5]


def test_it_sends_the_engines_notes_live_and_replays_them_after_a_reconnect(run, owner):
    reporter = WebReporter(run.pk)

    async def scenario():
        communicator = communicator_for(run.pk, owner, after=0)
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()  # backlog (empty)
        await communicator.receive_json_from()  # status
        await sync_to_async(reporter.on_step)("student", {"step": 10, "loss": 0.5})
        await communicator.receive_json_from()
        await sync_to_async(reporter.on_message)("Teacher outputs read from the cache.", code="teacher_outputs_cached")
        live = await communicator.receive_json_from()
        await communicator.disconnect()

        # The browser reconnects having seen only the step (the note's batch lost, say): the note is replayed.
        again = communicator_for(run.pk, owner, after=1)
        connected, _ = await again.connect()
        assert connected
        replayed = await again.receive_json_from()
        await again.receive_json_from()  # status
        await again.disconnect()
        await close_layer()
        return live, replayed

    live, replayed = async_to_sync(scenario)()

    note = {"seq": 2, "phase": "", "kind": "note", "step": 0,
            "values": {"text": "Teacher outputs read from the cache.", "code": "teacher_outputs_cached", "params": {}}}
    assert live == {"type": "points", "points": [note]}
    assert replayed == {"type": "points", "points": [note]}

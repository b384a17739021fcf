"""RunConsumer: a browser's live view of one run; OwnerRunsConsumer: the status of all of a user's runs.

Order matters: check ownership (before joining anything), join the group ``run-<id>``,
then replay the backlog from the database after the client's ``?after=<seq>``, then
forward live batches. Joining first means no point can fall between the replay and
the live stream; the ``seq`` filter drops the ones that arrive twice.

Messages sent to the browser:

* ``{"type": "points", "points": [{"seq", "phase", "kind", "step", "values"}, ...]}``
* ``{"type": "status", "status", "device", "device_name", "is_active", "cancel_requested", "progress"}``
  (``progress``: {"stage", "done", "total", "eta_s"} of a long stage without steps, else {})
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cldweb.models import Run
from cldweb.reporting import group_name, owner_group_name

CLOSE_FORBIDDEN = 4403  # application close code; before accept Daphne answers HTTP 403


class RunConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    last_seq: int = 0

    async def connect(self) -> None:
        user = self.scope.get("user")
        run_id: int = self.scope["url_route"]["kwargs"]["run_id"]
        if user is None or not user.is_authenticated or not await self._owns(user, run_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return

        self.group = group_name(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

        points, status = await self._backlog(run_id, self._after())
        if points:
            self.last_seq = points[-1]["seq"]
        else:
            self.last_seq = self._after()
        await self.send_json({"type": "points", "points": points})
        await self.send_json(status)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser has nothing to say; input is ignored."""

    # -- group messages (from cldweb.reporting.WebReporter) ---------------------------------

    async def run_points(self, event: dict[str, Any]) -> None:
        fresh = [point for point in event.get("points", []) if point["seq"] > self.last_seq]
        if not fresh:
            return
        if fresh[0]["seq"] > self.last_seq + 1:
            # The layer dropped a batch (at-most-once delivery): fill the hole from the database.
            fresh = await self._points_after(self.scope["url_route"]["kwargs"]["run_id"], self.last_seq)
        self.last_seq = fresh[-1]["seq"]
        await self.send_json({"type": "points", "points": fresh})

    async def run_status(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "status"})

    # -- helpers ----------------------------------------------------------------------------

    def _after(self) -> int:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            return max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            return 0

    @database_sync_to_async
    def _owns(self, user, run_id: int) -> bool:
        return Run.objects.filter(pk=run_id, owner=user).exists()

    @database_sync_to_async
    def _points_after(self, run_id: int, after: int) -> list[dict[str, Any]]:
        return Run(pk=run_id).points_after(after)

    @database_sync_to_async
    def _backlog(self, run_id: int, after: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        run = Run.objects.get(pk=run_id)
        return run.points_after(after), run.status_message()


class OwnerRunsConsumer(AsyncJsonWebsocketConsumer):
    """``ws/runs/``: the signed-in user's runs as their status changes, for the dashboard, the runs list
    and the queue page (status cells, queue positions, the "run ended" notice).

    The group is the user's own (``owner-<user id>``, from the session, never from the URL), so only
    their runs reach them. Nothing is replayed: the page was rendered with the current state, and a
    missed message only leaves a cell stale until the next reload.

    Sent: ``{"type": "run", "run", "name", "status", "is_active", "queue_position", "runs_ahead"}``.
    """

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = owner_group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser has nothing to say; input is ignored."""

    async def runs_status(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "run"})

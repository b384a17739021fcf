"""The WebSocket stack as deployed (cldweb.asgi): foreign Origins are refused before the consumer runs."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


def connect(run_id: int, origin: bytes, user=None) -> tuple[bool, object]:
    from cldweb.asgi import application

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=[(b"origin", origin)])
        if user is not None:
            communicator.scope["user"] = user  # as AuthMiddlewareStack would set it from the session
        connected, code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        await get_channel_layer().close_pools()
        return connected, code

    return async_to_sync(scenario)()


@pytest.mark.parametrize("origin", [b"http://evil.example", b"https://testserver.evil.example", b"null"])
def test_it_refuses_a_foreign_origin_even_for_the_owner(run, owner, origin):
    connected, code = connect(run.pk, origin, user=owner)

    assert connected is False
    assert code != 4403  # refused by the origin check, before the consumer looked at the user


def test_it_lets_the_owner_in_from_an_allowed_origin(run, owner):
    connected, _code = connect(run.pk, b"http://testserver", user=owner)

    assert connected is True


def test_it_refuses_anonymous_visitors_from_an_allowed_origin(run):
    connected, code = connect(run.pk, b"http://testserver")

    assert connected is False and code == 4403

from __future__ import annotations

from django.urls import path

from cldweb.consumers import OwnerRunsConsumer, RunConsumer

websocket_urlpatterns = [
    path("ws/runs/", OwnerRunsConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
]

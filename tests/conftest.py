"""Suite-wide fixtures: the real services end-to-end tests talk to.

Redis is started by the ``tests.services`` plugin before Django loads; here we
add a Celery worker and an ASGI server, both separate processes pointed at the
test database, started once per session and only when a test asks for them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import processes
from tests.services import redis_server


@pytest.fixture(scope="session")
def redis_url() -> str:
    return redis_server().url


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def live_database_url(django_db_setup, django_db_blocker) -> str:
    from django.db import connection

    with django_db_blocker.unblock():
        return processes.database_url_for(connection.settings_dict)


# The shared worker reads its own queue, so runs that other tests create (and enqueue on
# commit) stay queued instead of being trained under their feet.
SHARED_WORKER_QUEUE = "cld-e2e"


@pytest.fixture(scope="session")
def _shared_worker(live_database_url, process_logs):
    worker = processes.start_worker(live_database_url, process_logs, CLD_TASK_QUEUE=SHARED_WORKER_QUEUE)
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(_shared_worker, settings):
    """One real Celery worker process, shared by the session's end-to-end tests; runs this test enqueues go to it."""
    settings.CELERY_TASK_DEFAULT_QUEUE = SHARED_WORKER_QUEUE
    return _shared_worker


@pytest.fixture(scope="session")
def asgi_server(live_database_url, process_logs):
    """Daphne serving cldweb.asgi on a free port (its runs go to the shared worker); yields its base URL."""
    server, base_url = processes.start_asgi_server(live_database_url, process_logs, CLD_TASK_QUEUE=SHARED_WORKER_QUEUE)
    yield base_url
    server.stop()

"""Pytest plugin (loaded with ``-p tests.services`` from pytest.ini) that gives the
suite its own Redis and data directory *before* Django reads its settings.

Settings read ``REDIS_URL`` and ``CLD_DATA_DIR`` at import, and pytest-django
imports them before any conftest runs, hence a plugin hook that runs first.
"""
from __future__ import annotations

import os
import tempfile

import pytest

from cldweb.embedded_redis import EmbeddedRedis

_redis: EmbeddedRedis | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _redis
    os.environ.setdefault("CLD_DATA_DIR", tempfile.mkdtemp(prefix="cld-test-data-"))
    # A private server: tests restart it to inject broker outages, and nothing
    # left in a shared Redis by an earlier run can leak into this one.
    _redis = EmbeddedRedis(data_dir=os.path.join(os.environ["CLD_DATA_DIR"], "redis")).start()
    os.environ["REDIS_URL"] = _redis.url


def pytest_unconfigure(config):
    if _redis is not None:
        _redis.stop()


def redis_server() -> EmbeddedRedis:
    assert _redis is not None, "tests.services plugin did not start Redis"
    return _redis

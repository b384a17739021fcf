"""The README's first quickstart command starts a working app and stops cleanly."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from cldweb.embedded_redis import free_port
from tests.processes import REPO, http_status, wait_for

pytestmark = pytest.mark.services


def test_it_starts_serves_the_login_page_and_stops_cleanly(tmp_path):
    port = free_port()
    env = os.environ.copy()
    env.pop("REDIS_URL", None)  # the run command must start its own embedded Redis
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        CLD_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    (tmp_path / "data").mkdir()
    output = open(tmp_path / "start.log", "w+b")
    app = subprocess.Popen(
        [str(REPO / "cld"), "start", "--port", str(port)], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    login_url = f"http://127.0.0.1:{port}/accounts/login/"
    try:
        wait_for(lambda: http_status(login_url) == 200 or app.poll() is not None, 240, "the login page")
        assert app.poll() is None, (tmp_path / "start.log").read_text()
        assert http_status(login_url) == 200
    finally:
        app.send_signal(signal.SIGTERM)
        returncode = app.wait(timeout=90)
    log = (tmp_path / "start.log").read_text()
    assert returncode == 0, log
    assert f"http://127.0.0.1:{port}/" in log  # the URL is printed
    assert "Demo login: demo / " in log  # and the demo login
    assert "cld stopped." in log
    assert http_status(login_url) is None  # the web server is gone, not orphaned

"""`./cld start` serves like a production site: no debug pages, the app's own translated errors,
JSON errors for JSON clients, static files (Plotly) served with DEBUG off, a private secret key.

The server is the real one: the `cld` script with the environment a new user has (no DEBUG,
no SECRET_KEY), on a free port, over plain HTTP.
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cldweb.embedded_redis import free_port
from tests.processes import REPO, http_status, wait_for

pytestmark = pytest.mark.services

DEMO_PASSWORD = "start-safe-demo-pass"
# Phrases only Django's technical (DEBUG) pages print.
DEBUG_PAGE_MARKERS = ("DEBUG = True", "URLconf", "Django tried these URL patterns", "Traceback", "technical")


def new_user_env(data_dir) -> dict[str, str]:
    """The environment of someone who just cloned the project: none of cld's or Django's knobs set."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLD_", "DJANGO_")) and key not in ("DEBUG", "SECRET_KEY", "REDIS_URL", "ALLOWED_HOSTS")}
    env.update(CLD_DATA_DIR=str(data_dir), DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
               CLD_DEMO_PASSWORD=DEMO_PASSWORD, PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """`./cld start` running, plus rows made beside it: another user's run, the demo's run, a token."""
    root = tmp_path_factory.mktemp("start-safe")
    data_dir = root / "data"
    data_dir.mkdir()
    env = new_user_env(data_dir)
    port = free_port()
    log_path = root / "start.log"
    process = subprocess.Popen([str(REPO / "cld"), "start", "--port", str(port)], cwd=REPO, env=env,
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_status(base + "/accounts/login/") == 200 or process.poll() is not None, 240,
                 "./cld start to serve the login page")
        assert process.poll() is None, log_path.read_text()
        made = subprocess.run(
            [str(REPO / ".venv/bin/python"), "manage.py", "shell", "-c", SETUP_ROWS], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        rows = json.loads(made.stdout.strip().splitlines()[-1])
        yield {"base": base, "data_dir": data_dir, **rows}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=90)


# Failed runs: nothing is enqueued, so the worker that ./cld start runs leaves them alone.
SETUP_ROWS = """
import json
from django.contrib.auth import get_user_model
from cldweb.models import ApiToken, Corpus, Run, Teacher
User = get_user_model()
demo = User.objects.get(username="demo")
other = User.objects.create_user("someone-else", password="x" * 20)
corpus = Corpus.objects.get(owner=demo)
teacher = Teacher.objects.filter(kind=Teacher.KIND_DEMO).first()
own = Run.objects.create(owner=demo, corpus=corpus, teacher=teacher, status="failed", error_code="internal")
theirs = Run.objects.create(owner=other, corpus=corpus, teacher=teacher, status="failed", error_code="internal")
_row, token = ApiToken.issue(user=demo, name="script")
print(json.dumps({"own_run": own.pk, "other_run": theirs.pk, "token": token}))
"""


def fetch(opener, url: str, headers: dict[str, str] | None = None, data: bytes | None = None):
    """(status, headers, body text) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def anonymous():
    return urllib.request.build_opener()


def logged_in_as_demo(base: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    _status, _headers, page = fetch(opener, base + "/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": "demo", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": csrf})
    status, _headers, dashboard = fetch(opener, base + "/accounts/login/", data=form.encode())
    assert status == 200 and "demo" in dashboard, dashboard[:500]  # plain http: the session cookie is not Secure-only
    return opener


def main_of(page: str) -> str:
    return page[page.index("<main"):page.index("</main>")]


def assert_no_debug_page(body: str) -> None:
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in body


def test_it_answers_a_wrong_url_with_its_own_translated_404_page(app):
    status, headers, body = fetch(anonymous(), app["base"] + "/no-such-page/", {"Accept-Language": "zh-hans"})
    english_status, _headers, english = fetch(anonymous(), app["base"] + "/no-such-page/", {"Accept-Language": "en"})

    assert status == 404 and headers.get_content_type() == "text/html"
    assert 'id="error-page"' in body and "页面不存在" in body
    assert english_status == 404 and "Page not found" in english
    assert_no_debug_page(body)
    assert_no_debug_page(english)


def test_it_answers_another_users_run_like_a_missing_one(app):
    demo = logged_in_as_demo(app["base"])
    headers = {"Accept-Language": "en"}

    theirs = fetch(demo, f"{app['base']}/runs/{app['other_run']}/", headers)
    missing = fetch(demo, f"{app['base']}/runs/999999/", headers)
    own = fetch(demo, f"{app['base']}/runs/{app['own_run']}/", headers)

    assert theirs[0] == missing[0] == 404
    assert "Page not found" in theirs[2] and main_of(theirs[2]) == main_of(missing[2])
    assert_no_debug_page(theirs[2])
    assert own[0] == 200


def test_it_answers_json_clients_in_json(app):
    token = {"Authorization": f"Bearer {app['token']}", "Accept-Language": "en"}
    base = app["base"]

    for url in (f"{base}/runs/999999/points/", f"{base}/runs/{app['other_run']}/points/", f"{base}/api/nothing-here/",
                f"{base}/runs/{app['other_run']}/download/"):
        status, headers, body = fetch(anonymous(), url, token)
        assert status == 404, url
        assert headers.get_content_type() == "application/json", url
        assert json.loads(body) == {"error": {"code": "not_found", "message": "Not found."}}
    in_chinese = fetch(logged_in_as_demo(base), f"{base}/runs/{app['other_run']}/points/", {"Accept-Language": "zh-hans"})
    assert in_chinese[0] == 404 and json.loads(in_chinese[2]) == {"error": {"code": "not_found", "message": "未找到。"}}


def test_it_serves_plotly_to_the_run_page_with_debug_off(app):
    demo = logged_in_as_demo(app["base"])
    _status, _headers, page = fetch(demo, f"{app['base']}/runs/{app['own_run']}/")
    plotly_url = re.search(r'<script src="([^"]*plotly[^"]*\.js)"', page).group(1)

    status, headers, body = fetch(anonymous(), app["base"] + plotly_url)

    assert status == 200
    assert "javascript" in headers.get("Content-Type", "")
    assert len(body) > 1_000_000 and "plotly.js" in body[:2000]


def test_it_keeps_its_generated_secret_key_private(app):
    key_file = app["data_dir"] / "secret_key"

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 50

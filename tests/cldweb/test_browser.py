"""A person's path through the pages, in Debian's chromium driven by Playwright,
against the real ASGI server and a real Celery worker: sign in, upload, map
columns, start a run, watch the charts fill live, reload mid-run and see the
whole history again, read the results, download the student. Also: the teacher
labelling progress line, as stored and as the worker pushes it."""
from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from cldweb.models import DEMO_TEACHER_NAME, Corpus, Run, Teacher
from cldweb.reporting import WebReporter
from tests.processes import write_review_sample


CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./cld test installs it)"),
]

PASSWORD = "a long browser password"
RUN_TIMEOUT_MS = 420_000

# Points drawn in a chart: Plotly keeps the traces' data on the element.
POINTS_DRAWN = """(selector) => {
  const el = document.querySelector(selector);
  if (!el || !el.data) return 0;
  return el.data.reduce((n, trace) => n + (trace.x ? trace.x.length : 0), 0);
}"""


@pytest.fixture(autouse=True)
def isolated_storage():
    """Server, worker and test share one data folder and channel prefix (see test_e2e_spine.py)."""


@pytest.fixture
def review_csv(tmp_path):
    return write_review_sample(tmp_path / "评论.csv", rows=500, seed=11)


@pytest.fixture
def alice(db):
    # Created before the browser starts: Playwright's sync API runs an event loop in this
    # thread, and Django refuses ORM calls from a thread with a running loop.
    Teacher.objects.get_or_create(owner=None, kind=Teacher.KIND_DEMO, defaults={"name": DEMO_TEACHER_NAME})
    return get_user_model().objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def labelling_run(alice) -> Run:
    """A run a worker is labelling, 12,345 of 100,000 texts in; no worker takes it (it is never queued)."""
    corpus = Corpus.objects.create(owner=alice, name="大语料", original_filename="大语料.csv", file="uploads/big.csv",
                                   format="csv", encoding="utf-8", columns=["text", "label"], text_column="text",
                                   label_column="label", row_count=100_000)
    teacher = Teacher.objects.get(owner=None, kind=Teacher.KIND_DEMO)
    return Run.objects.create(owner=alice, corpus=corpus, teacher=teacher, status=Run.Status.LABELLING,
                              heartbeat_at=timezone.now(), started_at=timezone.now(), device="cpu",
                              progress={"stage": "labelling", "done": 12_345, "total": 100_000, "eta_s": 180.0})


def as_the_worker(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread of its own, as the Celery worker would: Playwright's sync API
    runs an event loop in the test's thread, where Django refuses ORM calls."""
    def call() -> None:
        try:
            work()
        finally:
            connections.close_all()  # this thread's connection, or the test database cannot be flushed

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(call).result()


def sign_in(page, base_url: str, language: str) -> None:
    page.goto(base_url + "/")
    assert "/accounts/login/" in page.url  # anonymous users are sent to sign in
    with page.expect_navigation():
        page.select_option("#language", language)
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_url(base_url + "/")


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        console_errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        page.console_errors = console_errors
        yield page
        browser.close()


def test_it_walks_a_user_from_upload_to_download(asgi_server, celery_worker, review_csv, alice, browser_page, tmp_path):
    page = browser_page
    sign_in(page, asgi_server, "en")

    page.goto(asgi_server + "/corpora/upload/")
    page.set_input_files("input[type=file]", str(review_csv))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/preview/")
    preview_text = page.inner_text("main")
    assert "500" in preview_text  # row count shown before anything is trained
    page.click("button[name=continue]")
    page.wait_for_url(re.compile(r"/corpora/\d+/$"))

    page.click("text=Start a run")
    page.wait_for_url("**/runs/new/?corpus=*")
    page.fill("input[name=epochs]", "2")
    page.fill("input[name=max_length]", "48")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_url = page.url

    # Live: points arrive over the WebSocket while the worker trains.
    page.wait_for_function(f"() => ({POINTS_DRAWN})('#loss-chart') >= 4", timeout=RUN_TIMEOUT_MS)
    drawn_before_reload = page.evaluate(POINTS_DRAWN, "#loss-chart")

    # Closing and reopening the page redraws the whole history, then continues live.
    page.goto(asgi_server + "/")
    page.goto(run_url)
    page.wait_for_function(
        f"() => ({POINTS_DRAWN})('#loss-chart') >= {drawn_before_reload}", timeout=60_000
    )

    # The page reloads itself when the run ends and shows the comparison.
    page.wait_for_selector("text=Download the student (zip)", timeout=RUN_TIMEOUT_MS)
    results = page.inner_text("main")
    assert "Test accuracy" in results and "Parameters" in results
    assert page.evaluate(POINTS_DRAWN, "#accuracy-chart") >= 2
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("text=Download the student (zip)")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".zip" and saved.stat().st_size > 1000

    # The same page in Chinese.
    with page.expect_navigation():
        page.select_option("#language", "zh-hans")
    page.wait_for_selector("text=下载学生模型", timeout=10_000)
    assert not page.console_errors, page.console_errors


def test_it_shows_teacher_labelling_progress_and_moves_it_live(asgi_server, labelling_run, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, asgi_server, "zh-hans")
    page.goto(f"{asgi_server}/runs/{labelling_run.pk}/")
    text = page.locator("#run-progress-text")
    bar = page.locator("#run-progress-bar")

    # After a reload the stored point is shown at once, in the page's language.
    expect(text).to_have_text("教师模型标注：12,345 / 100,000 条文本，约剩 3 分钟")
    expect(bar).to_have_js_property("value", 12_345)
    expect(bar).to_have_js_property("max", 100_000)
    # No dev evaluation yet: the accuracy axis still spans 0-100%, not Plotly's default 0-4 as "400%".
    expect(page.locator("#accuracy-chart .ytick").last).to_have_text("100%")

    # The worker's next point reaches the open page over the WebSocket, without a reload.
    as_the_worker(lambda: WebReporter(labelling_run.pk).on_progress(
        "labelling", {"done": 60_000, "total": 100_000, "eta_s": 30.0}))
    expect(text).to_have_text("教师模型标注：60,000 / 100,000 条文本，剩余不到 1 分钟")
    expect(bar).to_have_js_property("value", 60_000)

    # The run ends: the page reloads itself with the outcome and the progress line is gone.
    def fail() -> None:
        Run.objects.get(pk=labelling_run.pk).mark_failed("internal", "The worker crashed.")
        WebReporter(labelling_run.pk).send_status()

    as_the_worker(fail)
    expect(page.locator("p.error[role=alert]")).to_be_visible()
    expect(page.locator("#run-progress")).to_be_hidden()
    assert not page.console_errors, page.console_errors

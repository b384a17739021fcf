"""A cancelled run resumed from its page in Chromium, then its stage timeline live and, once it is done, with
each stage's time (real ASGI server and WebSocket; the worker's reports are made by the test)."""
from __future__ import annotations

import re
import shutil

import pytest
from django.utils import timezone

from cldweb import jobs
from cldweb.models import Run
from cldweb.reporting import WebReporter
from tests import processes
from tests.cldweb.test_browser import (  # noqa: F401  (fixtures and helpers shared with the other browser tests)
    alice, as_the_worker, browser_marks, browser_page, isolated_storage, sign_in, unqueued_run,
)

pytestmark = browser_marks  # transactional DB, services, chromium: as the other browser tests


@pytest.fixture
def idle_asgi_server(live_database_url, process_logs):
    """Daphne whose runs go to a queue no worker reads: the resumed run waits for this test to act as its worker
    (the suite's shared worker would otherwise take it and fail it, its checkpoint being a stand-in)."""
    server, base_url = processes.start_asgi_server(live_database_url, process_logs,
                                                   CLD_TASK_QUEUE="cld-test-no-worker")
    yield base_url
    server.stop()


@pytest.fixture
def cancelled_run(alice):
    """A run cancelled while distilling, its student checkpoint kept in its folder; no worker takes it."""
    run = unqueued_run(alice, Run.Status.CANCELLED)
    Run.objects.filter(pk=run.pk).update(attempt=1, finished_at=timezone.now(), cancel_requested=True)
    (run.output_dir / "checkpoints").mkdir(parents=True)
    (run.output_dir / "checkpoints" / "last.pt").write_bytes(b"x")
    yield run
    shutil.rmtree(run.output_dir, ignore_errors=True)


def test_it_resumes_a_cancelled_run_and_times_its_stages_once_it_is_done(idle_asgi_server, cancelled_run, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    asgi_server = idle_asgi_server
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{cancelled_run.pk}/")
    expect(page.locator("#overall-progress")).to_be_hidden()  # a stopped run: no bar says anything true

    page.click("#run-resume button")  # a plain POST form, no JavaScript needed
    expect(page.locator("main")).to_contain_text(
        f"Run #{cancelled_run.pk} is queued again and continues from its last checkpoint.")
    expect(page.locator("#status-badge .badge")).to_have_text("Queued")
    expect(page.locator("#run-resume")).to_have_count(0)
    expect(page.locator("#stage-timeline li").first).to_have_text(re.compile(r"^Waiting in the queue \d+\.\d s so far$"))
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    def take_and_prepare() -> None:
        Run.objects.filter(pk=cancelled_run.pk).update(attempt=2, heartbeat_at=timezone.now())
        WebReporter(cancelled_run.pk, attempt=2).on_stage("preparing", {"device": "cpu"})

    as_the_worker(take_and_prepare)
    current = page.locator('#stage-timeline li[data-state="current"]')
    expect(current.locator(".stage-name")).to_have_text("Loading the corpus")  # live, from the status message
    expect(current.locator(".stage-time")).to_contain_text("so far")
    expect(page.locator('#stage-timeline li[data-stage="distilling"]')).to_have_attribute("data-state", "pending")
    expect(page.locator("#overall-progress-text")).to_have_text("0% of the whole run; estimating the time left…")
    assert page.evaluate("() => window.__sameDocument === true")

    def finish() -> None:
        reporter = WebReporter(cancelled_run.pk, attempt=2)
        for stage in ("labelling", "distilling", "evaluating"):
            reporter.on_stage(stage, {"device": "cpu"})
        jobs.record_result(Run.objects.get(pk=cancelled_run.pk), {
            "status": "done", "device": "cpu",
            "stage_seconds": {"preparing": 2.5, "labelling": 30.0, "distilling": 95.0, "evaluating": 4.0,
                              "exporting": 1.5}}, attempt=2)
        reporter.send_status()

    as_the_worker(finish)  # run.js reloads the page once the run has ended: the server renders the times
    expect(page.locator("#status-badge .badge")).to_have_text("Done")
    rows = page.locator("#stage-timeline li")
    expect(rows.locator(".stage-name")).to_have_text(
        ["Waiting in the queue", "Loading the corpus", "Teacher labelling", "Distilling the student", "Evaluating",
         "Exporting"])
    expect(page.locator('#stage-timeline li[data-stage="distilling"] .stage-time')).to_have_text("1 min 35 s")
    expect(page.locator('#stage-timeline li[data-stage="labelling"] .stage-time')).to_have_text("30.0 s")
    expect(page.locator('#stage-timeline li[data-stage="exporting"] .stage-time')).to_have_text("1.5 s")
    expect(page.locator("#overall-progress-text")).to_have_text("The whole run is done.")
    assert not page.console_errors, page.console_errors

"""The run page's status in Chromium: the queue line, the device in words, and the cancel
control, as the worker's status messages change them live (real ASGI server and WebSocket)."""
from __future__ import annotations

import pytest
from django.utils import timezone

from cldweb import jobs
from cldweb.models import Run
from cldweb.reporting import WebReporter
from tests.cldweb.test_browser import (  # noqa: F401  (fixtures and helpers shared with the other browser tests)
    alice, as_the_worker, browser_marks, browser_page, isolated_storage, sign_in, unqueued_run,
)

pytestmark = browser_marks  # transactional DB, services, chromium: as the other browser tests


@pytest.fixture
def queued_run(alice) -> Run:
    return unqueued_run(alice)


def test_it_updates_queue_device_and_cancel_state_live(asgi_server, queued_run, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{queued_run.pk}/")
    expect(page.locator("#queue-position")).to_have_text("Next in the queue: it starts as soon as a worker is free.")

    def start_on_a_gpu() -> None:
        Run.objects.filter(pk=queued_run.pk).update(status="preparing", attempt=1, heartbeat_at=timezone.now())
        Run(pk=queued_run.pk).mark_stage("preparing", {"device": "cuda", "device_name": "NVIDIA H200"})
        WebReporter(queued_run.pk).send_status()

    as_the_worker(start_on_a_gpu)
    expect(page.locator("#run-device")).to_have_text("GPU: NVIDIA H200")
    expect(page.locator("#queue-position")).to_be_hidden()

    page.click("#run-cancel a")  # no JavaScript needed: a page that asks first
    expect(page.locator("#confirm h1")).to_have_text(f"Cancel run #{queued_run.pk}?")
    page.click("#confirm button[type=submit]")
    expect(page.locator("#run-cancel")).to_have_text("Cancelling: the run stops at its next step.")

    def stop() -> None:
        jobs.mark_cancelled(Run.objects.get(pk=queued_run.pk), attempt=1)
        WebReporter(queued_run.pk).send_status()

    as_the_worker(stop)
    expect(page.locator("#status-badge .badge")).to_have_text("Cancelled")
    expect(page.locator("main")).not_to_contain_text("Cancelling")
    assert not page.console_errors, page.console_errors


def test_it_cancels_a_queued_run_after_asking(asgi_server, queued_run, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, asgi_server, "zh-hans")
    page.goto(f"{asgi_server}/runs/{queued_run.pk}/")
    page.click("#run-cancel a")
    page.click("#confirm button[type=submit]")

    expect(page.locator("#status-badge .badge")).to_have_text("已取消")
    expect(page.locator("main")).not_to_contain_text("正在取消")
    expect(page.locator("#queue-position")).to_have_count(0)
    assert not page.console_errors, page.console_errors


@pytest.fixture
def running(alice) -> Run:
    return unqueued_run(alice, Run.Status.DISTILLING)


def test_it_lists_the_engines_notes_live_translated_and_again_after_a_reload(asgi_server, running, browser_page):
    from playwright.sync_api import expect

    page = browser_page
    sign_in(page, asgi_server, "zh-hans")
    page.goto(f"{asgi_server}/runs/{running.pk}/")
    expect(page.locator("#engine-notes")).to_be_hidden()  # nothing said yet: no empty box

    def notes() -> None:
        reporter = WebReporter(running.pk)
        reporter.on_message("Teacher outputs read from the cache.")  # fixed wording: translated
        reporter.on_message("Student trained for 1,200 steps.")  # numbers in it: shown as sent

    as_the_worker(notes)
    items = page.locator("#engine-note-list li")
    expect(page.locator("#engine-notes h2")).to_have_text("引擎提示")
    expect(items).to_have_text(["教师模型的输出已从缓存读取。", "Student trained for 1,200 steps."])

    page.reload()  # from the database: the same notes, each once
    expect(items).to_have_text(["教师模型的输出已从缓存读取。", "Student trained for 1,200 steps."])
    assert not page.console_errors, page.console_errors

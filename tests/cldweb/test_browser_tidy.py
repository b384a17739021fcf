"""The run page's status in Chromium: the queue line (counted down live), the device in words, and the cancel
control, as the worker's status messages change them live (real ASGI server and WebSocket)."""
from __future__ import annotations

import pytest
from django.utils import timezone

from cldweb import jobs
from cldweb.models import Run
from cldweb.reporting import WebReporter
from distill.progress import send_note
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


@pytest.fixture
def fourth_in_the_queue(alice) -> tuple[Run, Run, Run, Run]:
    """A run being trained, two queued before ours, and ours."""
    return unqueued_run(alice, Run.Status.DISTILLING), unqueued_run(alice), unqueued_run(alice), unqueued_run(alice)


def test_it_counts_the_runs_ahead_down_live_as_they_start_end_and_are_cancelled(asgi_server, fourth_in_the_queue,
                                                                              browser_page):
    from playwright.sync_api import expect

    running, first, second, ours = fourth_in_the_queue
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{ours.pk}/")
    queue = page.locator("#queue-position")
    expect(queue).to_have_text("Waiting for 3 runs ahead of it.")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    def end(run: Run) -> None:
        jobs.mark_failed(Run.objects.get(pk=run.pk), "internal", "The worker crashed.")
        WebReporter(run.pk).send_status()  # as the task does when a run ends

    as_the_worker(lambda: end(running))
    expect(queue).to_have_text("Waiting for 2 runs ahead of it.")

    def start_the_first() -> None:
        Run.objects.filter(pk=first.pk).update(status="preparing", attempt=1, heartbeat_at=timezone.now())
        Run(pk=first.pk).mark_stage("preparing", {"device": "cpu"})
        WebReporter(first.pk).send_status()

    as_the_worker(start_the_first)
    expect(queue).to_have_text("Waiting for 2 runs ahead of it.")  # still: it is running, ahead of ours

    other_tab = page.context.new_page()  # the second run cancelled from its own page, through the server
    other_tab.goto(f"{asgi_server}/runs/{second.pk}/")
    other_tab.click("#run-cancel a")
    other_tab.click("#confirm button[type=submit]")
    expect(other_tab.locator("#status-badge .badge")).to_have_text("Cancelled")
    expect(queue).to_have_text("Waiting for 1 run ahead of it.")
    as_the_worker(lambda: end(first))
    expect(queue).to_have_text("Next in the queue: it starts as soon as a worker is free.")
    assert page.evaluate("() => window.__sameDocument === true")  # counted down live, without a reload
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
        send_note(reporter, "teacher_outputs_cached")  # fixed wording
        send_note(reporter, "teacher_labelling_resuming", done=3000, total=12345)  # numbers in it
        send_note(reporter, "run_summary", teacher_accuracy=0.9134, student_accuracy=None, student_ms=1.234,
                  teacher_ms=12.5, student_parameters=1234567, teacher_parameters=102000000, device="cuda")
        # Why rows were skipped and where: reason codes and line numbers, said in Chinese, not the engine's English.
        send_note(reporter, "corpus_rows_skipped", count=3, rows=12121, reasons={"bad_label": 1, "empty_text": 2},
                  lines=[62, 70, 81])
        reporter.on_message("A note from a newer engine <b>as text</b>.", code="not_known_here")  # shown as sent

    said = ["教师模型的输出已从缓存读取。", "教师模型标注从第 3,000 条文本继续（共 12,345 条）。",
            "教师模型测试准确率 91.3%，学生模型 无；学生模型每条文本 1.23 毫秒（批大小 1，中位数），教师模型 12.50 毫秒；"
            "参数量 1,234,567 对 102,000,000，运行于 GPU。",
            "警告：12,121 行中有 3 行被跳过，未被使用（2 行文本为空、1 行标签无法识别）；最先的几行在第 62、70、81 行。",
            "A note from a newer engine <b>as text</b>."]
    as_the_worker(notes)
    items = page.locator("#engine-note-list li")
    expect(page.locator("#engine-notes h2")).to_have_text("引擎提示")
    expect(items).to_have_text(said)  # live, from run.js
    expect(page.locator("#engine-note-list b")).to_have_count(0)  # a note is text, never markup

    page.reload()  # from the database, rendered by the server: the same notes, each once
    expect(items).to_have_text(said)
    expect(page.locator("#engine-note-list b")).to_have_count(0)
    assert not page.console_errors, page.console_errors

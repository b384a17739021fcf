"""The queue page in Chromium: a queued run moved up from the keyboard, the order and places as rendered after
the POST; then a run ending while the page is open: its row, a notice and the page title say so live, without a
reload; and on a run's own page, in Chinese, the notice kept across the reload run.js makes when the run ends
(real ASGI server and WebSockets; the worker's endings are made by the test, on the worker's code path)."""
from __future__ import annotations

import pytest

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
    """Daphne whose runs go to a queue no worker reads: the suite's shared worker takes no run of this test."""
    server, base_url = processes.start_asgi_server(live_database_url, process_logs, CLD_TASK_QUEUE="cld-test-no-worker")
    yield base_url
    server.stop()


@pytest.fixture
def two_queued(alice) -> tuple[Run, Run]:
    """Two of alice's runs waiting, in this order (made before the browser starts: see test_browser.alice)."""
    return unqueued_run(alice), unqueued_run(alice)


ROWS = """() => Array.from(document.querySelectorAll("#queue-table tbody tr")).map((row) => [
  Number(row.dataset.run), row.querySelector("[data-queue-position]").textContent.trim(),
  row.querySelector(".badge").textContent.trim()])"""


def test_it_reorders_the_queue_and_says_live_when_a_run_ends(idle_asgi_server, two_queued, browser_page):
    from playwright.sync_api import expect

    first, second = two_queued
    page = browser_page
    sign_in(page, idle_asgi_server, "en")
    page.click("nav >> text=Queue")
    expect(page).to_have_title("Queue · cld")
    assert page.evaluate(ROWS) == [[first.pk, "1", "Queued"], [second.pk, "2", "Queued"]]
    expect(page.locator(f"#queue-run-{first.pk} [data-move=up]")).to_be_disabled()  # no run of alice's before it

    page.focus(f"#queue-run-{second.pk} [data-move=up]")  # from the keyboard: a plain form's button
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_have_text(f"Run #{second.pk} moved up: it now starts before run #{first.pk}.")
    assert page.evaluate(ROWS) == [[second.pk, "1", "Queued"], [first.pk, "2", "Queued"]]
    assert page.url.endswith(f"/runs/queue/#queue-run-{second.pk}")

    # The run that is now first ends as a worker ends it; the page was following alice's runs before that.
    expect(page.locator("html")).to_have_attribute("data-owner-runs", "live")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    def finish() -> None:
        jobs.record_result(Run.objects.get(pk=second.pk), {"status": "done", "device": "cpu"})
        WebReporter(second.pk).send_status()

    as_the_worker(finish)
    toast = page.locator("#run-toasts [role=status]")
    expect(toast).to_contain_text(f"Run #{second.pk} is done.")
    expect(page).to_have_title(f"✓ Run #{second.pk} done · cld")
    expect(page.locator(f"#queue-run-{second.pk} .badge")).to_have_text("Done")
    expect(page.locator(f"#queue-run-{first.pk} [data-queue-position]")).to_have_text("1")  # moved up, live
    expect(page.locator(f"#queue-run-{second.pk} [data-move]")).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument === true")

    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)
    expect(page).to_have_title("Queue · cld")

    # On the run's own page, in Chinese: run.js reloads the page when the run ends, and the notice outlives it.
    page.goto(f"{idle_asgi_server}/runs/{first.pk}/")
    with page.expect_navigation():
        page.select_option("#language", "zh-hans")
    expect(page.locator("html")).to_have_attribute("data-owner-runs", "live")

    def fail() -> None:
        jobs.mark_failed(Run.objects.get(pk=first.pk), "internal", "The worker crashed.")
        WebReporter(first.pk).send_status()

    page.evaluate("() => { window.__sameDocument = true; }")
    as_the_worker(fail)
    page.wait_for_function("() => !window.__sameDocument && document.readyState === 'complete'")  # run.js reloaded
    expect(page.locator("#status-badge .badge")).to_have_text("失败")
    expect(toast.locator(".toast-text")).to_have_text(f"任务 #{first.pk} 失败了。")
    expect(page).to_have_title(f"✗ 任务 #{first.pk} 失败 · cld")
    assert not page.console_errors, page.console_errors

"""Two finished runs compared in Debian's chromium: ticked on the runs list, both runs' curves drawn (markers
counted per trace in the drawing), the x-axis switched to epochs and redrawn, the loss put on a log axis, the
differing setting highlighted and the others hidden on request; both pages without sideways scrolling at 390 px."""
from __future__ import annotations

import pytest

from cldweb.models import MetricPoint, Run
from tests.cldweb.test_browser import (alice, browser_marks, browser_page, drawn, isolated_storage,  # noqa: F401
                                       sign_in, unqueued_run, wait_until_drawn)
from tests.report_results import finished_result

pytestmark = browser_marks


def _finished(owner, *, name: str, epochs: int, steps_per_epoch: int, student: int) -> Run:
    """A done run with a result and the points its run page would draw: a loss every 10 steps, a dev accuracy
    every epoch (stored as the WebReporter stores them, no model trained)."""
    run = unqueued_run(owner, Run.Status.DONE, rows=10_000)
    run.name, run.result = name, finished_result(student=student)
    run.config = {"train": {"epochs": epochs, "mode": "soft"}, "data": {"max_length": 64}}
    run.save()
    seq = 0
    for epoch in range(1, epochs + 1):
        for step in range((epoch - 1) * steps_per_epoch + 10, epoch * steps_per_epoch + 1, 10):
            seq += 1
            MetricPoint.objects.create(run=run, seq=seq, phase="student", kind="step", step=step,
                                       values={"step": step, "epoch": step / steps_per_epoch, "loss": 1.0 / step})
        seq += 1
        MetricPoint.objects.create(run=run, seq=seq, phase="student", kind="eval", step=epoch * steps_per_epoch,
                                   values={"epoch": float(epoch), "dev_accuracy": 0.6 + 0.05 * epoch})
    return run


@pytest.fixture
def two_finished_runs(alice) -> tuple[Run, Run]:
    # Created before the browser starts: Playwright's event loop in this thread refuses ORM calls.
    return (_finished(alice, name="two epochs", epochs=2, steps_per_epoch=20, student=880),
            _finished(alice, name="three epochs", epochs=3, steps_per_epoch=30, student=850))


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_it_compares_two_finished_runs_curves_scores_and_settings(asgi_server, two_finished_runs, browser_page):
    from playwright.sync_api import expect

    short, long = two_finished_runs
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.click("nav >> text=Runs")
    page.check(f"#compare-{short.pk}")
    page.check(f"#compare-{long.pk}")
    page.click("#compare-button")
    page.wait_for_url("**/runs/compare/?ids=*")

    # Both runs drawn, each in its own trace: 4 and 9 losses (every 10 steps), 2 and 3 dev evaluations.
    loss = wait_until_drawn(page, "#compare-loss-chart", "d.points === 13", timeout=20_000)
    assert dict(zip(loss["legend"], loss["markers"])) == {short.name: 4, long.name: 9}
    accuracy = wait_until_drawn(page, "#compare-accuracy-chart", "d.points === 5", timeout=10_000)
    assert dict(zip(accuracy["legend"], accuracy["markers"])) == {short.name: 2, long.name: 3}
    assert loss["xTitle"] == "Step within the stage" and loss["xMax"] == 90

    page.select_option("#compare-x", "epoch")
    loss = wait_until_drawn(page, "#compare-loss-chart", "d.xTitle === 'Epoch'", timeout=10_000)
    assert loss["xMax"] == 3 and sorted(loss["markers"]) == [4, 9]  # redrawn against epochs, every point kept
    accuracy = wait_until_drawn(page, "#compare-accuracy-chart", "d.xTitle === 'Epoch'", timeout=10_000)
    assert accuracy["xMax"] == 3 and sorted(accuracy["markers"]) == [2, 3]

    page.check("#compare-log")
    page.wait_for_function("() => document.querySelector('#compare-loss-chart')._fullLayout.yaxis.type === 'log'")
    assert drawn(page, "#compare-loss-chart")["points"] == 13

    # The best student in bold; the setting that differs marked and highlighted, the same ones not.
    expect(page.locator("#compare-metrics td.best")).to_have_text(["88.0% (best)", "0.880 (best)"])  # accuracy, macro-F1
    differs = page.locator('#compare-settings tr[data-key="train.epochs"]')
    same = page.locator('#compare-settings tr[data-key="data.max_length"]')
    expect(differs).to_have_class("differs")
    expect(differs.locator("th")).to_contain_text("differs")
    background = "(el) => getComputedStyle(el.querySelector('td')).backgroundColor"
    assert differs.evaluate(background) == "rgb(255, 247, 230)"  # --warn-bg
    assert same.evaluate(background) != differs.evaluate(background)
    page.check("#only-differences")
    expect(same).to_be_hidden()
    expect(differs).to_be_visible()
    assert "only_differences=1" in page.url  # a reload shows the same
    assert not page.console_errors, page.console_errors

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    wait_until_drawn(page, "#compare-loss-chart", "d.points === 13", timeout=20_000)
    assert _no_sideways_scroll(page)
    page.goto(f"{asgi_server}/runs/")
    expect(page.locator("#run-table")).to_be_visible()
    assert _no_sideways_scroll(page)

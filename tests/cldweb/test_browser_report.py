"""The evaluation report in Debian's chromium: the confusion matrices are drawn (cells counted in the
drawing, not in the arrays handed to Plotly) with label names on the axes, and the report downloads
as one HTML file that holds the verdict and draws its heatmaps offline."""
from __future__ import annotations

from pathlib import Path

import pytest

from cldweb.models import Run
from cldweb.reporting import WebReporter
from tests.cldweb.test_browser import (alice, as_the_worker, browser_marks, browser_page, isolated_storage,  # noqa: F401
                                       sign_in, unqueued_run, wait_until_drawn)
from tests.report_results import LABELS, finished_result

pytestmark = browser_marks

# Per heatmap, read from the drawing: the cell labels Plotly wrote (one per cell), whether the heatmap
# image was painted, and the tick labels it laid out on each axis.
HEATMAP_DRAWN = """(selector) => {
  const el = document.querySelector(selector);
  if (!el || !el._fullLayout) return null;
  const layer = el.querySelector(".heatmaplayer");
  return {
    cellTexts: layer ? Array.from(layer.querySelectorAll("text")).map((t) => t.textContent) : [],
    painted: layer ? layer.querySelectorAll("image").length : 0,
    xTicks: Array.from(el.querySelectorAll(".xtick text")).map((t) => t.textContent),
    yTicks: Array.from(el.querySelectorAll(".ytick text")).map((t) => t.textContent),
    xTitle: (el.querySelector(".xtitle") || {}).textContent || "",
  };
}"""


@pytest.fixture
def finished_run(alice) -> Run:
    run = unqueued_run(alice, Run.Status.DONE, rows=10_000)
    run.result = finished_result(teacher=900, student=850, baseline=860, classical=800)  # does not beat the baseline
    run.save()
    return run


def _heatmap(page, selector: str) -> dict:
    page.wait_for_function(f"() => {{ const d = ({HEATMAP_DRAWN})('{selector}'); return d && d.painted > 0; }}",
                           timeout=20_000)
    return page.evaluate(HEATMAP_DRAWN, selector)


def test_it_draws_a_confusion_matrix_per_model_with_label_names_and_downloads_the_report(
        asgi_server, finished_run, browser_page, tmp_path: Path) -> None:
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{finished_run.pk}/")

    for key in ("teacher", "student", "baseline", "classical", "majority"):
        drawn = _heatmap(page, f"#confusion-{key}")
        assert drawn["painted"] == 1, (key, drawn)
        assert sorted(drawn["cellTexts"]) == sorted(
            str(n) for row in finished_run.result["metrics"][key]["confusion"] for n in row), (key, drawn)
        assert drawn["xTicks"] == LABELS and sorted(drawn["yTicks"]) == sorted(LABELS), (key, drawn)  # names, not 0/1
        assert drawn["xTitle"] == "Predicted"
    warning = page.locator("#report-verdict .report-warning").first
    assert warning.inner_text().startswith("The distilled student is not better than the same student")

    with page.expect_download() as download_info:
        page.click("#report-download")
    download = download_info.value
    assert download.suggested_filename == f"cld-run-{finished_run.pk}-report.html"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    html = saved.read_text(encoding="utf-8")
    assert "The distilled student is not better than the same student trained without the teacher" in html

    # The file alone, opened from disk with the network cut: Plotly is inside it, the heatmaps draw.
    page.context.set_offline(True)
    page.goto(saved.as_uri())
    drawn = _heatmap(page, "#confusion-student")
    assert drawn["xTicks"] == LABELS and drawn["painted"] == 1
    assert "The distilled student is not better" in page.inner_text("#report-verdict")
    assert not page.console_errors, page.console_errors


@pytest.fixture
def distilling_run(alice) -> Run:
    """A run whose student has just finished distilling, before its baseline starts."""
    return unqueued_run(alice, Run.Status.DISTILLING, rows=1_000,
                        progress={"stage": "distilling", "done": 10, "total": 10, "eta_s": 0.0})


def test_the_baseline_curve_is_drawn_live_as_the_student_on_labels_only(asgi_server, distilling_run,
                                                                        browser_page) -> None:
    from playwright.sync_api import expect

    run = distilling_run
    reporters: list[WebReporter] = []
    as_the_worker(lambda: reporters.append(WebReporter(run.pk)))
    reporter = reporters[0]

    def distil() -> None:
        for step in (5, 10):
            reporter.on_step("student", {"step": step, "epoch": step / 10, "loss": 0.1 / step})
        reporter.flush()

    as_the_worker(distil)
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{run.pk}/")
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 2", timeout=10_000)
    assert loss["legend"] == ["Student distillation"]  # no baseline points yet: no third trace

    def baseline() -> None:
        reporter.on_stage("baseline", {"device": "cpu"})
        for step in (5, 10, 15):
            reporter.on_step("baseline", {"step": step, "epoch": step / 10, "loss": 0.7 / step})
        reporter.on_eval("baseline", {"step": 15, "epoch": 1.5, "dev_accuracy": 0.6, "dev_loss": 0.7})
        reporter.flush()
        reporter.on_progress("baseline", {"done": 15, "total": 40, "eta_s": 30.0})

    as_the_worker(baseline)
    expect(page.locator("#run-progress-text")).to_have_text(
        "Training the student on labels only: 15 of 40 steps, less than a minute left")
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 5", timeout=10_000)
    assert sorted(loss["markers"]) == [2, 3] and loss["legend"] == ["Student distillation", "Student on labels only"]
    assert loss["traceAxes"] == ["y", "y2", "y"]  # teacher (empty), student on its own axis, the baseline beside the teacher
    # Each axis is named for every curve drawn on it: the baseline's loss is not "the teacher's".
    assert loss["yTitles"] == ["Loss on the labels (cross-entropy)", "Distillation loss"]
    accuracy = wait_until_drawn(page, "#accuracy-chart", "d.points === 1", timeout=10_000)
    assert accuracy["legend"] == ["Student on labels only"]
    assert not page.console_errors, page.console_errors


@pytest.fixture
def labels_only_run(alice) -> Run:
    """A run that is itself the no-distillation baseline (mode "hard"), its student training."""
    run = unqueued_run(alice, Run.Status.DISTILLING, rows=1_000)
    run.config = {"train": {"mode": "hard"}}
    run.save()
    return run


def test_a_labels_only_runs_student_shares_the_axis_of_the_loss_on_the_labels(asgi_server, labels_only_run,
                                                                                browser_page) -> None:
    run = labels_only_run
    reporters: list[WebReporter] = []
    as_the_worker(lambda: reporters.append(WebReporter(run.pk)))

    def train() -> None:
        for step in (5, 10, 15):
            reporters[0].on_step("student", {"step": step, "epoch": step / 10, "loss": 0.7 / step})
        reporters[0].flush()

    as_the_worker(train)
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{run.pk}/")
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 3", timeout=10_000)

    assert loss["legend"] == ["Student on labels only"]
    # No distillation loss anywhere: one axis, named for what this student minimises.
    assert loss["yTitles"] == ["Loss on the labels (cross-entropy)"] and set(loss["traceAxes"]) == {"y"}
    assert not page.console_errors, page.console_errors

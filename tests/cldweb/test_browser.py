"""A person's path through the pages, in Debian's chromium driven by Playwright,
against the real ASGI server and a real Celery worker: sign in, upload, map
columns, start a run, watch the charts fill live, reload mid-run and see the
whole history again, read the results, download the student. Also: the teacher
labelling progress line, as stored and as the worker pushes it, and each stage's
curve and step progress as the worker pushes them.

Chart assertions read the drawing (SVG markers, legend, Plotly's laid-out axis),
never the arrays handed to Plotly: those grew while the drawing stayed frozen."""
from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from cldweb import jobs
from cldweb.models import DEMO_TEACHER_NAME, Corpus, MetricPoint, Run, Teacher
from cldweb.reporting import WebReporter
from tests.processes import write_review_sample


CHROMIUM = shutil.which("chromium")
browser_marks = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./cld test installs it)"),
]
pytestmark = browser_marks

PASSWORD = "a long browser password"
RUN_TIMEOUT_MS = 420_000

# What a chart shows, read from the drawing, not from the arrays handed to Plotly (those can
# grow while the SVG stays as it was): per trace, in trace order (0 = teacher fine-tuning,
# 1 = student distillation), the markers drawn; the legend entries; the x-axis title and the
# range Plotly laid out.
CHART_DRAWN = """(selector) => {
  const el = document.querySelector(selector);
  if (!el || !el._fullLayout) return null;
  const traces = Array.from(el.querySelectorAll(".scatterlayer .trace"));
  const markers = traces.map((trace) => trace.querySelectorAll(".points path").length);
  return {
    markers: markers,
    points: markers.reduce((n, count) => n + count, 0),
    legend: Array.from(el.querySelectorAll(".legend .legendtext")).map((text) => text.textContent),
    xTitle: (el.querySelector(".xtitle") || {}).textContent || "",
    // The y-axis titles drawn (left, then right when the chart has a second axis).
    yTitles: Array.from(el.querySelectorAll(".ytitle, .y2title")).map((title) => title.textContent),
    // The y-axis each trace was laid out on ("y" or "y2").
    traceAxes: (el._fullData || []).map((trace) => trace.yaxis),
    xRange: el._fullLayout.xaxis.range.map(Number),
    // The largest step among the points Plotly computed for drawing (its calcdata).
    xMax: Math.max(-Infinity, ...(el.calcdata || []).flat().map((p) => p.x).filter(Number.isFinite)),
  };
}"""


def drawn(page, selector: str) -> dict:
    return page.evaluate(CHART_DRAWN, selector)


def wait_until_drawn(page, selector: str, condition: str, timeout: float) -> dict:
    """Wait until ``condition`` (a JS expression over ``d``, the CHART_DRAWN result) holds in the open page."""
    page.wait_for_function(f"() => {{ const d = ({CHART_DRAWN})('{selector}'); return d && ({condition}); }}",
                           timeout=timeout)
    return drawn(page, selector)


def wait_for_growth_without_reload(page, selector: str, timeout: float) -> tuple[dict, dict]:
    """Wait until the chart shows more markers than now, in this same document (a reload would
    redraw the history from the page, which says nothing about live drawing); returns before, after."""
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads
    before = drawn(page, selector)
    page.wait_for_function(
        f"() => !window.__sameDocument || ({CHART_DRAWN})('{selector}').points > {before['points']}",
        timeout=timeout)
    assert page.evaluate("() => window.__sameDocument === true"), f"the page reloaded before {selector} grew"
    return before, drawn(page, selector)


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


def unqueued_run(owner, status: str = Run.Status.QUEUED, progress: dict | None = None, rows: int = 100) -> Run:
    """A run in ``status`` that no worker takes (it is never enqueued), so only the test moves it."""
    corpus = Corpus.objects.create(owner=owner, name="评论", original_filename="评论.csv", file="uploads/none.csv",
                                   format="csv", encoding="utf-8", columns=["text", "label"], text_column="text",
                                   label_column="label", row_count=rows)
    teacher = Teacher.objects.get(owner=None, kind=Teacher.KIND_DEMO)
    if status == Run.Status.QUEUED:
        return Run.objects.create(owner=owner, corpus=corpus, teacher=teacher)
    return Run.objects.create(owner=owner, corpus=corpus, teacher=teacher, status=status, heartbeat_at=timezone.now(),
                              started_at=timezone.now(), device="cpu", progress=progress or {})


@pytest.fixture
def labelling_run(alice) -> Run:
    """A run a worker is labelling, 12,345 of 100,000 texts in."""
    return unqueued_run(alice, Run.Status.LABELLING, rows=100_000,
                        progress={"stage": "labelling", "done": 12_345, "total": 100_000, "eta_s": 180.0})


@pytest.fixture
def finetuning_run(alice) -> Run:
    """A run whose teacher is being fine-tuned, 40 of 300 steps in."""
    return unqueued_run(alice, Run.Status.FINETUNING_TEACHER, rows=12_000,
                        progress={"stage": "finetuning_teacher", "done": 40, "total": 300, "eta_s": 130.0})


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
    run_id = int(run_url.rstrip("/").rsplit("/", 1)[1])

    # Live: points arrive over the WebSocket while the worker trains and are drawn at once, on
    # both charts, in the page opened when the run started; the x-axis follows the newest step.
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads
    page.wait_for_function(f"() => !window.__sameDocument || ({CHART_DRAWN})('#loss-chart').points >= 1",
                           timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("() => window.__sameDocument === true"), "no point was drawn before the run ended"
    loss_before, loss_live = wait_for_growth_without_reload(page, "#loss-chart", timeout=RUN_TIMEOUT_MS)
    assert loss_live["xRange"][1] >= loss_live["xMax"] and loss_live["points"] > loss_before["points"]
    assert loss_live["legend"][0] == "Teacher fine-tuning"  # the demo teacher is fine-tuned first
    wait_until_drawn(page, "#accuracy-chart", "d.points >= 1", timeout=RUN_TIMEOUT_MS)
    _, accuracy_live = wait_for_growth_without_reload(page, "#accuracy-chart", timeout=RUN_TIMEOUT_MS)
    assert accuracy_live["xRange"][1] >= accuracy_live["xMax"]
    page.screenshot(path=str(tmp_path / "run-live.png"), full_page=True)

    # Closing and reopening the page redraws the whole history, then continues live.
    drawn_before_reload = {chart: drawn(page, chart)["points"] for chart in ("#loss-chart", "#accuracy-chart")}
    page.goto(asgi_server + "/")
    page.goto(run_url)
    for chart, count in drawn_before_reload.items():
        wait_until_drawn(page, chart, f"d.points >= {count}", timeout=60_000)

    # The page reloads itself when the run ends and shows the comparison.
    page.wait_for_selector("text=Download the student (zip)", timeout=RUN_TIMEOUT_MS)
    results = page.inner_text("main")
    assert "Test accuracy" in results and "Parameters" in results
    # Every stored point is drawn, under its stage's name, and the last step of each chart is in view.
    stored: dict[tuple[str, str], list[int]] = {}

    def read_points() -> None:
        for point in MetricPoint.objects.filter(run_id=run_id):
            value = point.values.get("loss" if point.kind == MetricPoint.KIND_STEP else "dev_accuracy")
            if value is not None:
                stored.setdefault((point.kind, point.phase), []).append(point.step)

    as_the_worker(read_points)
    # The form trains the labels-only baseline by default: its curve is the third.
    for chart, kind in (("#loss-chart", MetricPoint.KIND_STEP), ("#accuracy-chart", MetricPoint.KIND_EVAL)):
        final = drawn(page, chart)
        teacher, student, baseline = (stored[(kind, phase)] for phase in ("teacher", "student", "baseline"))
        # Plotly draws the traces of each y-axis together (the loss chart's student has its own axis),
        # so the drawn groups are compared without their order; the legend keeps the trace order.
        assert sorted(final["markers"]) == sorted([len(teacher), len(student), len(baseline)]), (chart, final, stored)
        assert final["legend"] == ["Teacher fine-tuning", "Student distillation", "Student on labels only"]
        assert final["xTitle"] == "Step within the stage"
        steps = teacher + student + baseline
        assert final["xRange"][0] <= min(steps) and final["xRange"][1] >= max(steps)
    assert len(stored[(MetricPoint.KIND_EVAL, "student")]) >= 1
    assert page.locator("#report-quality tr[data-model=baseline]").count() == 1  # the report compares with it
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
        jobs.mark_failed(Run.objects.get(pk=labelling_run.pk), "internal", "The worker crashed.")
        WebReporter(labelling_run.pk).send_status()

    as_the_worker(fail)
    expect(page.locator("p.error[role=alert]")).to_be_visible()
    expect(page.locator("#run-progress")).to_be_hidden()
    assert not page.console_errors, page.console_errors


def test_it_draws_each_stages_points_live_under_its_stage_name_with_progress_in_steps(asgi_server, finetuning_run,
                                                                                     browser_page, tmp_path):
    """The worker's points, pushed as WebReporter pushes them, appear on the open page's charts at once."""
    from playwright.sync_api import expect

    page = browser_page
    reporters: list[WebReporter] = []
    # One reporter for the whole test, as the worker keeps one per run; created in the worker's thread
    # (it reads the next seq from the database).
    as_the_worker(lambda: reporters.append(WebReporter(finetuning_run.pk)))
    reporter = reporters[0]

    def teacher_steps(steps: range) -> None:
        for step in steps:
            reporter.on_step("teacher", {"step": step, "epoch": step / 100, "loss": 2.0 / step})
        reporter.flush()

    as_the_worker(lambda: teacher_steps(range(10, 41, 10)))  # history: in the page when it opens
    sign_in(page, asgi_server, "zh-hans")
    page.goto(f"{asgi_server}/runs/{finetuning_run.pk}/")
    text = page.locator("#run-progress-text")
    bar = page.locator("#run-progress-bar")
    expect(text).to_have_text("微调教师模型：40 / 300 步，约剩 2 分钟")  # steps, not texts
    expect(bar).to_have_js_property("value", 40)
    expect(bar).to_have_js_property("max", 300)
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 4", timeout=10_000)
    assert loss["markers"][0] == 4 and loss["legend"] == ["教师模型微调"]  # no student points: no student entry
    assert loss["xTitle"] == "本阶段步数" and loss["xRange"][1] >= 40
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if anything below reloads the page

    # Live: more fine-tuning steps and the epoch's dev evaluation, without a reload.
    def teacher_epoch_end() -> None:
        teacher_steps(range(50, 101, 10))
        reporter.on_eval("teacher", {"step": 100, "epoch": 1, "dev_accuracy": 0.61, "dev_loss": 0.7})
        reporter.flush()
        reporter.on_progress("finetuning_teacher", {"done": 100, "total": 300, "eta_s": 45.0})

    as_the_worker(teacher_epoch_end)
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 10", timeout=10_000)
    assert loss["markers"][0] == 10 and loss["xRange"][0] <= 10 and loss["xRange"][1] >= 100
    accuracy = wait_until_drawn(page, "#accuracy-chart", "d.points === 1", timeout=10_000)
    assert accuracy["legend"] == ["教师模型微调"] and accuracy["xRange"][1] >= 100
    expect(text).to_have_text("微调教师模型：100 / 300 步，剩余不到 1 分钟")
    expect(bar).to_have_js_property("value", 100)

    # The next stage: the student's curve joins under its own name, its steps counted from its start.
    def distil() -> None:
        reporter.on_stage("distilling", {"device": "cpu"})
        for step in (5, 10, 15):
            reporter.on_step("student", {"step": step, "epoch": step / 50, "loss": 1.0 / step})
        reporter.on_eval("student", {"step": 15, "epoch": 0.3, "dev_accuracy": 0.55, "dev_loss": 0.8})
        reporter.flush()
        reporter.on_progress("distilling", {"done": 15, "total": 200, "eta_s": 200.0})

    as_the_worker(distil)
    expect(text).to_have_text("蒸馏学生模型：15 / 200 步，约剩 3 分钟")
    expect(bar).to_have_js_property("value", 15)
    expect(bar).to_have_js_property("max", 200)
    loss = wait_until_drawn(page, "#loss-chart", "d.points === 13", timeout=10_000)
    assert loss["markers"] == [10, 3] and loss["legend"] == ["教师模型微调", "学生模型蒸馏"]
    assert loss["xRange"][1] >= 100  # both stages' last steps are in view
    # Each kind of loss on its own axis, named for it: the student's is not flattened by the teacher's.
    assert loss["yTitles"] == ["在标签上的损失（交叉熵）", "蒸馏损失"] and loss["traceAxes"] == ["y", "y2"]
    accuracy = wait_until_drawn(page, "#accuracy-chart", "d.points === 2", timeout=10_000)
    assert accuracy["markers"] == [1, 1] and accuracy["legend"] == ["教师模型微调", "学生模型蒸馏"]
    assert accuracy["yTitles"] == ["验证集准确率"]  # accuracies share one 0-100% axis
    assert page.evaluate("() => window.__sameDocument === true")  # all of it live, in the page first opened
    page.screenshot(path=str(tmp_path / "stages.png"), full_page=True)

    # The run form says the teacher trains first, and for how long.
    page.goto(f"{asgi_server}/runs/new/")
    expect(page.locator("#teacher-finetune-note")).to_contain_text("微调 3 轮")
    page.screenshot(path=str(tmp_path / "run-form.png"), full_page=True)
    assert not page.console_errors, page.console_errors

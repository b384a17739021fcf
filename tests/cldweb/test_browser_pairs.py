"""Text pairs walked as a user, in Debian's chromium against the real ASGI server: upload a pair CSV, pick
the second text's column, read "Text pairs" on the corpus page, find growing greyed out on the run form,
read both texts of a disagreement on a trained pair run's page, and type two texts into the playground
to get the student's label back. Everything is read as text from the rendered pages."""
from __future__ import annotations

import re

import pytest

import distill
from bench.inews_pairs import inews_pairs, write_pairs
from cldweb.models import Run, Teacher
from tests.cldweb.test_api_runs import train_tiny_run
from tests.cldweb.test_browser import alice, browser_marks, browser_page, sign_in  # noqa: F401 (fixtures)
from tests.cldweb.test_pair_run import pair_corpus

pytestmark = browser_marks

PAIR = ("国足备战世界杯预选赛", "中国男足今天在广州集结，备战下月的世界杯预选赛。")


@pytest.fixture(autouse=True)
def isolated_storage():
    """Server and test share one data folder (see test_e2e_spine.py)."""


@pytest.fixture
def trained_pair_run(alice, tmp_path) -> Run:  # noqa: F811 (the fixture imported above)
    """A real tiny pair run of alice's, trained before the browser starts (Playwright's event loop keeps the
    ORM out of this thread), in the folders the server reads."""
    teacher = Teacher.objects.get(owner=None, kind=Teacher.KIND_DEMO)
    return train_tiny_run(alice, pair_corpus(alice, tmp_path), teacher)


def test_it_walks_a_user_through_text_pairs_from_upload_to_the_playground(trained_pair_run, asgi_server,  # noqa: F811
                                                                         browser_page, tmp_path):
    disagreement = trained_pair_run.result["disagreements"][0]
    student = distill.load_student(trained_pair_run.export_path)
    probabilities = student.probabilities([distill.join_pair(*PAIR)])[0]  # (C,)
    label = student.labels[int(probabilities.argmax())]
    upload = write_pairs(inews_pairs("dev", content_chars=40, limit=40), tmp_path / "新闻配对.csv")
    page = browser_page
    sign_in(page, asgi_server, "en")

    page.goto(asgi_server + "/corpora/upload/")
    page.set_input_files("input[type=file]", str(upload))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/preview/")
    page.select_option("select[name=text_column]", "title")
    page.select_option("select[name=label_column]", "label")
    page.select_option("select[name=text_pair_column]", "content")
    page.click("button[name=continue]")
    page.wait_for_url(re.compile(r"/corpora/\d+/$"))
    assert page.inner_text("#corpus-kind") == "Text pairs: each row's “title” and “content” are one pair with one label"
    assert "runs on this corpus do not use it" in page.inner_text("#unlabeled-texts")

    page.click("text=Start a run")
    page.wait_for_url("**/runs/new/?corpus=*")
    assert "holds text pairs (“title” and “content”)" in page.inner_text("#pair-corpora")
    assert page.is_disabled("input[name=grow][value=light]") and page.is_checked("input[name=grow][value=off]")
    assert page.is_visible("#grow-pair-note")

    page.goto(f"{asgi_server}/runs/{trained_pair_run.pk}/")
    assert page.inner_text("#run-task") == "Text pairs: “title” and “content”"
    first_cell = page.inner_text("#report-disagreements tbody tr:first-child td.text")
    assert first_cell == f"{disagreement['text']}\n‖ {disagreement['text_pair']}"

    page.fill("#playground-text", PAIR[0])
    page.fill("#playground-text-pair", PAIR[1])
    page.click("#playground-form button[type=submit]")
    page.wait_for_selector("#playground-rows tr")
    cells = page.eval_on_selector_all("#playground-rows tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
    assert len(cells) == 1
    assert cells[0][0] == f"{PAIR[0]}\n‖ {PAIR[1]}"
    assert cells[0][2].split("\n")[0] == f"{label} {probabilities.max() * 100:.1f}%"
    assert "\x1f" not in page.content()
    assert not page.console_errors, page.console_errors
    page.screenshot(path=str(tmp_path / "pairs.png"), full_page=True)

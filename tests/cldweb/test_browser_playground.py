"""The playground on the run page, in Debian's chromium against the real ASGI server: two Chinese
sentences pasted, both models' labels, probabilities and times read back as text from the page,
and they are the run's own teacher's and student's."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

import distill
from cldweb.models import Corpus, Run, Teacher
from tests.cldweb.conftest import SPLITTABLE_REVIEWS_CSV
from tests.cldweb.test_api_runs import train_tiny_run
from tests.cldweb.test_browser import alice, browser_marks, browser_page, sign_in  # noqa: F401 (fixtures)

pytestmark = browser_marks

SENTENCES = ["这家酒店很好，服务周到。", "质量太差了，再也不买。"]


@pytest.fixture(autouse=True)
def isolated_storage():
    """Server and test share one data folder (see test_e2e_spine.py)."""


@pytest.fixture
def trained_run(alice) -> Run:  # noqa: F811 (the fixture imported above)
    """A real tiny run of alice's, trained in this process before the browser starts (Playwright's
    event loop would keep the ORM out of this thread), in the folders the server reads."""
    upload = SimpleUploadedFile("评论.csv", SPLITTABLE_REVIEWS_CSV.encode("utf-8"), content_type="text/csv")
    corpus = Corpus.create_from_upload(owner=alice, upload=upload, name="评论")
    teacher = Teacher.objects.get(owner=None, kind=Teacher.KIND_DEMO)
    return train_tiny_run(alice, corpus, teacher)


def expected_cells(predictor) -> list[str]:
    """What a cell reads for each sentence: the label and its probability, then the runner-up."""
    cells = []
    for row in predictor.probabilities(SENTENCES):
        ranked = sorted(zip(predictor.labels, row), key=lambda item: -item[1])
        cells.append("\n".join(f"{label} {probability * 100:.1f}%" for label, probability in ranked))
    return cells


def test_it_labels_pasted_sentences_with_both_models_and_their_times(trained_run, asgi_server, browser_page,  # noqa: F811
                                                                    tmp_path):
    teacher_cells = expected_cells(distill.load_run_teacher(trained_run.output_dir))
    student_cells = expected_cells(distill.load_student(trained_run.export_path))
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/{trained_run.pk}/")
    assert page.inner_text("#playground h2") == "Try the teacher and the student"

    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the form posted the old way
    page.fill("#playground-text", "\n".join(SENTENCES))
    page.click("#playground-form button[type=submit]")
    page.wait_for_selector("#playground-rows tr:nth-child(2)", timeout=60_000)

    assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded: JavaScript did not post"
    rows = page.eval_on_selector_all("#playground-rows tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
    assert [row[0] for row in rows] == SENTENCES
    assert [row[1] for row in rows] == teacher_cells
    assert [row[2] for row in rows] == student_cells
    time_line = page.inner_text("#playground-time")
    assert time_line.startswith("2 texts, one batch. Time on the server: teacher ") and " ms, student " in time_line
    assert page.is_hidden("#playground-teacher-missing") and page.is_hidden("#playground-error")
    assert not page.console_errors, page.console_errors
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)

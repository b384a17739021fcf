"""Named entities walked as a user, in Debian's chromium against the real ASGI server: upload People's Daily
sentences as JSON Lines, say at column mapping that they hold named entities, read the entities per type on the
corpus page and the run form's note, read a trained tagging run's entity F1 and highlighted worst sentence, and
type a sentence into the playground to see the student's entities marked; and the run form greying out what a
named-entity corpus cannot have once one is chosen. Read as text from the rendered pages."""
from __future__ import annotations

import re

import pytest

import distill
from django.core.files.uploadedfile import SimpleUploadedFile

from cldweb.models import Corpus, Run, Teacher
from tests.cldweb.test_api_runs import train_tiny_run
from tests.cldweb.test_browser import alice, browser_marks, browser_page, review_csv, sign_in  # noqa: F401 (fixtures)
from tests.cldweb.test_tagging_run import SENTENCE, tagging_corpus, write_entities

pytestmark = browser_marks


@pytest.fixture(autouse=True)
def isolated_storage():
    """Server and test share one data folder (see test_e2e_spine.py)."""


@pytest.fixture
def trained_tagging_run(alice, tmp_path) -> Run:  # noqa: F811 (the fixture imported above)
    """A real tiny tagging run of alice's, trained before the browser starts, in the folders the server reads."""
    teacher = Teacher.objects.get(owner=None, kind=Teacher.KIND_DEMO)
    return train_tiny_run(alice, tagging_corpus(alice, tmp_path), teacher, batch_size=16, learning_rate=1e-2,
                          epochs=2)


def test_it_walks_a_user_through_named_entities_from_upload_to_the_playground(trained_tagging_run, asgi_server,  # noqa: F811
                                                                             browser_page, tmp_path):
    student = trained_tagging_run.result["metrics"]["student"]
    expected = distill.load_student(trained_tagging_run.export_path).entities([SENTENCE])[0]
    (tmp_path / "upload").mkdir()
    upload = write_entities(tmp_path / "upload" / "人民日报.jsonl", sentences=80)
    page = browser_page
    sign_in(page, asgi_server, "en")

    page.goto(asgi_server + "/corpora/upload/")
    page.set_input_files("input[type=file]", str(upload))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/preview/")
    page.select_option("select[name=task]", "tagging")
    page.select_option("select[name=text_column]", "text")
    page.select_option("select[name=label_column]", "entities")
    page.click("button[name=continue]")
    page.wait_for_url(re.compile(r"/corpora/\d+/$"))
    assert page.inner_text("#corpus-kind") == "Named entities: each sentence in “text” with its entities"
    types = page.eval_on_selector_all("#entity-counts tbody tr td:first-child", "cells => cells.map(c => c.innerText)")
    assert set(types) <= {"LOC", "ORG", "PER"} and types

    page.click("text=Start a run")
    page.wait_for_url("**/runs/new/?corpus=*")
    assert "holds named entities" in page.inner_text("#tagging-corpora")

    page.goto(f"{asgi_server}/runs/{trained_tagging_run.pk}/")
    assert page.inner_text("#run-task") == "Named entities in “text”"
    overall = page.inner_text('#report-entities tr[data-model="student"][data-type=""]')
    assert f"All entities\t{student['precision'] * 100:.1f}%\t{student['recall'] * 100:.1f}%\t{student['f1'] * 100:.1f}%" in overall
    assert page.locator("#report-worst-sentences mark.entity").count() > 0
    assert page.locator(".confusion-chart").count() == 0

    page.fill("#playground-text", SENTENCE)
    page.click("#playground-form button[type=submit]")
    page.wait_for_selector("#playground-results")
    marked = page.eval_on_selector_all("#playground-results mark.entity", "marks => marks.map(m => m.innerText)")
    assert marked == [f"{entity['text']}{entity['label']}" for entity in expected]
    shown, at = "", 0  # the sentence as read, each entity's type right after it
    for entity in expected:
        shown += SENTENCE[at:entity["start"]] + entity["text"] + entity["label"]
        at = entity["end"]
    assert page.inner_text("#playground-results p.tagged") == shown + SENTENCE[at:]
    assert not page.console_errors, page.console_errors
    page.screenshot(path=str(tmp_path / "tagging.png"), full_page=True)


@pytest.fixture
def reviews_and_entities(alice, review_csv, tmp_path) -> tuple[Corpus, Corpus]:  # noqa: F811
    """A corpus of labelled reviews and one of named entities, alice's, made before the browser starts."""
    reviews = Corpus.create_from_upload(owner=alice, upload=SimpleUploadedFile("评论.csv", review_csv.read_bytes()),
                                        name="评论")
    return reviews, tagging_corpus(alice, tmp_path)


def test_it_greys_out_textcnn_and_growing_with_their_reasons_once_a_named_entity_corpus_is_chosen(  # noqa: F811
        reviews_and_entities, asgi_server, browser_page):
    reviews, entities = reviews_and_entities
    page = browser_page
    sign_in(page, asgi_server, "en")
    page.goto(f"{asgi_server}/runs/new/?corpus={reviews.pk}")
    textcnn = "select[name=student_architecture] option[value=textcnn]"

    def disabled(selector: str) -> bool:
        return page.eval_on_selector(selector, "element => element.disabled")

    assert page.input_value("select[name=student_architecture]") == "textcnn"  # the form's default student
    assert not disabled(textcnn) and not page.is_visible("#student-tagging-note")
    page.check("input[name=grow][value=light]")

    page.select_option("select[name=corpus]", str(entities.pk))

    assert disabled(textcnn) and page.input_value("select[name=student_architecture]") == "bilstm"
    assert not disabled("select[name=student_architecture] option[value=bigru]")
    assert page.inner_text("#student-tagging-note") == ("TextCNN gives one answer per text, so it cannot tag named "
                                                        "entities: choose another student for a named-entity corpus.")
    assert page.is_disabled("input[name=grow][value=light]") and page.is_disabled("input[name=grow][value=heavy]")
    assert page.is_checked("input[name=grow][value=off]")
    assert page.inner_text("#grow-tagging-note") == ("Growing the training set makes variants of single texts; it is "
                                                     "not offered for a named-entity corpus.")
    assert not page.is_visible("#grow-pair-note")

    page.select_option("select[name=corpus]", str(reviews.pk))

    assert not disabled(textcnn) and not page.is_disabled("input[name=grow][value=light]")
    assert not page.is_visible("#student-tagging-note") and not page.is_visible("#grow-tagging-note")
    assert not page.console_errors, page.console_errors

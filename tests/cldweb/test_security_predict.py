"""POST /runs/<id>/predict/: the run's exported student labels texts, for its owner only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from cldweb import jobs
from cldweb import playground
from cldweb.models import Run

pytestmark = pytest.mark.django_db

LABELS = ["neg", "pos"]


def export_tiny_student(directory) -> str:
    """A real (untrained) BiLSTM student exported the way the pipeline exports it."""
    import torch

    from distill import export, students
    from distill.config import StudentConfig
    from distill.tokens.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.build(["这家店的服务很好", "质量太差了"])
    torch.manual_seed(0)
    model = students.build_student(StudentConfig(architecture="bilstm", embedding_dim=8, hidden_size=8, num_layers=1),
                                   tokenizer.vocab_size, len(LABELS))
    return str(export.export_student(model, tokenizer, LABELS, directory / "student", directory / "student.zip",
                                     max_length=32).zip_path)


@pytest.fixture
def done_run(run, tmp_path) -> Run:
    (tmp_path / "student").mkdir()
    jobs.record_result(run, {"status": "done", "export_path": export_tiny_student(tmp_path), "device": "cpu"})
    return run


def predict_url(run) -> str:
    return reverse("run-predict", args=[run.pk])


def test_it_labels_json_texts_with_probabilities(owner_client, done_run):
    response = owner_client.post(predict_url(done_run), {"texts": ["服务很好", "太差了"]}, content_type="application/json")

    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["text"] for p in predictions] == ["服务很好", "太差了"]
    for prediction in predictions:
        assert prediction["label"] in LABELS
        assert set(prediction["probabilities"]) == set(LABELS)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction["probability"] == max(prediction["probabilities"].values())


def test_it_agrees_with_the_exported_predictor(owner_client, done_run):
    from distill.export import load_exported

    expected = load_exported(done_run.export_path).predict(["服务很好"])

    prediction = owner_client.post(predict_url(done_run), {"text": "服务很好"},
                                   content_type="application/json").json()["predictions"][0]

    assert (prediction["label"], prediction["probability"]) == (expected[0][0], pytest.approx(expected[0][1], abs=1e-5))


def test_it_answers_the_form_on_the_run_page_with_a_page(owner_client, done_run):
    page = owner_client.get(reverse("run-detail", args=[done_run.pk])).content.decode()
    assert "Try the teacher and the student" in page and f'action="{predict_url(done_run)}"' in page

    response = owner_client.post(predict_url(done_run), {"text": "服务很好\n\n太差了\n"})

    assert response.status_code == 200
    rows = response.context["playground"]["rows"]
    assert [row["text"] for row in rows] == ["服务很好", "太差了"]
    body = response.content.decode()
    for row in rows:
        teacher, student = row["cells"]
        assert teacher is None  # this run left no record of its teacher: the student answers alone
        assert student["label"] in LABELS and f"{student['label']}</strong> <span class=\"playground-probability\">{student['probability']}" in body
    assert "No teacher predictions: this run left no record of its teacher." in body


def test_it_loads_each_student_once_per_process(owner_client, done_run):
    playground.students.clear()

    for _ in range(3):
        owner_client.post(predict_url(done_run), {"text": "很好"}, content_type="application/json")

    assert len(playground.students.entries) == 1
    first = next(iter(playground.students.entries.values()))
    owner_client.post(predict_url(done_run), {"text": "很好"}, content_type="application/json")
    assert next(iter(playground.students.entries.values())) is first


def test_it_evicts_the_least_recently_used_student(settings, tmp_path):
    settings.CLD_PREDICTOR_CACHE_SIZE = 2
    playground.students.clear()
    paths = []
    for index in range(3):
        folder = tmp_path / f"export-{index}"
        (folder / "student").mkdir(parents=True)
        paths.append(export_tiny_student(folder))

    for path in paths:
        playground.cached_predictor(Path(path))

    assert [key[0] for key in playground.students.entries] == paths[1:]


@pytest.mark.parametrize(("payload", "expected"), [
    ({"texts": []}, "Enter at least one text."),
    ({"texts": "   "}, "Enter at least one text."),
    ({"texts": [1, 2]}, "must be a list of strings"),
    ({"texts": ["好"] * 101}, "At most 100 texts per request; you sent 101."),
])
def test_it_refuses_bad_requests_with_a_reason(owner_client, done_run, payload, expected):
    response = owner_client.post(predict_url(done_run), payload, content_type="application/json")

    assert response.status_code == 400
    assert expected in response.json()["error"]["message"]


def test_it_refuses_texts_over_the_length_limit(owner_client, done_run, settings):
    settings.CLD_MAX_TEXT_CHARS = 5

    response = owner_client.post(predict_url(done_run), {"texts": ["好", "太长了太长了"]}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "text_too_long",
                                        "message": "Text 2 has 6 characters, more than the limit of 5."}


def test_it_says_when_the_run_has_no_student_yet(owner_client, run):
    response = owner_client.post(predict_url(run), {"text": "很好"}, content_type="application/json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_student"
    assert "no trained student yet" in response.json()["error"]["message"]


def test_it_refuses_invalid_json(owner_client, done_run):
    response = owner_client.generic("POST", predict_url(done_run), b"{oops", content_type="application/json")

    assert response.status_code == 400
    assert json.loads(response.content)["error"] == {"code": "body_not_json",
                                                     "message": "The request body is not valid JSON."}


def test_it_hides_another_users_run(other_client, done_run):
    response = other_client.post(predict_url(done_run), {"text": "很好"}, content_type="application/json")

    assert response.status_code == 404


def test_it_only_predicts_with_post(owner_client, done_run):
    browser = owner_client.get(predict_url(done_run))
    api = owner_client.get(predict_url(done_run), HTTP_ACCEPT="application/json")

    assert browser.status_code == 302 and browser["Location"] == f"/runs/{done_run.pk}/"  # nothing predicted
    assert api.status_code == 405 and api.json() == {
        "error": {"code": "method_not_allowed", "message": "Only POST is allowed here."}}

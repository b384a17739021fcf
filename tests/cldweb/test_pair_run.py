"""A text-pair run end to end on the web: trained for real through the Celery task on a few hundred synthetic
news pairs, its disagreements shown with both texts (never the engine's separator), its student asked about
two texts in the playground and the API, and requests of the wrong kind refused in words."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import distill
from bench.inews_pairs import inews_pairs, write_pairs
from cldweb import playground
from cldweb.models import Corpus, Run
from distill import join_pair
from tests.cldweb.test_api_runs import bearer, done_run, token, train_tiny_run, urls  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

SEPARATOR = "\x1f"  # distill.tasks.PAIR_SEPARATOR: inside the engine only
PAIRS = [("国足备战世界杯预选赛", "中国男足今天在广州集结，备战下月的世界杯预选赛。"),
         ("央行宣布降准", "周末的天气晴好，适合出门踏青。")]


def pair_corpus(owner, tmp_path, rows: int = 150) -> Corpus:
    """``rows`` news items as 2 x ``rows`` pairs (title, the opening 40 characters of a content), mapped as pairs."""
    path = write_pairs(inews_pairs("train", content_chars=40, limit=rows), tmp_path / "pairs.csv")
    corpus = Corpus.create_from_upload(owner=owner, upload=SimpleUploadedFile("新闻配对.csv", path.read_bytes()),
                                       name="新闻配对")
    corpus.analyse("title", "label", text_pair_column="content")
    corpus.save()
    assert corpus.is_usable, corpus.problem
    return corpus


@pytest.fixture
def pair_run(owner, demo_teacher, tmp_path) -> Run:
    """A BiLSTM (siamese here) pair run, trained in this process through the Celery task."""
    run = train_tiny_run(owner, pair_corpus(owner, tmp_path), demo_teacher)
    playground.teachers.clear()
    return run


@pytest.mark.slow
def test_it_trains_a_pair_run_through_the_celery_task_and_shows_both_texts_of_its_disagreements(owner_client,
                                                                                              pair_run):
    assert pair_run.config["data"]["task"] == "pair" and pair_run.task == "pair"
    rows = pair_run.result["disagreements"]
    assert rows and all(row["text"] and row["text_pair"] for row in rows)
    assert all(SEPARATOR not in row["text"] + row["text_pair"] for row in rows)

    page = owner_client.get(reverse("run-detail", args=[pair_run.pk])).content.decode()
    report = owner_client.get(reverse("run-report", args=[pair_run.pk]) + "?download=1").content.decode()

    for html in (page, report):
        assert SEPARATOR not in html
        assert "Dev text pair" in html and "Text pairs: “title” and “content”" in html
        first = rows[0]
        assert f'{first["text"]}<br><span class="pair-second">‖ {first["text_pair"]}</span>' in html
    assert 'id="playground-text-pair"' in page  # the playground asks for the second texts too
    chinese = owner_client.get(reverse("run-detail", args=[pair_run.pk]), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "开发集文本对" in chinese and "文本对：“title”和“content”" in chinese
    assert "第一段文本，每行一段" in chinese and "第二段文本，每行一段" in chinese
    assert distill.load_student(pair_run.export_path).model.config["task"] == "pair"


@pytest.mark.slow
def test_it_asks_a_pair_student_about_two_texts_in_the_playground_and_the_api(client, owner_client, pair_run,
                                                                            token):  # noqa: F811
    joined = [join_pair(first, second) for first, second in PAIRS]
    student = distill.load_student(pair_run.export_path)
    expected = student.probabilities(joined)  # (2, C)
    teacher = distill.load_run_teacher(pair_run.output_dir).probabilities(joined)  # (2, C)

    answer = client.post(urls(pair_run)["predict"] + "?teacher=1", {"texts": [a for a, _ in PAIRS],
                         "second_texts": [b for _, b in PAIRS]}, content_type="application/json",
                         **bearer(token)).json()

    predictions = answer["student"]["predictions"]
    assert [(row["text"], row["text_pair"]) for row in predictions] == PAIRS
    for row, probabilities in zip(predictions, expected):
        assert row["label"] == student.labels[int(probabilities.argmax())]
        assert np.allclose([row["probabilities"][label] for label in student.labels], probabilities, atol=1e-5)
    assert np.allclose([[row["probabilities"][label] for label in student.labels]
                        for row in answer["teacher"]["predictions"]], teacher, atol=1e-5)

    # The run page's form without JavaScript: two boxes, paired line by line.
    page = owner_client.post(reverse("run-predict", args=[pair_run.pk]), {
        "text": "\n".join(a for a, _ in PAIRS), "second_text": "\n".join(b for _, b in PAIRS)}).content.decode()
    label = student.labels[int(expected[0].argmax())]
    assert f'{PAIRS[0][0]}<br><span class="pair-second">‖ {PAIRS[0][1]}</span>' in page
    assert f'<strong class="playground-label">{label}</strong>' in page
    assert SEPARATOR not in page


@pytest.mark.slow
def test_it_refuses_single_texts_to_a_pair_student_and_uneven_pairs(client, pair_run, token):  # noqa: F811
    predict = urls(pair_run)["predict"]

    single = client.post(predict, {"texts": ["只有一段文本"]}, content_type="application/json", **bearer(token))
    uneven = client.post(predict, {"texts": ["标题一", "标题二"], "second_texts": ["正文一"]},
                         content_type="application/json", **bearer(token))

    assert single.status_code == 400 and single.json()["error"]["code"] == "second_texts_missing"
    assert "reads text pairs" in single.json()["error"]["message"]
    assert uneven.status_code == 400 and uneven.json()["error"]["code"] == "pairs_uneven"
    assert uneven.json()["error"]["message"] == "2 first texts but 1 second texts were sent; a pair needs one of each."


def test_it_refuses_pairs_to_a_single_text_student(client, done_run, token):  # noqa: F811
    refused = client.post(urls(done_run)["predict"], {"texts": ["标题"], "second_texts": ["正文"]},
                          content_type="application/json", **bearer(token))
    accepted = client.post(urls(done_run)["predict"], {"texts": ["标题"]}, content_type="application/json",
                           **bearer(token))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "pair_for_single_student"
    assert "reads one text at a time" in refused.json()["error"]["message"]
    assert accepted.status_code == 200 and "text_pair" not in accepted.json()["student"]["predictions"][0]
    # The engine's separator typed into a single text stays one text: it becomes a space, never a pair.
    smuggled = client.post(urls(done_run)["predict"], {"texts": ["标题\x1f正文"]}, content_type="application/json",
                           **bearer(token)).json()["student"]["predictions"][0]
    assert smuggled["text"] == "标题 正文" and "text_pair" not in smuggled


def test_it_starts_a_pair_run_from_the_api_with_the_task_of_its_corpus(client, owner, demo_teacher, tmp_path,
                                                                       token):  # noqa: F811
    corpus = pair_corpus(owner, tmp_path, rows=40)

    created = client.post(reverse("api-runs"), {"corpus": corpus.pk, "teacher": demo_teacher.pk, "epochs": 1},
                          content_type="application/json", **bearer(token))
    growing = client.post(reverse("api-runs"), {"corpus": corpus.pk, "teacher": demo_teacher.pk,
                                                "transfer": {"preset": "light"}},
                          content_type="application/json", **bearer(token))

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["task"] == "pair"
    assert (body["settings"]["data"]["task"], body["settings"]["data"]["text_pair_column"]) == ("pair", "content")
    run = client.get(body["urls"]["api"], **bearer(token)).json()
    assert run["task"] == "pair"
    listed = client.get(reverse("api-runs"), **bearer(token)).json()["runs"]
    assert [row["task"] for row in listed] == ["pair"]
    assert growing.status_code == 400
    assert growing.json()["error"]["fields"]["transfer.preset"] == [
        "Growing the training set makes variants of single texts; it is not offered for a text-pair corpus."]

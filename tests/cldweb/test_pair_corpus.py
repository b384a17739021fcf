"""A text-pair corpus on the web: the second text chosen at column mapping, rows without a second text
skipped and listed, the corpus page saying it holds pairs, and runs on it built for the engine's pair task
(no growing, no unlabelled file), with the engine's pair errors said in both languages."""
from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from bench.inews_pairs import inews_pairs, write_pairs
from cldweb.forms import CorpusColumnsForm, RunForm
from cldweb.messages import describe_error
from cldweb.models import Corpus, Run
from distill import ConfigError
from distill.config import RunConfig
from distill.pipeline import validate_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair_csv(tmp_path):
    """60 synthetic pairs (title, content opening, match | no_match), and two rows whose content is empty."""
    rows = inews_pairs("train", content_chars=40, limit=30)
    rows[7] = (rows[7][0], "", rows[7][2])
    rows[21] = (rows[21][0], "  ", rows[21][2])
    return write_pairs(rows, tmp_path / "新闻配对.csv"), rows


def upload(owner, path) -> Corpus:
    return Corpus.create_from_upload(owner=owner, upload=SimpleUploadedFile(path.name, path.read_bytes()),
                                     name="配对")


def map_pair_columns(client, corpus: Corpus, **fields: str):
    """The column form sent as a user sends it, "Use these columns" pressed."""
    data = {"text_column": "title", "label_column": "label", "text_pair_column": "content", "continue": "1",
            **fields}
    return client.post(reverse("corpus-preview", args=[corpus.pk]), data)


def test_it_makes_a_corpus_of_pairs_from_the_second_text_chosen_at_column_mapping(owner_client, owner, pair_csv):
    path, rows = pair_csv
    corpus = upload(owner, path)
    assert not corpus.is_pair  # an upload is single texts until a second text is chosen

    response = map_pair_columns(owner_client, corpus)

    assert response.status_code == 302 and response.url == reverse("corpus-detail", args=[corpus.pk])
    corpus.refresh_from_db()
    assert (corpus.text_column, corpus.text_pair_column, corpus.label_column) == ("title", "content", "label")
    assert corpus.row_count == len(rows) - 2  # the two rows without a second text are left out
    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    assert "Text pairs: each row's “title” and “content” are one pair with one label" in page
    assert "Second text column" in page
    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    assert '配对</a> <span class="badge">text pairs</span>' in dashboard


def test_it_lists_a_pair_without_its_second_text_as_a_skipped_row_naming_that_column(owner_client, owner, pair_csv):
    path, rows = pair_csv
    corpus = upload(owner, path)
    map_pair_columns(owner_client, corpus)
    corpus.refresh_from_db()

    assert corpus.skipped_rows["total"] == 2 and corpus.skipped_rows["by_reason"] == {"empty_text": 2}
    shown = corpus.skipped_shown
    assert [row["line"] for row in shown] == [9, 23]  # the header is line 1
    assert {row["problem"] for row in shown} == {"the “content” cell is empty"}
    assert shown[0]["text"].startswith(rows[7][0]) and "‖" in shown[0]["text"]  # the first text, then the empty side
    download = owner_client.get(reverse("corpus-skipped", args=[corpus.pk])).content.decode("utf-8-sig")
    listed = list(csv.reader(io.StringIO(download)))
    assert [row[0] for row in listed[1:]] == ["9", "23"]
    assert all("content" in row[1] for row in listed[1:])


def test_it_reads_the_corpus_as_single_texts_again_when_the_second_text_is_unset(owner_client, owner, pair_csv):
    path, rows = pair_csv
    corpus = upload(owner, path)
    map_pair_columns(owner_client, corpus)

    map_pair_columns(owner_client, corpus, text_pair_column="")

    corpus.refresh_from_db()
    assert not corpus.is_pair and corpus.row_count == len(rows) and not corpus.skipped_rows


def test_it_keeps_the_second_text_when_the_encoding_is_chosen_again(owner_client, owner, pair_csv):
    path, _rows = pair_csv
    corpus = upload(owner, path)
    map_pair_columns(owner_client, corpus)

    owner_client.post(reverse("corpus-encoding", args=[corpus.pk]), {"encoding": "utf-8"})

    corpus.refresh_from_db()
    assert corpus.text_pair_column == "content" and corpus.skipped_rows["total"] == 2


@pytest.mark.parametrize("second, error", [
    ("title", "The second text must be another column than the first text."),
    ("label", "The second text must be another column than the label."),
])
def test_it_refuses_a_second_text_column_that_is_already_used(owner, pair_csv, second, error):
    corpus = upload(owner, pair_csv[0])
    form = CorpusColumnsForm({"text_column": "title", "label_column": "label", "text_pair_column": second},
                             corpus=corpus)
    assert not form.is_valid()
    assert form.errors["text_pair_column"] == [error]


def test_it_shows_both_texts_of_a_pair_in_the_preview(owner_client, owner, pair_csv):
    path, rows = pair_csv
    corpus = upload(owner, path)
    map_pair_columns(owner_client, corpus)

    page = owner_client.get(reverse("corpus-preview", args=[corpus.pk])).content.decode()

    assert page.count('class="chosen"') == 2  # the title and content headers
    assert rows[0][0] in page and rows[0][1] in page
    assert '<option value="content" selected>content</option>' in page
    assert "(none: one text per row)" in page


def test_it_builds_a_pair_run_without_the_unlabelled_file(owner_client, owner, pair_csv, demo_teacher):
    corpus = upload(owner, pair_csv[0])
    map_pair_columns(owner_client, corpus)
    corpus.refresh_from_db()
    corpus.attach_unlabeled(SimpleUploadedFile("more.txt", "没有标签的一句话\n又一句\n".encode()))

    run = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, epochs=1)

    data = run.config["data"]
    assert (data["task"], data["text_column"], data["text_pair_column"]) == ("pair", "title", "content")
    assert data["unlabeled_path"] == ""
    validate_config(RunConfig.from_dict(run.config))  # the engine accepts what the web built
    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    assert "runs on this corpus do not use it" in page


def test_it_does_not_offer_growing_the_training_set_for_a_pair_corpus(owner_client, owner, pair_csv, demo_teacher):
    corpus = upload(owner, pair_csv[0])
    map_pair_columns(owner_client, corpus)
    corpus.refresh_from_db()
    data = {"corpus": corpus.pk, "teacher": demo_teacher.pk, "student_architecture": "bilstm", "mode": "soft",
            "epochs": 1, "max_length": 32, "baseline": "on"}

    refused = RunForm({**data, "grow": "light"}, user=owner)
    accepted = RunForm({**data, "grow": "off"}, user=owner)

    assert not refused.is_valid()
    assert refused.errors["grow"] == ["Growing the training set makes variants of single texts; it is not offered "
                                      "for a text-pair corpus."]
    assert accepted.is_valid(), accepted.errors
    page = owner_client.get(reverse("run-create") + f"?corpus={corpus.pk}").content.decode()
    assert "“配对” holds text pairs (“title” and “content”): growing the training set is not offered for it." in page
    assert "siamese" in page
    assert 'id="grow-pair-note">' in page  # shown, not hidden: the chosen corpus is a pair corpus


def test_it_still_builds_single_text_runs_for_a_corpus_without_a_second_text(owner_client, run):
    page = owner_client.get(reverse("corpus-detail", args=[run.corpus.pk])).content.decode()
    assert not run.corpus.is_pair and "Text pairs" not in page
    assert (run.config["data"]["task"], run.config["data"]["text_pair_column"]) == ("single", "")


@pytest.mark.parametrize("field, value, code", [
    ("unlabeled_path", "more.txt", "config_pair_unlabeled"),
    ("text_pair_column", "", "config_pair_column"),
])
def test_it_says_the_engines_pair_errors_in_both_languages(field, value, code):
    config = RunConfig()
    config.data.train_path, config.data.task, config.data.text_pair_column = "never-read.csv", "pair", "content"
    setattr(config.data, field, value)
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    assert refused.value.code == code
    with translation.override("en"):
        english = describe_error(code, refused.value.params, refused.value.message)
    with translation.override("zh-hans"):
        chinese = describe_error(code, refused.value.params, refused.value.message)
    assert english != refused.value.message and "pair" in english
    assert chinese not in (english, refused.value.message) and "文本对" in chinese


def test_it_says_why_a_pair_run_cannot_grow_the_training_set_in_both_languages():
    config = RunConfig()
    config.data.train_path, config.data.task, config.data.text_pair_column = "never-read.csv", "pair", "content"
    config.transfer.preset = "light"
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    assert refused.value.code == "config_transfer_task"
    with translation.override("en"):
        assert "not available for text pairs" in describe_error("config_transfer_task", refused.value.params, "x")
    with translation.override("zh-hans"):
        assert "文本对" in describe_error("config_transfer_task", refused.value.params, "x")


def test_it_says_what_a_pair_corpus_is_in_chinese(owner_client, owner, pair_csv, demo_teacher):
    corpus = upload(owner, pair_csv[0])
    map_pair_columns(owner_client, corpus)
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}

    detail = owner_client.get(reverse("corpus-detail", args=[corpus.pk]), **chinese).content.decode()
    preview = owner_client.get(reverse("corpus-preview", args=[corpus.pk]), **chinese).content.decode()
    form = owner_client.get(reverse("run-create") + f"?corpus={corpus.pk}", **chinese).content.decode()

    assert "文本对：每行的“title”和“content”组成一个文本对，带一个标签" in detail
    assert "此语料上的任务不会使用它" in detail
    assert "第二段文本（用于文本对）" in preview and "（无：每行一段文本）" in preview
    assert "“配对”是文本对语料（“title”和“content”）：不提供扩充训练集。" in form
    assert "孪生结构" in form and "文本对语料不提供此选项" in form

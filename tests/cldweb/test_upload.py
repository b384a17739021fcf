from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cldweb.models import Corpus

from .conftest import REVIEWS_CSV

pytestmark = pytest.mark.django_db


def upload(client, filename: str, content: bytes, **extra):
    return client.post(reverse("corpus-upload"), {"file": SimpleUploadedFile(filename, content), **extra})


def stored_files(settings) -> list:
    return [p for p in (settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_it_accepts_a_utf8_csv_and_shows_the_preview(owner_client, owner, settings):
    response = upload(owner_client, "reviews.csv", REVIEWS_CSV.encode("utf-8"), name="My reviews")

    corpus = Corpus.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("corpus-preview", args=[corpus.pk])
    assert (corpus.name, corpus.format, corpus.encoding) == ("My reviews", "csv", "utf-8")
    assert (corpus.text_column, corpus.label_column) == ("text", "label")
    assert corpus.row_count == 11
    assert corpus.label_counts == {"pos": 6, "neg": 5}
    assert corpus.report["duplicate_rows"] == 1
    # stored under a random name, never the user's
    assert corpus.file.name.startswith("uploads/") and "reviews" not in corpus.file.name
    assert corpus.original_filename == "reviews.csv"
    assert settings.CLD_SCRATCH_DIR.is_dir() and not list(settings.CLD_SCRATCH_DIR.iterdir())  # rows staged, then gone

    page = owner_client.get(response["Location"]).content.decode()
    assert "这家店的服务很好" in page
    assert "1 of 11 rows repeat an earlier text" in page
    assert 'name="text_column"' in page and 'name="label_column"' in page


def test_it_accepts_a_gbk_csv(owner_client, owner):
    response = upload(owner_client, "gbk.csv", REVIEWS_CSV.encode("gbk"))

    assert response.status_code == 302
    corpus = Corpus.objects.get(owner=owner)
    assert corpus.encoding == "gb18030"
    assert corpus.row_count == 11
    assert "这家店的服务很好" in owner_client.get(response["Location"]).content.decode()


def test_it_accepts_jsonl_with_its_own_column_names(owner_client, owner):
    rows = [{"review": f"第{i}条评论，内容{'很好' if i % 2 else '很差'}。", "sentiment": "pos" if i % 2 else "neg"}
            for i in range(20)]
    content = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode("utf-8")

    response = upload(owner_client, "reviews.jsonl", content)

    assert response.status_code == 302
    corpus = Corpus.objects.get(owner=owner)
    assert (corpus.format, corpus.text_column, corpus.label_column) == ("jsonl", "review", "sentiment")
    assert corpus.label_counts == {"neg": 10, "pos": 10}


def test_it_rejects_a_malformed_file_naming_the_line_and_keeps_nothing(owner_client, settings):
    content = "text,label\n很好,pos\n很差,neg\n\"没有结束的引号,pos\n".encode("utf-8")

    response = upload(owner_client, "broken.csv", content)

    assert response.status_code == 400
    page = response.content.decode()
    assert "broken.csv, line 4" in page
    assert "never closes" in page
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []
    assert not list(settings.CLD_SCRATCH_DIR.iterdir())


def test_it_rejects_a_row_with_too_many_cells(owner_client, settings):
    content = "text,label\n很好,pos\n很差,neg,extra\n".encode("utf-8")

    response = upload(owner_client, "cells.csv", content)

    assert "cells.csv, line 3: the row has 3 cells but the header has 2" in response.content.decode()
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_rejects_a_file_over_the_size_limit(owner_client, settings):
    settings.CLD_MAX_UPLOAD_BYTES = 100

    response = upload(owner_client, "big.csv", REVIEWS_CSV.encode("utf-8"))

    assert response.status_code == 413  # stopped by the upload handler while streaming
    assert "larger than the limit" in response.content.decode()
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_lets_the_user_choose_other_columns(owner_client, corpus):
    url = reverse("corpus-preview", args=[corpus.pk])

    response = owner_client.post(url, {"text_column": "text", "label_column": ""})

    assert response.status_code == 302
    corpus.refresh_from_db()
    assert corpus.label_column == ""
    assert corpus.labeled_count == 0
    assert not corpus.is_usable  # a run needs labels for the teacher
    assert "no row has a label" in owner_client.get(url).content.decode()

    response = owner_client.post(url, {"text_column": "text", "label_column": "label", "continue": "1"})
    assert response["Location"] == reverse("corpus-detail", args=[corpus.pk])
    corpus.refresh_from_db()
    assert corpus.is_usable and corpus.labeled_count == 13  # the corpus fixture: REVIEWS_CSV plus 2 rows


@pytest.mark.parametrize(("filename", "content", "expected"), [
    ("nul.csv", bytes(range(256)) * 8, "nul.csv, line 1: the file contains NUL bytes, so it is binary data"),
    ("high.csv", bytes(range(128, 256)) * 8, "high.csv, line 1: the file is neither UTF-8 nor GB18030 nor Big5 text"),
    ("empty.csv", b"", "empty.csv: the file is empty or has no rows"),
    ("blank.csv", b"\n\n  \n", "blank.csv: the file is empty or has no rows"),
    ("header.csv", "text,label\n".encode(), "header.csv: the file has a header but no rows"),
    ("utf16.csv", "text,label\n很好,pos\n".encode("utf-16"), "the file is UTF-16; save it as UTF-8"),
    ("rows.jsonl", '{"text": "很好", "label": "pos"}\n{"text": "很差", "label": \n'.encode(),
     "rows.jsonl, line 2: the line is not valid JSON"),
    ("list.jsonl", '{"text": "很好", "label": "pos"}\n["很差", "neg"]\n'.encode(), "list.jsonl, line 2: each line must be a JSON object"),
    ("array.json", '[{"text": "很好", "label": "pos"}]'.encode(), "save it as JSON Lines"),
    # one empty text in two rows is more than the share that may be skipped (tests/cldweb/test_messy_corpora.py)
    ("gaps.csv", "text,label\n很好,pos\n,neg\n".encode(),
     "gaps.csv, line 3: 1 of 2 rows (50.0%) cannot be used, more than the 5.0% that may be skipped"),
])
def test_it_rejects_malformed_corpora_with_a_clear_message_and_keeps_nothing(owner_client, settings, filename,
                                                                             content, expected):
    response = upload(owner_client, filename, content)

    assert response.status_code == 400
    assert expected in response.content.decode()
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_rejects_random_bytes_as_not_text(owner_client, settings):
    import random

    noise = random.Random(0).randbytes(4096)

    response = upload(owner_client, "noise.csv", noise)

    assert response.status_code == 400
    assert "noise.csv, line 3: the file contains NUL bytes" in response.content.decode()
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_rejects_a_text_over_the_length_limit_naming_the_line(owner_client, settings):
    settings.CLD_MAX_TEXT_CHARS = 10
    content = "text,label\n很好,pos\n这一条评论实在是太长太长了超过十个字,neg\n".encode()

    response = upload(owner_client, "long.csv", content)

    assert response.status_code == 400
    page = response.content.decode()
    assert "long.csv, line 3: 1 of 2 rows (50.0%) cannot be used" in page  # more than the share that may be skipped
    assert "(the text has 18 characters, more than the limit of 10)." in page
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_keeps_a_single_class_corpus_but_says_why_no_run_can_use_it(owner_client, owner):
    """By design (Corpus.analyse) a corpus that reads but has one class is kept, so another label column can be
    chosen on the preview page; it is marked unusable and the run form refuses it."""
    content = "text,label\n很好,pos\n不错,pos\n满意,pos\n".encode()

    response = upload(owner_client, "one.csv", content)

    corpus = Corpus.objects.get(owner=owner)
    assert response.status_code == 302 and not corpus.is_usable
    page = owner_client.get(response["Location"]).content.decode()
    assert "one.csv: every labeled row has the label “pos”; a classifier needs at least 2 classes" in page
    form = owner_client.post(reverse("run-create"), {"corpus": corpus.pk}).content.decode()
    assert "a classifier needs at least 2 classes" in form


def test_it_shows_only_the_sanitised_name_and_stores_under_a_random_one(owner_client, owner, settings):
    response = upload(owner_client, "..\\..\\evil\u202e\x07.csv", REVIEWS_CSV.encode())

    corpus = Corpus.objects.get(owner=owner)
    assert response.status_code == 302
    assert corpus.original_filename == "evil.csv"
    stored = stored_files(settings)
    assert [path.name for path in stored] == [Path(corpus.file.name).name]
    assert stored[0].parent == settings.MEDIA_ROOT / "uploads"
    assert "evil" not in stored[0].name

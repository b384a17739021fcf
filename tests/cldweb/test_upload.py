from __future__ import annotations

import json

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


def test_it_rejects_a_row_with_too_many_cells(owner_client, settings):
    content = "text,label\n很好,pos\n很差,neg,extra\n".encode("utf-8")

    response = upload(owner_client, "cells.csv", content)

    assert "cells.csv, line 3: the row has 3 cells but the header has 2" in response.content.decode()
    assert Corpus.objects.count() == 0
    assert stored_files(settings) == []


def test_it_rejects_a_file_over_the_size_limit(owner_client, settings):
    settings.CLD_MAX_UPLOAD_BYTES = 100

    response = upload(owner_client, "big.csv", REVIEWS_CSV.encode("utf-8"))

    assert response.status_code == 400
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
    assert corpus.is_usable and corpus.labeled_count == 11

"""A corpus too small for the default split to give dev and test a row: warned, and started only when asked."""
from __future__ import annotations

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cldweb.models import Corpus, Run
from tests.cldweb.conftest import REVIEWS_CSV

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_corpus(owner) -> Corpus:
    # 10 distinct texts, 5 per label: 10% of 5 rounds to 0, so dev and test get nothing.
    upload = SimpleUploadedFile("tiny.csv", REVIEWS_CSV.encode("utf-8"), content_type="text/csv")
    return Corpus.create_from_upload(owner=owner, upload=upload, name="Tiny")


def form(corpus, teacher, **extra) -> dict:
    return {"corpus": corpus.pk, "teacher": teacher.pk, "student_architecture": "bilstm", "mode": "soft",
            "epochs": 1, "max_length": 64, **extra}


WARNING = ("This corpus is too small to hold back rows for checking: dev gets 0 rows and test 0. Dev and test each "
           "take 10% of each label's distinct texts, so a label needs at least 6 distinct labelled texts to give "
           "each of them one row (your largest label has 5).")


def test_it_warns_on_the_run_form_and_refuses_without_confirmation(owner_client, tiny_corpus, demo_teacher):
    page = html.unescape(owner_client.get(reverse("run-create")).content.decode())
    assert "Tiny — too small for dev/test rows" in page
    assert WARNING in page

    response = owner_client.post(reverse("run-create"), form(tiny_corpus, demo_teacher))

    assert response.status_code == 200 and not Run.objects.exists()
    assert ("“Tiny” is too small for dev and test rows (see above): add rows to it, or tick this box to start "
            "without scores.") in response.content.decode()


def test_it_starts_a_tiny_corpus_once_the_user_confirms(owner_client, tiny_corpus, demo_teacher,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(reverse("run-create"), form(tiny_corpus, demo_teacher, start_without_scores="on"))

    assert response.status_code == 302 and Run.objects.get().corpus == tiny_corpus


def test_it_shows_the_warning_when_the_columns_are_mapped(owner_client, tiny_corpus, corpus):
    assert WARNING in html.unescape(owner_client.get(reverse("corpus-preview", args=[tiny_corpus.pk])).content.decode())
    assert "too small to hold back rows" not in owner_client.get(
        reverse("corpus-preview", args=[corpus.pk])).content.decode()

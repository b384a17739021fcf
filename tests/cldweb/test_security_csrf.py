"""Every form and POST endpoint refuses a request without a CSRF token (403), changing nothing."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from cldweb.models import ApiToken, Corpus, Run, Teacher

from .conftest import REVIEWS_CSV

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client(owner) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


def post_targets(run, corpus, token_row) -> list[tuple[str, dict]]:
    return [
        (reverse("corpus-upload"), {"file": SimpleUploadedFile("r.csv", REVIEWS_CSV.encode())}),
        (reverse("corpus-preview", args=[corpus.pk]), {"text_column": "text", "label_column": ""}),
        (reverse("teacher-upload"), {"file": SimpleUploadedFile("t.zip", b"PK\x05\x06" + b"\x00" * 18)}),
        (reverse("run-create"), {"corpus": corpus.pk, "teacher": run.teacher.pk, "student_architecture": "bilstm",
                                 "mode": "soft", "epochs": 1, "max_length": 32}),
        (reverse("run-cancel", args=[run.pk]), {}),
        (reverse("run-predict", args=[run.pk]), {"text": "很好"}),
        (reverse("tokens"), {"name": "sneaky"}),
        (reverse("token-revoke", args=[token_row.pk]), {}),
        (reverse("set_language"), {"language": "en"}),
        (reverse("logout"), {}),
    ]


def test_it_refuses_every_post_without_a_csrf_token(strict_client, owner, run, corpus):
    token_row, _token = ApiToken.issue(user=owner, name="kept")

    for url, data in post_targets(run, corpus, token_row):
        response = strict_client.post(url, data)
        assert response.status_code == 403, url

    run.refresh_from_db()
    corpus.refresh_from_db()
    token_row.refresh_from_db()
    assert run.status == Run.Status.QUEUED and not run.cancel_requested
    assert corpus.label_column == "label"
    assert Corpus.objects.count() == 1 and Run.objects.count() == 1
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("kept", None)]
    assert strict_client.get(reverse("dashboard")).status_code == 200  # still logged in


def test_it_accepts_a_post_with_the_token_from_the_page(strict_client, owner):
    strict_client.get(reverse("tokens"))
    csrf = strict_client.cookies["csrftoken"].value

    response = strict_client.post(reverse("tokens"), {"name": "ok", "csrfmiddlewaretoken": csrf})

    assert response.status_code == 302  # POST-redirect-GET
    assert ApiToken.objects.filter(user=owner, name="ok").exists()


def test_it_checks_csrf_on_uploads_although_their_handlers_are_installed_first(strict_client, owner, settings):
    strict_client.get(reverse("corpus-upload"))
    csrf = strict_client.cookies["csrftoken"].value

    response = strict_client.post(reverse("corpus-upload"), {
        "csrfmiddlewaretoken": csrf, "file": SimpleUploadedFile("r.csv", REVIEWS_CSV.encode())})

    assert response.status_code == 302
    assert Corpus.objects.filter(owner=owner).count() == 1

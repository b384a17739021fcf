from __future__ import annotations

import pytest
from django.urls import reverse

from cldweb import jobs
from cldweb.models import Run

pytestmark = pytest.mark.django_db


def finished_run_with_export(run, tmp_path) -> Run:
    export = tmp_path / "student.zip"
    export.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    jobs.record_result(run, {"status": "done", "export_path": str(export), "device": "cpu",
                   "teacher": {"dev_accuracy": 0.9, "parameters": 1000}, "student": {"dev_accuracy": 0.85}})
    return run


def test_it_shows_every_page_to_the_owner(owner_client, run, corpus):
    for url in (
        reverse("dashboard"),
        reverse("corpus-upload"),
        reverse("corpus-detail", args=[corpus.pk]),
        reverse("corpus-preview", args=[corpus.pk]),
        reverse("teachers"),
        reverse("run-create"),
        reverse("run-detail", args=[run.pk]),
    ):
        assert owner_client.get(url).status_code == 200, url


@pytest.mark.parametrize("name", ["run-detail", "run-download", "run-points"])
def test_it_hides_another_users_run(other_client, run, name):
    assert other_client.get(reverse(name, args=[run.pk])).status_code == 404


def test_it_refuses_to_cancel_another_users_run(other_client, run):
    assert other_client.post(reverse("run-cancel", args=[run.pk])).status_code == 404
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED and not run.cancel_requested


@pytest.mark.parametrize("name", ["corpus-detail", "corpus-preview"])
def test_it_hides_another_users_corpus(other_client, corpus, name):
    assert other_client.get(reverse(name, args=[corpus.pk])).status_code == 404


def test_it_hides_another_users_download_even_when_it_exists(other_client, run, tmp_path):
    finished_run_with_export(run, tmp_path)
    assert other_client.get(reverse("run-download", args=[run.pk])).status_code == 404


def test_it_streams_the_download_to_the_owner(owner_client, run, tmp_path):
    finished_run_with_export(run, tmp_path)

    response = owner_client.get(reverse("run-download", args=[run.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"cld-run-{run.pk}-student.zip" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"PK")


def test_it_shows_results_when_done(owner_client, run, tmp_path):
    finished_run_with_export(run, tmp_path)

    page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert "90.00%" in page and "85.00%" in page
    assert reverse("run-download", args=[run.pk]) in page


def test_it_lets_the_owner_cancel(owner_client, run):
    response = owner_client.post(reverse("run-cancel", args=[run.pk]))

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_it_only_cancels_with_post(owner_client, run):
    # A GET only asks to confirm (a prefetching browser or a crawler must not cancel anything).
    assert owner_client.get(reverse("run-cancel", args=[run.pk])).status_code == 200
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED and not run.cancel_requested


def test_it_serves_points_after_a_seq_as_json(owner_client, run):
    for seq in (1, 2, 3):
        run.points.create(seq=seq, phase="student", kind="step", step=seq * 10, values={"loss": 1.0 / seq})

    data = owner_client.get(reverse("run-points", args=[run.pk]), {"after": 1}).json()

    assert [p["seq"] for p in data["points"]] == [2, 3]
    assert data["status"]["status"] == "queued"


@pytest.mark.parametrize("name", ["dashboard", "corpus-upload", "teachers", "run-create"])
def test_it_sends_anonymous_visitors_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["run-detail", "run-download", "run-points", "corpus-detail"])
def test_it_sends_anonymous_visitors_to_log_in_for_objects(client, run, name):
    pk = run.corpus.pk if name.startswith("corpus") else run.pk
    response = client.get(reverse(name, args=[pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_logs_in_with_a_password(client, owner):
    from .conftest import PASSWORD

    response = client.post(reverse("login"), {"username": "owner", "password": PASSWORD})

    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_it_serves_plotly_from_the_installed_package_not_a_cdn(owner_client, run):
    page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert '<script src="/static/plotly/plotly.min.js">' in page
    assert "cdn" not in page.lower()

    response = owner_client.get("/static/plotly/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()


def test_it_refuses_to_predict_with_another_users_run(other_client, run, tmp_path):
    finished_run_with_export(run, tmp_path)

    for data, content_type in (({"text": "很好"}, "application/json"), ({"text": "很好"}, None)):
        kwargs = {"content_type": content_type} if content_type else {}
        assert other_client.post(reverse("run-predict", args=[run.pk]), data, **kwargs).status_code == 404


@pytest.mark.parametrize(("name", "method"), [
    ("run-detail", "get"), ("run-download", "get"), ("run-points", "get"), ("run-cancel", "post"),
    ("run-predict", "post"), ("corpus-detail", "get"), ("corpus-preview", "get"), ("corpus-preview", "post"),
])
def test_it_answers_404_for_ids_that_do_not_exist_or_are_not_yours(other_client, run, name, method):
    pk = run.corpus.pk if name.startswith("corpus") else run.pk
    for candidate in (pk, 999_999):
        assert getattr(other_client, method)(reverse(name, args=[candidate])).status_code == 404, (name, candidate)


@pytest.mark.parametrize(("name", "method"), [
    ("run-predict", "post"), ("run-cancel", "post"), ("tokens", "get"), ("teacher-upload", "post"),
])
def test_it_sends_anonymous_visitors_to_log_in_before_anything_else(client, run, name, method):
    args = [run.pk] if name.startswith("run-") else []
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_the_new_pages_to_the_owner(owner_client):
    for url in (reverse("tokens"), reverse("api-runs")):
        assert owner_client.get(url).status_code == 200, url

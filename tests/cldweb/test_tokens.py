"""API tokens: created on a page (shown once, stored as a hash), revocable, accepted as Bearer on JSON endpoints."""
from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from cldweb.models import ApiToken

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def token(owner) -> str:
    _row, token = ApiToken.issue(user=owner, name="script")
    return token


def test_it_shows_a_new_token_once_and_stores_only_its_hash(owner_client, owner):
    created = owner_client.post(reverse("tokens"), {"name": "labelling script"})
    response = owner_client.get(created["Location"])

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    shown = re.search(r'<code id="new-token">([^<]+)</code>', response.content.decode()).group(1)
    row = ApiToken.objects.get(user=owner)
    assert row.name == "labelling script"
    assert row.token_hash == hashlib.sha256(shown.encode()).hexdigest()
    assert shown not in str(list(ApiToken.objects.values()))  # never stored in clear

    page = owner_client.get(reverse("tokens")).content.decode()
    assert "labelling script" in page and row.hint in page
    assert shown not in page  # not shown again


def test_it_lists_the_runs_of_the_tokens_user(run, token, other_user):
    ApiToken.issue(user=other_user, name="theirs")

    response = Client().get(reverse("api-runs"), **bearer(token))

    assert response.status_code == 200
    runs = response.json()["runs"]
    assert [r["id"] for r in runs] == [run.pk]
    assert runs[0]["status"] == "queued"
    assert runs[0]["points_url"].endswith(reverse("run-points", args=[run.pk]))


def test_it_lists_nothing_of_other_users(run, other_user):
    _row, token = ApiToken.issue(user=other_user, name="theirs")

    assert Client().get(reverse("api-runs"), **bearer(token)).json() == {"runs": []}


def test_it_serves_points_to_a_token(run, token):
    run.points.create(seq=1, phase="student", kind="step", step=10, values={"loss": 1.0})

    response = Client().get(reverse("run-points", args=[run.pk]), **bearer(token))

    assert response.status_code == 200
    assert [p["seq"] for p in response.json()["points"]] == [1]


def test_it_hides_another_users_run_from_a_token(run, other_user):
    _row, token = ApiToken.issue(user=other_user, name="theirs")

    assert Client().get(reverse("run-points", args=[run.pk]), **bearer(token)).status_code == 404
    response = Client().post(reverse("run-predict", args=[run.pk]), {"text": "好"}, content_type="application/json",
                             **bearer(token))
    assert response.status_code == 404


def test_it_needs_no_csrf_token_with_a_bearer_token(run, token):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("run-predict", args=[run.pk]), {"text": "好"}, content_type="application/json",
                           **bearer(token))

    assert response.status_code == 409  # reached the view: this run has no student yet


def test_it_records_when_a_token_was_last_used(run, token, owner):
    assert ApiToken.objects.get(user=owner).last_used_at is None

    Client().get(reverse("api-runs"), **bearer(token))

    assert ApiToken.objects.get(user=owner).last_used_at is not None


def test_it_refuses_a_revoked_token_with_401(owner_client, owner, run, token):
    row = ApiToken.objects.get(user=owner)
    response = owner_client.post(reverse("token-revoke", args=[row.pk]))
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.is_revoked

    for response in (
        Client().get(reverse("api-runs"), **bearer(token)),
        Client().get(reverse("run-points", args=[run.pk]), **bearer(token)),
        Client().post(reverse("run-predict", args=[run.pk]), {"text": "好"}, content_type="application/json",
                      **bearer(token)),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "token_invalid"
        assert "revoked" in response.json()["error"]["message"]


@pytest.mark.parametrize("header", ["Bearer cld_not-a-real-token", "Bearer ", "Basic b3duZXI6cGFzcw==", "cld_x"])
def test_it_refuses_unknown_or_malformed_credentials_with_401(run, header):
    response = Client().get(reverse("api-runs"), HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_it_refuses_the_api_without_credentials_with_401(run):
    assert Client().get(reverse("api-runs")).status_code == 401


def test_it_lets_a_logged_in_browser_use_the_api(owner_client, run):
    assert [r["id"] for r in owner_client.get(reverse("api-runs")).json()["runs"]] == [run.pk]


def test_it_refuses_to_revoke_another_users_token(other_client, owner, token):
    row = ApiToken.objects.get(user=owner)

    assert other_client.post(reverse("token-revoke", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert not row.is_revoked


def test_it_only_revokes_with_post(owner_client, owner, token):
    row = ApiToken.objects.get(user=owner)

    response = owner_client.get(reverse("token-revoke", args=[row.pk]))

    assert response.status_code == 302 and response["Location"] == reverse("tokens")  # back to the page, not a 405
    row.refresh_from_db()
    assert not row.is_revoked


def test_it_sends_anonymous_visitors_of_the_tokens_page_to_log_in(client):
    response = client.get(reverse("tokens"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_does_not_accept_a_token_for_a_deactivated_user(owner, run, token):
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert Client().get(reverse("api-runs"), **bearer(token)).status_code == 401

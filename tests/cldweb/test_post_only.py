"""POST-only URLs opened by a browser (a language switch or a reload re-opens the page a form
answered on) lead back to the form's page in the chosen language, never to a blank 405."""
from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_keeps_the_user_on_the_run_page_when_the_language_changes_after_a_prediction(owner_client, run):
    predict_page = reverse("run-predict", args=[run.pk])

    response = owner_client.post(reverse("set_language"), {"language": "zh-hans", "next": predict_page}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("run-detail", args=[run.pk])
    assert f"任务 #{run.pk}" in response.content.decode()


@pytest.mark.parametrize("url_name, back_to", [
    ("corpus-encoding", "corpus-preview"),
    ("teacher-upload", "teachers"),
    ("teacher-add-hub", "teachers"),
])
def test_it_sends_a_browser_back_to_the_forms_page(owner_client, corpus, url_name, back_to):
    args = [corpus.pk] if url_name == "corpus-encoding" else []

    response = owner_client.get(reverse(url_name, args=args))

    assert response.status_code == 302 and response["Location"] == reverse(back_to, args=args)


def test_it_lets_another_users_run_stay_hidden_behind_the_redirect(other_client, run):
    response = other_client.get(reverse("run-predict", args=[run.pk]), follow=True)

    assert response.status_code == 404  # the run page it leads to answers as for a missing run

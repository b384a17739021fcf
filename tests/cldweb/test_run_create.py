"""Creating a run: the Celery message is sent only after the transaction commits."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse

from cldweb.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_queue(settings):
    """Send to a queue no worker listens to, then read it straight from Redis."""
    name = f"cld-test-{uuid.uuid4().hex[:12]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    yield name, client
    client.delete(name, f"_kombu.binding.{name}")
    client.close()


def test_it_enqueues_the_task_only_after_commit(owner_client, corpus, demo_teacher, private_queue,
                                                django_capture_on_commit_callbacks):
    queue, client = private_queue
    form = {"corpus": corpus.pk, "teacher": demo_teacher.pk, "student_architecture": "bilstm",
            "mode": "semi", "epochs": 3, "max_length": 96}

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("run-create"), form)
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    assert (run.status, run.config["train"]["mode"], run.config["train"]["epochs"]) == ("queued", "semi", 3)
    assert len(callbacks) == 1
    assert client.llen(queue) == 0  # nothing sent before the commit

    callbacks[0]()

    run.refresh_from_db()
    assert run.celery_task_id
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["id"]) for m in messages] == [("cldweb.run_distillation", run.celery_task_id)]
    assert m_args(messages[0]) == [run.pk]


def m_args(message: dict) -> list:
    import base64

    body = json.loads(base64.b64decode(message["body"]))
    return body[0]


def test_it_rejects_a_corpus_of_another_user(other_client, corpus, demo_teacher):
    response = other_client.post(reverse("run-create"), {
        "corpus": corpus.pk, "teacher": demo_teacher.pk, "student_architecture": "bilstm",
        "mode": "soft", "epochs": 1, "max_length": 64})

    assert response.status_code == 200
    assert "corpus" in response.context["form"].errors
    assert not Run.objects.exists()


def test_it_says_not_pretrained_next_to_the_demo_teacher(owner_client, demo_teacher):
    page = owner_client.get(reverse("run-create")).content.decode()
    assert "not pretrained" in page
    page = owner_client.get(reverse("teachers")).content.decode()
    assert "not pretrained" in page


def test_the_baseline_box_is_ticked_by_default_and_unticking_it_switches_the_baseline_off(owner_client, corpus,
                                                                                          demo_teacher):
    page = owner_client.get(reverse("run-create")).content.decode()
    assert 'type="checkbox" name="baseline"' in page and re.search(r'name="baseline"[^>]*checked', page)
    form = {"corpus": corpus.pk, "teacher": demo_teacher.pk, "student_architecture": "bilstm", "mode": "soft",
            "epochs": 1, "max_length": 64}
    owner_client.post(reverse("run-create"), {**form, "baseline": "on"})
    owner_client.post(reverse("run-create"), form)  # a browser sends nothing for an unticked box
    ticked, unticked = Run.objects.order_by("pk")
    assert ticked.config["train"]["baseline"] is True and ticked.build_config().train.baseline is True
    assert unticked.config["train"]["baseline"] is False and unticked.build_config().train.baseline is False

"""A user adds any Hugging Face model id as a teacher; only they see it, and odd ids are refused."""
from __future__ import annotations

import pytest
from django.urls import reverse

from cldweb.forms import RunForm
from cldweb.models import Teacher


def test_it_adds_a_hub_model_the_owner_can_choose(owner_client, owner, other_user):
    response = owner_client.post(reverse("teacher-add-hub"), {"hub_id": "hfl/rbt3"})
    assert response.status_code == 302
    teacher = Teacher.objects.get(hub_id="hfl/rbt3")
    assert (teacher.owner, teacher.kind, teacher.teacher_config().name_or_path) == (owner, "hub", "hfl/rbt3")
    assert teacher in RunForm(user=owner).fields["teacher"].queryset
    assert teacher not in RunForm(user=other_user).fields["teacher"].queryset
    owner_client.post(reverse("teacher-add-hub"), {"hub_id": "hfl/rbt3"})
    assert Teacher.objects.filter(hub_id="hfl/rbt3").count() == 1


@pytest.mark.parametrize("hub_id", ["../etc/passwd", "/abs/path", "https://example.com/model", "a/b/c", "hfl/..", ""])
def test_it_refuses_ids_that_are_not_hub_model_names(owner_client, owner, hub_id):
    response = owner_client.post(reverse("teacher-add-hub"), {"hub_id": hub_id})
    assert response.status_code == 400
    assert not Teacher.objects.filter(owner=owner).exists()


def test_it_says_an_added_hub_model_cannot_be_used_yet_when_offline(owner_client, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub cannot be reached, as on this machine
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))

    page = owner_client.post(reverse("teacher-add-hub"), {"hub_id": "hfl/rbt3"}, follow=True).content.decode()

    assert "was added, but it cannot be used yet" in page and "cannot be reached" in page
    assert "choose it when you start a run" not in page  # no promise of a run that cannot start

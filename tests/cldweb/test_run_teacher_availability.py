"""The run form offers only teachers that can be loaded now, and the server refuses the others before queueing."""
from __future__ import annotations

import pytest
from django.urls import reverse

from cldweb.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def offline(monkeypatch):
    """The hub cannot be reached (as on this machine) and the local Hugging Face cache is empty."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # cldweb.lib.hub.hub_reachable honours it: no probe
    return monkeypatch


@pytest.fixture
def empty_hf_cache(offline, tmp_path):
    import huggingface_hub.constants

    cache = tmp_path / "hf-home" / "hub"
    cache.mkdir(parents=True)
    offline.setenv("HF_HOME", str(cache.parent))
    offline.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read at import; set for this test
    return cache


def run_form(corpus, teacher) -> dict:
    return {"corpus": corpus.pk, "teacher": teacher.pk, "student_architecture": "bilstm", "mode": "soft",
            "epochs": 1, "max_length": 64}


def test_it_refuses_a_hub_teacher_that_is_not_downloaded_before_queueing(owner_client, corpus, hub_teacher,
                                                                         empty_hf_cache):
    response = owner_client.post(reverse("run-create"), run_form(corpus, hub_teacher))

    assert response.status_code == 200
    errors = response.context["form"].errors["teacher"]
    assert errors == ["“bert-base-chinese” is not downloaded on this server and the Hugging Face hub cannot be "
                      "reached. Upload it as a ZIP on the Teachers page, or ask an administrator to import a local copy."]
    assert errors[0] in response.content.decode()
    assert not Run.objects.exists()


def test_it_shows_an_unavailable_teacher_disabled_with_the_reason_and_a_link(owner_client, hub_teacher, demo_teacher,
                                                                            empty_hf_cache):
    page = owner_client.get(reverse("run-create")).content.decode()

    assert f'<option value="{hub_teacher.pk}" disabled>bert-base-chinese — cannot be loaded now</option>' in page
    assert f'<option value="{demo_teacher.pk}" selected>' in page  # the demo teacher stays offered
    assert "is not downloaded on this server and the Hugging Face hub cannot be reached" in page
    assert f'href="{reverse("teachers")}#upload-teacher"' in page


def save_tiny_bert_into_hub_cache(cache, hub_id: str) -> None:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from distill.teachers import build_vocab_tokenizer

    commit = "0" * 40
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    tokenizer = build_vocab_tokenizer(["这家店的服务很好", "质量太差了"], snapshot)
    config = BertConfig(vocab_size=len(tokenizer.get_vocab()), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(str(snapshot))


def test_it_offers_and_accepts_a_hub_teacher_found_in_the_local_cache(owner_client, corpus, hub_teacher,
                                                                     empty_hf_cache, django_capture_on_commit_callbacks):
    save_tiny_bert_into_hub_cache(empty_hf_cache, "bert-base-chinese")

    page = owner_client.get(reverse("run-create")).content.decode()
    assert f'<option value="{hub_teacher.pk}">bert-base-chinese</option>' in page
    assert "bert-base-chinese — cannot be loaded now" not in page
    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(reverse("run-create"), run_form(corpus, hub_teacher))

    run = Run.objects.get()
    assert response.status_code == 302 and run.teacher == hub_teacher

    # "Available" is true: the engine loads it from that cache without the network.
    from distill.config import TeacherConfig
    from distill.teachers import load_teacher

    loaded = load_teacher(TeacherConfig(name_or_path="bert-base-chinese", local_files_only=True), ["neg", "pos"])
    assert loaded.model.config.hidden_size == 32 and loaded.needs_finetune


def test_it_refuses_an_imported_teacher_whose_files_are_gone(owner_client, owner, corpus, tmp_path):
    from cldweb.models import Teacher

    teacher = Teacher.objects.create(owner=owner, name="Lost BERT", kind=Teacher.KIND_IMPORTED,
                                     path=str(tmp_path / "deleted"))

    response = owner_client.post(reverse("run-create"), run_form(corpus, teacher))

    assert response.context["form"].errors["teacher"] == [
        "The files of “Lost BERT” are missing from the server. Upload it again on the Teachers page."]
    assert not Run.objects.exists()

"""Uploading a teacher ZIP shows what was found in it (architecture, size, heads) before it is added or discarded."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from cldweb.models import Teacher
from tests.cldweb.test_security_teacher_upload import folder_files, upload, zip_bytes

pytestmark = pytest.mark.django_db

VOCAB = Path("/work/shared/data/bert-base-chinese-vocab.txt")


def tiny_bert(folder: Path, model_class: str) -> Path:
    """A 2-layer, hidden-32 BERT with the bert-base-chinese vocabulary (or a tiny one), saved with save_pretrained."""
    import torch
    import transformers
    from transformers import BertConfig, BertTokenizerFast

    folder.mkdir()
    # from_pretrained on a folder with vocab.txt: BertTokenizerFast(vocab_file=...) keeps only the 5 special
    # tokens in this transformers release.
    if VOCAB.is_file():
        (folder / "vocab.txt").write_bytes(VOCAB.read_bytes())
    else:
        (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "好", "差"]))
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(tokenizer.get_vocab()), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        id2label={0: "差评", 1: "好评"}, label2id={"差评": 0, "好评": 1})
    torch.manual_seed(0)
    getattr(transformers, model_class)(config).save_pretrained(str(folder))
    return folder


def facts(page: str) -> dict[str, str]:
    return {html.unescape(term): html.unescape(value).strip()
            for term, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page)}


def test_it_shows_a_masked_lm_checkpoint_before_adding_it(owner_client, tmp_path, settings):
    folder = tiny_bert(tmp_path / "mlm", "BertForMaskedLM")
    response = upload(owner_client, zip_bytes(folder_files(folder)), "mlm.zip", name="Tiny MLM")

    page = owner_client.get(response["Location"]).content.decode()
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(str(folder)).get_vocab())  # the tokenizer's own count
    shown = facts(page)
    assert shown["Architecture"] == "BertForMaskedLM"
    assert (shown["Layers"], shown["Hidden size"], shown["Vocabulary"]) == ("2", "32", f"{vocab:,} tokens")
    assert not VOCAB.is_file() or vocab == 21128  # bert-base-chinese's vocabulary
    assert (shown["Classification head"], shown["Masked-LM head"]) == ("no", "yes")
    size = (folder / "model.safetensors").stat().st_size / 1_048_576
    assert shown["Weights (safetensors)"] == f"{size:.1f} MB"
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()  # nothing added yet

    owner_client.post(response["Location"], {"accept": "1"})

    teacher = Teacher.objects.get(kind=Teacher.KIND_IMPORTED)
    assert teacher.name == "Tiny MLM" and (Path(teacher.path) / "model.safetensors").is_file()
    assert owner_client.get(response["Location"]).status_code == 404  # accepted once, then gone


def test_it_shows_a_classification_head_and_its_labels(owner_client, tmp_path):
    folder = tiny_bert(tmp_path / "cls", "BertForSequenceClassification")
    response = upload(owner_client, zip_bytes(folder_files(folder)), "cls.zip")

    shown = facts(owner_client.get(response["Location"]).content.decode())

    assert shown["Architecture"] == "BertForSequenceClassification"
    assert (shown["Classification head"], shown["Masked-LM head"]) == ("yes (差评, 好评)", "no")


def test_it_removes_the_files_when_discarded(owner_client, tmp_path, settings):
    folder = tiny_bert(tmp_path / "mlm", "BertForMaskedLM")
    response = upload(owner_client, zip_bytes(folder_files(folder)), "mlm.zip")
    assert list(Path(settings.CLD_TEACHERS_DIR).iterdir())

    done = owner_client.post(response["Location"], {"discard": "1"}, follow=True)

    assert "The upload “mlm.zip” was discarded and its files removed." in done.content.decode()
    assert list(Path(settings.CLD_TEACHERS_DIR).iterdir()) == []
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()


def test_it_hides_the_confirmation_from_other_users(owner_client, other_user, tmp_path):
    folder = tiny_bert(tmp_path / "mlm", "BertForMaskedLM")
    location = upload(owner_client, zip_bytes(folder_files(folder)), "mlm.zip")["Location"]
    outsider = Client()
    outsider.force_login(other_user)

    assert outsider.get(location).status_code == 404
    assert outsider.post(location, {"accept": "1"}).status_code == 404
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()


def test_it_explains_what_to_upload_with_an_example(owner_client):
    page = html.unescape(owner_client.get(reverse("teachers")).content.decode())

    assert "What to upload: one ZIP file of a model folder saved with the transformers library." in page
    assert '.save_pretrained("my-teacher", safe_serialization=True)' in page


def test_it_removes_uploads_left_unconfirmed_for_a_day(owner_client, tmp_path, settings):
    import os
    import time

    folder = tiny_bert(tmp_path / "mlm", "BertForMaskedLM")
    abandoned = upload(owner_client, zip_bytes(folder_files(folder)), "old.zip")["Location"]
    token = abandoned.rstrip("/").rsplit("/", 1)[-1]
    teachers_dir = Path(settings.CLD_TEACHERS_DIR)
    two_days_ago = time.time() - 2 * 86400
    os.utime(teachers_dir / f"{token}.pending.json", (two_days_ago, two_days_ago))

    fresh = upload(owner_client, zip_bytes(folder_files(folder)), "new.zip")["Location"]

    assert owner_client.get(abandoned).status_code == 404
    assert not (teachers_dir / token).exists()
    assert owner_client.get(fresh).status_code == 200

"""Teacher upload on the Teachers page: a ZIP of a save_pretrained folder, treated as hostile until checked."""
from __future__ import annotations

import io
import json
import pickle
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from cldweb.models import Teacher

pytestmark = pytest.mark.django_db

TEXTS = ["这家店的服务很好", "质量太差了", "物流很快", "客服态度恶劣"]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory) -> Path:
    """A tiny real BERT classifier (1 layer, hidden 32) saved with save_pretrained: safetensors + tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from distill.teachers import build_vocab_tokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = build_vocab_tokenizer(TEXTS, folder)
    config = BertConfig(vocab_size=len(tokenizer.get_vocab()), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, num_labels=2)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    return folder


def zip_bytes(files: dict[str, bytes], *, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, content)
    return buffer.getvalue()


def folder_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def upload(client, content: bytes, filename: str = "teacher.zip", name: str = ""):
    return client.post(reverse("teacher-upload"), {"file": SimpleUploadedFile(filename, content), "name": name})


def upload_and_accept(client, content: bytes, filename: str = "teacher.zip", name: str = ""):
    """Upload, then accept on the confirmation page: a teacher is only added once its owner has seen it."""
    response = upload(client, content, filename, name)
    assert response.status_code == 302 and response["Location"].startswith(reverse("teachers") + "upload/")
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    return client.post(response["Location"], {"accept": "1"})


def assert_refused(response, settings, expected: str) -> None:
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert list(Path(settings.CLD_TEACHERS_DIR).iterdir()) == []


class Payload:
    """Unpickling this would create ``marker``: the proof that a checkpoint was unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_it_accepts_a_tiny_bert_and_offers_it_only_to_its_owner(owner_client, owner, other_user, settings,
                                                                 bert_folder):
    response = upload_and_accept(owner_client, zip_bytes(folder_files(bert_folder)), "my-bert.zip", name="My BERT")

    assert response.status_code == 302 and response["Location"] == reverse("teachers")
    teacher = Teacher.objects.get(kind=Teacher.KIND_IMPORTED)
    assert (teacher.name, teacher.owner) == ("My BERT", owner)
    folder = Path(teacher.path)
    assert folder.parent == Path(settings.CLD_TEACHERS_DIR) and folder.name != "my-bert"
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {p.name for p in folder.iterdir()}
    assert "My BERT" in owner_client.get(reverse("teachers")).content.decode()

    # It loads as a teacher, with transformers, safetensors only.
    from distill.config import TeacherConfig
    from distill.teachers import load_teacher

    loaded = load_teacher(TeacherConfig(name_or_path=teacher.path, local_files_only=True), ["neg", "pos"])
    assert loaded.model.config.hidden_size == 32

    outsider = Client()
    outsider.force_login(other_user)
    assert "My BERT" not in outsider.get(reverse("teachers")).content.decode()
    assert "My BERT" not in outsider.get(reverse("run-create")).content.decode()


def test_it_accepts_a_zip_of_the_folder_itself_and_drops_pickles(owner_client, bert_folder):
    files = {**folder_files(bert_folder), "pytorch_model.bin": b"\x80\x04N."}

    response = upload_and_accept(owner_client, zip_bytes(files, prefix="tiny-bert/"), "tiny-bert.zip")

    assert response.status_code == 302
    teacher = Teacher.objects.get(kind=Teacher.KIND_IMPORTED)
    assert teacher.name == "tiny-bert"
    assert Path(teacher.path).name == "tiny-bert" and (Path(teacher.path) / "config.json").is_file()
    assert not (Path(teacher.path) / "pytorch_model.bin").exists()  # never loadable from here


def test_it_refuses_zip_slip(owner_client, settings, tmp_path):
    response = upload(owner_client, zip_bytes({"config.json": b"{}", "../../escaped.txt": b"gotcha"}))

    assert_refused(response, settings, "points outside the archive")
    assert not any(path.name == "escaped.txt" for path in tmp_path.rglob("*"))


def test_it_refuses_a_symbolic_link(owner_client, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("config.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    assert_refused(upload(owner_client, buffer.getvalue()), settings, "is a symbolic link")


def test_it_refuses_a_zip_bomb(owner_client, settings):
    settings.CLD_MAX_CHECKPOINT_UNPACKED_BYTES = 8 * 1024**2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.safetensors", "w") as member:
            zeros = b"\x00" * (1 << 20)
            for _ in range(64):  # 64 MB of zeros, about 64 KB compressed
                member.write(zeros)
    assert len(buffer.getvalue()) < 1024**2

    assert_refused(upload(owner_client, buffer.getvalue()), settings, "unpacks to more than 8 MB")


def test_it_refuses_too_many_members(owner_client, settings):
    settings.CLD_MAX_CHECKPOINT_MEMBERS = 5

    response = upload(owner_client, zip_bytes({f"file{i}.txt": b"x" for i in range(6)}))

    assert_refused(response, settings, "holds 6 entries; at most 5 are allowed")


def test_it_refuses_a_nested_archive(owner_client, settings, bert_folder):
    inner = zip_bytes(folder_files(bert_folder))

    response = upload(owner_client, zip_bytes({"config.json": b'{"model_type": "bert"}', "weights.zip": inner}))

    assert_refused(response, settings, "is an archive inside the archive")


def test_it_refuses_pickle_weights_without_ever_unpickling_them(owner_client, settings, tmp_path):
    marker = tmp_path / "unpickled-marker"
    payload = pickle.dumps(Payload(str(marker)))
    files = {"config.json": b'{"model_type": "bert"}', "vocab.txt": b"[PAD]\n[UNK]\n", "pytorch_model.bin": payload}

    response = upload(owner_client, zip_bytes(files))

    assert_refused(response, settings, "pickle weights")
    assert not marker.exists()
    # The payload is live: unpickling it really would have created the marker.
    pickle.loads(payload).close()
    assert marker.exists()


def test_it_refuses_a_config_that_asks_for_custom_code(owner_client, settings, bert_folder):
    config = json.loads((bert_folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    files = {**folder_files(bert_folder), "config.json": json.dumps(config).encode(),
             "modeling_evil.py": b"open('/tmp/cld-remote-code-ran', 'w')\n"}

    assert_refused(upload(owner_client, zip_bytes(files)), settings, "custom Python code (auto_map)")


@pytest.mark.parametrize(("content", "expected"), [
    (b"this is not a zip file", "teacher.zip: it is not a readable ZIP file"),
    (zip_bytes({"README.md": b"hello"}), "teacher.zip has no config.json"),
    (zip_bytes({"config.json": b'{"model_type": "bert"}', "vocab.txt": b"[PAD]\n"}), "has no model.safetensors"),
    (zip_bytes({"config.json": b'{"model_type": "bert"}', "vocab.txt": b"[PAD]\n", "model.safetensors": b"{}"}),
     "cannot be loaded"),
    (zip_bytes({"config.json": b"{not json", "model.safetensors": b"{}"}), "cannot be loaded"),
])
def test_it_refuses_what_is_not_a_checkpoint(owner_client, settings, content, expected):
    assert_refused(upload(owner_client, content), settings, expected)


def test_it_says_why_in_chinese(owner_client, settings):
    response = owner_client.post(reverse("teacher-upload"),
                                 {"file": SimpleUploadedFile("坏.zip", zip_bytes({"../x": b"x"}))},
                                 HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "坏.zip：条目“../x”指向压缩包目录之外" in response.content.decode()


def test_it_refuses_anonymous_uploads(client, settings):
    response = client.post(reverse("teacher-upload"), {"file": SimpleUploadedFile("t.zip", b"PK")})

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert list(Path(settings.CLD_TEACHERS_DIR).iterdir()) == []

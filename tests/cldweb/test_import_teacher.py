from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from cldweb.models import Teacher

pytestmark = pytest.mark.django_db


def safetensors_bytes() -> bytes:
    """A real (tiny) safetensors file: the import reads every header, as the upload does."""
    import numpy as np
    from safetensors.numpy import save

    return save({"classifier.weight": np.zeros((2, 4), dtype=np.float32)})


def make_folder(tmp_path, files: dict[str, bytes], config: dict | None = None):
    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "bert"}))
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def test_it_refuses_pickle_only_weights(tmp_path, settings):
    folder = make_folder(tmp_path, {"pytorch_model.bin": b"\x80\x04pickle"})

    with pytest.raises(CommandError, match="pickle"):
        call_command("import_teacher", str(folder))

    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert list(settings.CLD_TEACHERS_DIR.iterdir()) == []


def test_it_refuses_configs_that_ask_for_custom_code(tmp_path):
    folder = make_folder(tmp_path, {"model.safetensors": b"{}"},
                         config={"model_type": "bert", "auto_map": {"AutoModel": "modeling.Custom"}})

    with pytest.raises(CommandError, match="auto_map"):
        call_command("import_teacher", str(folder))


def test_it_copies_a_safetensors_folder_under_a_random_name(tmp_path, settings):
    folder = make_folder(tmp_path, {"model.safetensors": safetensors_bytes(), "vocab.txt": b"[PAD]\n", "extra.bin": b"x"})

    call_command("import_teacher", str(folder), "--name", "My BERT")

    teacher = Teacher.objects.get(kind=Teacher.KIND_IMPORTED)
    assert teacher.name == "My BERT" and teacher.owner is None
    copied = {p.name for p in (settings.CLD_TEACHERS_DIR / teacher.path.rsplit("/", 1)[-1]).iterdir()}
    assert copied == {"config.json", "model.safetensors", "vocab.txt"}  # pickles are never copied


@pytest.mark.parametrize(("files", "config", "refusal"), [
    ({"model.safetensors": safetensors_bytes()}, None, "no tokenizer files"),
    ({"model.safetensors": b"{}", "vocab.txt": b"[PAD]\n"}, None, "not a safetensors file"),
    ({"model.safetensors": safetensors_bytes(), "vocab.txt": b"[PAD]\n"}, {"architectures": ["BertModel"]},
     "no model_type"),
])
def test_it_refuses_what_the_upload_refuses(tmp_path, settings, files, config, refusal):
    """The command runs the upload's check (distill.check_teacher_folder), not a weaker one."""
    folder = make_folder(tmp_path, files, config=config)

    with pytest.raises(CommandError, match=refusal):
        call_command("import_teacher", str(folder))

    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert list(settings.CLD_TEACHERS_DIR.iterdir()) == []

"""The export's ONNX graphs give PyTorch's probabilities for every student, edge cases included, or it fails."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

import distill
from distill import export
from distill.export import verify
from distill.export.files import EXPORT_FILES
from distill.students import STUDENTS
from distill.tokens.batches import pad_batch

from .conftest import LABELS, MAX_LENGTH, exported_student, review_texts, student_tokenizer, trained_student

ARCHITECTURES = sorted(STUDENTS)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_student_exports_graphs_equal_to_pytorch_on_the_edge_cases(architecture: str) -> None:
    texts, _ = review_texts()
    tokenizer = student_tokenizer("char")
    model = trained_student(architecture)

    exported = exported_student(architecture)  # export_student(model, tokenizer, ..., check_texts=texts)
    folder = exported.zip_path.parent / "student"

    check = exported.check
    assert check.fp32_max_abs_diff <= 1e-5, check
    assert check.int8_agreement >= 0.99 and check.agreement_texts == len(texts), check
    assert check.int8_max_abs_diff < 0.05, check
    assert sorted(zipfile.ZipFile(exported.zip_path).namelist()) == sorted(EXPORT_FILES)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"{check.fp32_max_abs_diff:.2e}" in card and f"{check.int8_agreement:.2%}" in card

    # The edge cases themselves: empty, one character, at max length, ordinary; one padded batch and one row alone.
    edge = verify.edge_case_texts(texts, MAX_LENGTH)
    ids = [tokenizer.encode(text, MAX_LENGTH) for text in edge]
    assert [len(row) for row in ids[:3]] == [1, 1, MAX_LENGTH] and edge[0] == "" and len(edge[1]) == 1
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    for batch in (ids, ids[1:2], ids[2:3]):
        input_ids, attention_mask = pad_batch(batch, tokenizer.pad_id)
        with torch.inference_mode():
            expected = model(input_ids, attention_mask).numpy()
        got = session.run(["logits"], {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-5)

    # The app's own loader reads the zip back to the same predictions.
    predictor = distill.load_student(exported.zip_path)
    with torch.inference_mode():
        input_ids, attention_mask = pad_batch(ids, tokenizer.pad_id)
        expected = model(input_ids, attention_mask).softmax(-1).numpy()
    np.testing.assert_allclose(predictor.probabilities(edge), expected, atol=1e-6)
    assert json.loads((folder / "config.json").read_text())["max_length"] == MAX_LENGTH


def test_a_graph_that_differs_from_pytorch_fails_the_export_and_writes_no_zip(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    texts, _ = review_texts()
    tokenizer = student_tokenizer("char")
    model = trained_student("bigru")
    other = trained_student("bigru", steps=2)  # same shapes, other weights
    real_export = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda _model, path: real_export(other, path))

    with pytest.raises(verify.ExportCheckFailed) as failure:
        export.export_student(model, tokenizer, LABELS, tmp_path / "student", tmp_path / "student.zip",
                              max_length=MAX_LENGTH, check_texts=texts)

    assert failure.value.code == "export_onnx_differs" and failure.value.params["architecture"] == "bigru"
    assert failure.value.params["difference"] > verify.FP32_TOLERANCE
    assert not (tmp_path / "student.zip").exists()


def test_an_int8_graph_that_picks_other_labels_is_left_out_of_the_download(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    texts, _ = review_texts()
    tokenizer = student_tokenizer("char")
    model = trained_student("textcnn")
    opposite = trained_student("textcnn", flipped=True)  # trained on the opposite labels
    monkeypatch.setattr(export, "quantize_int8", lambda _source, destination: export.export_onnx(opposite, destination))

    exported = export.export_student(model, tokenizer, LABELS, tmp_path / "student", tmp_path / "student.zip",
                                     max_length=MAX_LENGTH, check_texts=texts)

    check = exported.check
    assert not check.int8_included and check.int8_agreement < 0.99
    names = zipfile.ZipFile(exported.zip_path).namelist()
    assert "model.int8.onnx" not in names and "model.onnx" in names
    assert sorted(names) == sorted(name for name in EXPORT_FILES if name != "model.int8.onnx")
    card = zipfile.ZipFile(exported.zip_path).read("README.md").decode("utf-8")
    assert "model.int8.onnx is **not included**" in card and f"{check.int8_agreement:.2%}" in card
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(exported.zip_path).extractall(unpacked)
    asked = subprocess.run([sys.executable, str(unpacked / "predict.py"), "--int8", "很好"], capture_output=True,
                           text=True, timeout=120)
    assert asked.returncode == 2 and "model.int8.onnx is not in this download" in asked.stderr


def test_a_download_made_before_the_onnx_export_still_loads(tmp_path: Path) -> None:
    exported = exported_student("textcnn")
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(exported.zip_path) as new, zipfile.ZipFile(old, "w") as archive:
        for name in ("model.safetensors", "vocab.json", "labels.json"):
            archive.writestr(name, new.read(name))
        archive.writestr("student_config.json", new.read("config.json"))  # its name then

    texts, _ = review_texts()
    np.testing.assert_array_equal(distill.load_student(old).logits(texts), distill.load_student(exported.zip_path).logits(texts))

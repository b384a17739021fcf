"""The downloaded zip runs without cld: predict.py in a fresh virtualenv with only numpy and onnxruntime.

The venv is made with ``python -m venv`` (no pip, no network); a .pth file in it points at a folder of
symlinks to numpy and onnxruntime (and jieba, for a word student) from the test's own environment, so
nothing else is importable there: the script run in it checks that torch and distill are not.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import subprocess
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

import distill
from distill import export
from distill.students import STUDENTS

from .conftest import LABELS, MAX_LENGTH, exported_student, review_texts, student_tokenizer, trained_student

ALLOWED = ("numpy", "numpy.libs", "onnxruntime", "jieba")  # what the fresh venv can import (jieba for word students)
# Chinese texts and the edge cases predict.py must tokenise exactly as the engine does.
TEXTS = ["这家酒店很好", "质量太差了，再也不买了！", "", "好", "物流很快。" * 10, "Ｆｕｌｌ　ｗｉｄｔｈ ＡＢＣ１２３",
         "iPhone 很好用 😀", "  \t 空白  很多 \n", "这家[MASK]很好，[UNK]不错"]

PROBE = """
import json, sys
for name in ("torch", "distill", "transformers", "tokenizers"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable in the standalone venv")
sys.path.insert(0, ".")
from predict import Predictor
texts = json.loads(sys.stdin.read())
print(json.dumps({"fp32": Predictor(".").probabilities(texts).tolist(),
                  "int8": Predictor(".", int8=True).probabilities(texts).tolist()}))
"""


@pytest.fixture(scope="module")
def standalone_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv that can import numpy, onnxruntime and jieba, and nothing else of ours."""
    root = tmp_path_factory.mktemp("standalone")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root / "venv")
    allowed = root / "allowed"
    allowed.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for name in ALLOWED:
        (allowed / name).symlink_to(site_packages / name)
    python = root / "venv" / "bin" / "python"
    target = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True, env=_clean_env()).stdout.strip()
    (Path(target) / "allowed.pth").write_text(str(allowed) + "\n", encoding="utf-8")
    return python


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _unpacked(zip_path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    return folder


def _run(python: Path, folder: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run([str(python), *args], cwd=folder, input=stdin, capture_output=True, text=True,
                          env=_clean_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _standalone_matches_the_app(python: Path, zip_path: Path, folder: Path) -> dict[str, np.ndarray]:
    folder = _unpacked(zip_path, folder)
    got = {key: np.asarray(value) for key, value in json.loads(_run(python, folder, "-c", PROBE,
                                                                    stdin=json.dumps(TEXTS))).items()}
    expected = distill.load_student(zip_path).probabilities(TEXTS)  # the app's own predictions
    np.testing.assert_allclose(got["fp32"], expected, atol=1e-5)
    assert (got["int8"].argmax(-1) == expected.argmax(-1)).all()
    np.testing.assert_allclose(got["int8"], expected, atol=0.05)
    return got


@pytest.mark.parametrize("architecture", sorted(STUDENTS))
def test_the_unpacked_zip_predicts_like_the_app_in_a_venv_without_torch_or_cld(
        architecture: str, standalone_python: Path, tmp_path: Path) -> None:
    zip_path = exported_student(architecture).zip_path

    probabilities = _standalone_matches_the_app(standalone_python, zip_path, tmp_path / "unpacked")

    if architecture == "bilstm":  # the command line, once: one text on the command line, and a file to a CSV
        folder = tmp_path / "unpacked"
        line = _run(standalone_python, folder, "predict.py", "这家酒店很好").strip()
        best = LABELS[int(probabilities["fp32"][0].argmax())]
        assert line.startswith(best + "\t") and f"{LABELS[0]}=" in line and "这家酒店很好" in line
        (folder / "texts.txt").write_text("\n".join(TEXTS[:4]) + "\n", encoding="utf-8")
        rows = list(csv.reader(io.StringIO(_run(standalone_python, folder, "predict.py", "--file", "texts.txt"))))
        assert rows[0] == ["text", "label", *LABELS] and [row[0] for row in rows[1:]] == TEXTS[:4]
        np.testing.assert_allclose([[float(p) for p in row[2:]] for row in rows[1:]], probabilities["fp32"][:4],
                                   atol=1e-5)
        _run(standalone_python, folder, "predict.py", "--file", "texts.txt", "--out", "out.csv")
        assert (folder / "out.csv").read_text(encoding="utf-8").splitlines()[0] == "text,label," + ",".join(LABELS)


def test_a_word_student_runs_with_jieba_beside_numpy_and_onnxruntime(standalone_python: Path, tmp_path: Path) -> None:
    zip_path = exported_student("bigru", "word").zip_path
    assert "jieba" in (zip_path.parent / "student" / "README.md").read_text(encoding="utf-8")
    _standalone_matches_the_app(standalone_python, zip_path, tmp_path / "unpacked")


def test_a_student_on_the_teachers_wordpiece_runs_without_the_tokenizers_package(
        standalone_python: Path, tmp_path: Path) -> None:
    zip_path = exported_student("transformer", "teacher").zip_path
    _standalone_matches_the_app(standalone_python, zip_path, tmp_path / "unpacked")


def test_predict_py_reads_wordpiece_to_the_same_ids_as_the_tokenizers_package(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("standalone_predict", export.STANDALONE_PREDICT)
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    texts, _ = review_texts()
    engine = student_tokenizer("teacher")
    engine.save(tmp_path / "vocab.json")
    standalone = predict.load_tokenizer(tmp_path / "vocab.json")
    tricky = [*TEXTS, *texts[:20], "Résumé CAFÉ, iPhone!", "[CLS] 好 [SEP]", "a\x00b\ufffdc\u200bd", "零宽\u3000空格",
              "ＡＢＣ…——「引号」", "x" * 300, "未见过的字：龘靐齉"]
    for max_length in (4, MAX_LENGTH, 512):
        assert [standalone.encode(text, max_length) for text in tricky] == \
               [engine.encode(text, max_length) for text in tricky]


def test_a_tokenizer_predict_py_cannot_read_is_said_first_in_the_model_card(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from distill.tokens.tokenizer import TeacherTokenizer

    spec = json.loads(student_tokenizer("teacher").backend.to_str())
    spec["normalizer"] = {"type": "Lowercase"}  # not BERT's normaliser: predict.py would tokenise differently
    tokenizer = TeacherTokenizer(backend=Tokenizer.from_str(json.dumps(spec)))
    texts, _ = review_texts()

    exported = export.export_student(trained_student("textcnn", "teacher"), tokenizer, LABELS, tmp_path / "student",
                                     tmp_path / "student.zip", max_length=MAX_LENGTH, check_texts=texts)

    assert "BertNormalizer" not in exported.check.standalone_problem and "Lowercase" in exported.check.standalone_problem
    card = (tmp_path / "student" / "README.md").read_text(encoding="utf-8")
    assert card.splitlines()[2].startswith("**predict.py cannot run this student without cld**")
    assert exported_student("transformer", "teacher").check.standalone_problem == ""

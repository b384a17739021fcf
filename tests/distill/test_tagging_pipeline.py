"""A tagging (NER) run end to end on People's Daily: a tiny from-scratch teacher, a BiLSTM tagger, seqeval scores."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from distill import datasets, run
from distill.config import RunConfig
from distill.errors import ConfigError
from distill.progress import STAGE_BASELINE, STAGE_GENERATING, STAGES, RecordingReporter
from distill.tasks.tagging_schemes import bio_to_spans

from .conftest import tiny_teacher_config

# Measured with these settings (seed 42, 1,500 People's Daily sentences of 8-40 characters -> 1,200 train /
# 150 dev / 150 test, one CPU thread): teacher entity F1 0.232, student (soft labels) 0.244, token accuracy
# 0.943 / 0.940; a tagger saying O everywhere scores F1 0 and token accuracy 0.919.
TEACHER_MIN_F1 = 0.12
STUDENT_MIN_F1 = 0.12


def _corpus(path: Path, sentences: int = 1500) -> Path:
    rows = [row for row in datasets.peoples_daily() if 8 <= len(row[0]) <= 40][:sentences]
    with path.open("w", encoding="utf-8") as handle:
        for text, tags in rows:
            spans = [{"start": start, "end": end, "label": label} for start, end, label in bio_to_spans(list(tags))]
            handle.write(json.dumps({"text": text, "entities": spans}, ensure_ascii=False) + "\n")
    return path


def _config(tmp_path: Path) -> RunConfig:
    cfg = RunConfig(output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    cfg.data.task, cfg.data.train_path, cfg.data.max_length = "tagging", str(_corpus(tmp_path / "pd.jsonl")), 64
    cfg.teacher = tiny_teacher_config(demo=True, finetune_epochs=6, demo_learning_rate=2e-3)
    cfg.student.embedding_dim = cfg.student.hidden_size = 32
    cfg.train.device, cfg.train.num_threads, cfg.train.epochs, cfg.train.baseline = "cpu", 1, 8, False
    cfg.train.batch_size, cfg.train.learning_rate = 16, 1e-2  # small taggers on a thousand sentences learn faster so
    return cfg


@pytest.mark.slow
def test_it_distils_a_bilstm_tagger_from_a_tagging_teacher_and_exports_it(tmp_path: Path) -> None:
    reporter = RecordingReporter()

    result = run(_config(tmp_path), reporter)

    assert result.status == "done"
    assert reporter.stages() == [stage for stage in STAGES if stage not in (STAGE_BASELINE, STAGE_GENERATING)]
    assert result.labels[0] == "O" and {"B-PER", "I-PER", "B-LOC", "B-ORG"} <= set(result.labels)
    teacher, student = result.metrics["teacher"], result.metrics["student"]
    assert teacher["f1"] >= TEACHER_MIN_F1 and student["f1"] >= STUDENT_MIN_F1, (teacher["f1"], student["f1"])
    assert {"PER", "LOC"} <= set(student["per_type"]) and result.metrics_split == "test"
    assert result.student.test_accuracy == student["token_accuracy"] and result.teacher.parameters > 0
    assert result.student.latency_p50_ms > 0 and result.teacher.latency_p50_ms > 0
    worst = result.disagreements[0]
    assert worst["errors"] >= 1 and {"text", "gold", "predicted"} <= set(worst)
    with zipfile.ZipFile(result.export_path) as archive:
        assert json.loads(archive.read("config.json"))["task"] == "tagging"
        assert json.loads(archive.read("labels.json")) == result.labels
    assert result.export_check["fp32_max_abs_diff"] <= 1e-4 and result.export_check["standalone_problem"] == ""


def test_it_refuses_a_tagging_run_with_a_textcnn_or_a_word_tokenizer(tmp_path: Path) -> None:
    cfg = RunConfig(output_dir=str(tmp_path / "run"))
    cfg.data.task, cfg.data.train_path = "tagging", str(tmp_path / "pd.jsonl")
    cfg.student.tokenizer = "word"
    with pytest.raises(ConfigError) as word:
        run(cfg)
    cfg.student.tokenizer, cfg.student.architecture = "char", "textcnn"
    with pytest.raises(ConfigError) as textcnn:
        run(cfg)
    assert word.value.code == "config_tagging_tokenizer" and textcnn.value.code == "tagger_unsupported"


@pytest.mark.slow
def test_the_cli_fits_a_tagger_and_prints_its_entities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from distill.cli import main

    corpus = _corpus(tmp_path / "pd.jsonl", sentences=400)
    code = main(["fit", "--task", "tagging", "--train", str(corpus), "--demo-teacher", "--student", "bilstm",
                 "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--epochs", "2",
                 "--max-length", "48", "--device", "cpu", "--set", "teacher.finetune_epochs=1",
                 "--set", "teacher.demo_hidden_size=32", "--set", "teacher.demo_layers=1",
                 "--set", "teacher.demo_heads=2", "--set", "student.hidden_size=16", "--set", "student.embedding_dim=16",
                 "--set", "train.baseline=false", "--set", "train.num_threads=1"])
    fitted = capsys.readouterr().out

    assert code == 0 and "entity F1" in fitted and "token accuracy" in fitted
    assert main(["predict", "--model", str(tmp_path / "run" / "student.zip"), "江泽民在北京会见了客人"]) == 0
    entities, text = capsys.readouterr().out.strip().split("\t")
    assert text == "江泽民在北京会见了客人" and isinstance(json.loads(entities), list)

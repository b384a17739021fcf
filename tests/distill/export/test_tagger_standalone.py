"""A tagging student's zip runs without cld: predict.py in a fresh venv finds the entities, with the character
offsets, that the PyTorch tagger decodes in-process, with and without a CRF."""
from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import export
from distill.config import RunConfig
from distill.students import build_tagger
from distill.tasks.tagging_schemes import bio_to_spans
from distill.tokens.characters import encode_characters
from distill.tokens.tokenizer import CharTokenizer
from distill.training.checkpoints import set_seed
from distill.training.tagging import TaggingSet, tagger_predictions, train_tagger

from .test_standalone import _run, standalone_python  # noqa: F401,F811  (the fixture is used by name)

MAX_LENGTH = 24
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
RULE = {"江": "B-PER", "泽": "I-PER", "民": "I-PER", "北": "B-LOC", "京": "I-LOC", "上": "B-LOC", "海": "I-LOC"}
TRAIN_CHARS = "江泽民北京上海在和的了去"
# Ordinary and edge texts: empty, one character, whitespace inside (it keeps its place in the offsets),
# full-width and NFKC-expanding characters, unseen characters, one past MAX_LENGTH, an I- after O.
TEXTS = ["江泽民在北京", "", "江", "江泽民 去 上海", "Ｆｕｌｌ…北京", "龘靐江泽民", "江泽民和北京的上海了" * 4, "泽民在京"]

PROBE = """
import json, sys
for name in ("torch", "distill", "transformers", "tokenizers", "seqeval"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable in the standalone venv")
sys.path.insert(0, ".")
from predict import Predictor
print(json.dumps(Predictor(".").entities(json.loads(sys.stdin.read())), ensure_ascii=False))
"""


def _trained_tagger(architecture: str, crf: bool, tmp_path: Path):
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list(TRAIN_CHARS), size=int(rng.integers(3, 12)))) for _ in range(160)]
    tokenizer = CharTokenizer.build(texts)
    tags = [[TAGS.index(RULE.get(char, "O")) for char in text] for text in texts]
    dataset = TaggingSet([encode_characters(tokenizer, text, MAX_LENGTH) for text in texts], tags)
    cfg = RunConfig()
    cfg.student.architecture = architecture
    cfg.student.embedding_dim = cfg.student.hidden_size = 16
    cfg.student.num_layers = 1
    cfg.student.crf = crf
    cfg.train.mode = "hard"
    cfg.train.epochs = 2
    cfg.train.batch_size = 16
    cfg.train.learning_rate = 1e-2
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1
    set_seed(0)
    model = build_tagger(cfg.student, tokenizer.vocab_size, len(TAGS))
    train_tagger(model, dataset, dataset, TAGS, cfg, pad_id=tokenizer.pad_id, device=torch.device("cpu"),
                 checkpoint_dir=tmp_path / "checkpoints")
    return model, tokenizer, texts


def _in_process_entities(model, tokenizer: CharTokenizer, texts: list[str]) -> list[list[dict]]:
    dataset = TaggingSet([encode_characters(tokenizer, text, MAX_LENGTH) for text in texts], [[] for _ in texts])
    predicted = tagger_predictions(model, dataset, TAGS, 8, tokenizer.pad_id, torch.device("cpu"))
    return [[{"start": start, "end": end, "label": label, "text": text[start:end]}
             for start, end, label in bio_to_spans(tags)] for text, tags in zip(texts, predicted)]


@pytest.mark.parametrize(("architecture", "crf"), [("bilstm", True), ("bilstm", False), ("transformer", True)])
def test_the_unpacked_tagger_finds_the_entities_the_app_decodes_in_a_venv_without_torch_or_cld(
        architecture: str, crf: bool, standalone_python: Path, tmp_path: Path) -> None:
    model, tokenizer, train_texts = _trained_tagger(architecture, crf, tmp_path)
    if crf:  # strong transitions, so a predict.py that ignored crf.json and took each argmax would differ
        with torch.no_grad():
            model.crf.transitions.add_(3 * torch.randn(5, 5, generator=torch.Generator().manual_seed(3)))
    expected = _in_process_entities(model, tokenizer, TEXTS)
    assert any(expected) and expected[1] == []  # the tagger has learnt entities; the empty text has none
    if crf:
        crf_layer, model.crf = model.crf, None
        assert _in_process_entities(model, tokenizer, TEXTS) != expected
        model.crf = crf_layer

    exported = export.export_tagger(model, tokenizer, TAGS, tmp_path / "student", tmp_path / "student.zip",
                                    max_length=MAX_LENGTH, check_texts=train_texts[:40])

    assert exported.check.fp32_max_abs_diff <= 1e-4 and exported.check.tag_agreement == 1.0
    assert exported.check.standalone_problem == ""
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(exported.zip_path) as archive:
        assert ("crf.json" in archive.namelist()) == crf and "model.int8.onnx" not in archive.namelist()
        archive.extractall(folder)
    assert json.loads((folder / "config.json").read_text(encoding="utf-8"))["task"] == "tagging"
    assert json.loads((folder / "labels.json").read_text(encoding="utf-8")) == TAGS
    assert "Predictor('.').entities" in (folder / "README.md").read_text(encoding="utf-8")

    got = json.loads(_run(standalone_python, folder, "-c", PROBE, stdin=json.dumps(TEXTS, ensure_ascii=False)))
    assert got == expected
    assert all(entity["end"] <= MAX_LENGTH for entities in got for entity in entities)

    if crf and architecture == "bilstm":  # the command line, once: a line per text, and a file to JSON Lines
        lines = _run(standalone_python, folder, "predict.py", TEXTS[0], TEXTS[3]).splitlines()
        assert [line.split("\t", 1) for line in lines] == [
            [TEXTS[0], json.dumps(expected[0], ensure_ascii=False)], [TEXTS[3], json.dumps(expected[3], ensure_ascii=False)]]
        (folder / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
        _run(standalone_python, folder, "predict.py", "--file", "texts.txt", "--out", "out.jsonl")
        rows = [json.loads(line) for line in (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()]
        assert rows == [{"text": text, "entities": entities} for text, entities in zip(TEXTS, expected)]


def test_predict_py_reads_spans_from_tags_leniently_as_the_engine_does() -> None:
    spec = importlib.util.spec_from_file_location("standalone_predict", export.STANDALONE_PREDICT)
    assert spec is not None and spec.loader is not None
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    rng = np.random.default_rng(0)
    # Random sequences are mostly invalid BIO (I- after O, I-X after B-Y): conlleval's reading must agree.
    sequences = [list(rng.choice(TAGS, size=int(rng.integers(0, 12)))) for _ in range(300)]
    sequences += [["I-PER", "I-PER", "O"], ["B-PER", "I-LOC", "I-LOC"], ["B-LOC", "B-LOC"], []]
    assert [predict.bio_spans(tags) for tags in sequences] == [bio_to_spans(tags) for tags in sequences]
    assert predict.bio_spans(["I-PER", "I-PER", "O", "B-LOC"]) == [(0, 2, "PER"), (3, 4, "LOC")]

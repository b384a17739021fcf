"""A tagger's ONNX graph gives PyTorch's emissions at any length, and predict.py's numpy Viterbi decodes them
as torchcrf does, from the CRF scores the export carries beside the graph."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime
import pytest
import torch
from torchcrf import CRF

from distill import export
from distill.config import StudentConfig
from distill.export.onnx_graph import INPUT_NAMES, OUTPUT_NAME, export_onnx
from distill.students import TAGGERS, build_tagger, crf_scores
from distill.tokens.batches import pad_batch

ARCHITECTURES = sorted(TAGGERS)
VOCAB_SIZE = 30


@pytest.fixture(scope="module")
def predict() -> ModuleType:
    spec = importlib.util.spec_from_file_location("standalone_predict", export.STANDALONE_PREDICT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scores(crf: CRF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (crf.start_transitions.detach().numpy(), crf.transitions.detach().numpy(),
            crf.end_transitions.detach().numpy())


@pytest.mark.parametrize("num_tags", [3, 5])
@pytest.mark.parametrize("seed", range(4))
def test_it_decodes_with_numpy_as_torchcrf_does(predict: ModuleType, seed: int, num_tags: int) -> None:
    torch.manual_seed(seed)
    crf = CRF(num_tags, batch_first=True)
    with torch.no_grad():
        for scores in (crf.start_transitions, crf.transitions, crf.end_transitions):
            scores.normal_(std=2.0)  # strong transitions: the best path is rarely each token's argmax
    for length in (1, 2, 7, 20):
        emissions = torch.randn(1, length, num_tags)
        expected = crf.decode(emissions, torch.ones(1, length, dtype=torch.bool))[0]
        assert predict.viterbi_decode(emissions[0].numpy(), *_scores(crf)) == expected, length
    assert predict.viterbi_decode(np.zeros((0, num_tags)), *_scores(crf)) == []


def test_it_decodes_a_masked_batch_row_by_row_as_torchcrf_does(predict: ModuleType) -> None:
    torch.manual_seed(7)
    crf = CRF(4, batch_first=True)
    with torch.no_grad():
        crf.transitions.normal_(std=3.0)
    lengths = [9, 5, 1, 3]
    emissions = torch.randn(4, 9, 4)  # (B, T, C); padded positions hold noise, which must not matter
    mask = torch.arange(9).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)  # (B, T)
    expected = crf.decode(emissions, mask)
    assert [predict.viterbi_decode(emissions[row, :length].numpy(), *_scores(crf))
            for row, length in enumerate(lengths)] == expected
    best_per_token = [emissions[row, :length].argmax(-1).tolist() for row, length in enumerate(lengths)]
    assert expected != best_per_token  # the transitions changed some path: a Viterbi ignoring them would fail


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_taggers_graph_gives_pytorchs_emissions_and_numpy_viterbi_its_tags(
        architecture: str, predict: ModuleType, tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = StudentConfig(architecture=architecture, embedding_dim=16, hidden_size=16, num_layers=2, crf=True)
    model = build_tagger(cfg, vocab_size=VOCAB_SIZE, num_tags=5).eval()
    with torch.no_grad():
        model.crf.transitions.normal_(std=2.0)
    path = export_onnx(model, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [node.name for node in session.get_inputs()] == list(INPUT_NAMES)
    # The scores travel as JSON beside the graph (the graph holds emissions only).
    scores = json.loads(json.dumps(crf_scores(model)))
    start, transitions, end = (np.array(scores[key]) for key in ("start", "transitions", "end"))

    generator = torch.Generator().manual_seed(1)
    for lengths in ((4, 2, 1), (13, 9, 3, 1)):  # two padded widths, neither the export's example of 6
        sequences = [torch.randint(2, VOCAB_SIZE, (length,), generator=generator).tolist() for length in lengths]
        input_ids, attention_mask = pad_batch(sequences, pad_id=0)  # (B, T)
        with torch.no_grad():
            expected = model(input_ids, attention_mask)  # (B, T, C)
        (emissions,) = session.run([OUTPUT_NAME], {"input_ids": input_ids.numpy(),
                                                   "attention_mask": attention_mask.numpy()})
        assert emissions.shape == tuple(expected.shape) == (len(lengths), max(lengths), 5)
        real = attention_mask.bool().numpy()
        np.testing.assert_allclose(emissions[real], expected.numpy()[real], atol=1e-4, rtol=0)
        decoded = [predict.viterbi_decode(emissions[row, :length], start, transitions, end)
                   for row, length in enumerate(lengths)]
        assert decoded == model.decode(expected, attention_mask)


def test_it_carries_no_crf_scores_for_a_tagger_without_one() -> None:
    model = build_tagger(StudentConfig(architecture="bigru", hidden_size=8, embedding_dim=8), VOCAB_SIZE, 3)
    assert crf_scores(model) is None
    with_crf = build_tagger(StudentConfig(architecture="bigru", hidden_size=8, embedding_dim=8, crf=True),
                            VOCAB_SIZE, 3)
    scores = crf_scores(with_crf)
    assert scores is not None
    assert np.array(scores["transitions"]).shape == (3, 3) and len(scores["start"]) == len(scores["end"]) == 3

"""Tagging students: per-token emissions that padding never touches, CRF decoding, real learning on seeded tasks."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torchcrf import CRF
from transformers import BertConfig, BertModel

from distill.config import StudentConfig
from distill.errors import ConfigError
from distill.students import (PRESETS, TAGGERS, TaggerModel, TransformerTagger, build_student, build_tagger,
                              init_from_teacher, load_student, save_student)
from distill.tokens.batches import pad_batch
from distill.training.tagging_losses import crf_nll_loss, token_ce_loss, token_kl_loss

ARCHITECTURES = sorted(TAGGERS)
TAGS = ["O", "B-NUM", "I-NUM"]
LETTERS = "abcdefghij"
DIGITS = "0123456789"
VOCAB = ["[PAD]", "[UNK]", *LETTERS, *DIGITS]  # ids: 0 pad, 2-11 letters, 12-21 digits


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Training tests on one thread: two threads on the shared 2-core machines ran them ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(architecture: str, crf: bool = False, num_tags: int = 3, **sizes: int) -> TaggerModel:
    sizes = {"embedding_dim": 16, "hidden_size": 16, "num_layers": 1} | sizes
    cfg = StudentConfig(architecture=architecture, crf=crf, dropout=0.0, **sizes)
    if architecture == "transformer":
        cfg.num_layers = 2
    return build_tagger(cfg, vocab_size=len(VOCAB), num_tags=num_tags)


def _ragged_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    sequences = [torch.randint(2, len(VOCAB), (length,), generator=generator).tolist() for length in (9, 5, 1, 3)]
    return pad_batch(sequences, pad_id=0)  # (4, 9)


def digit_runs(count: int, seed: int, max_length: int = 14) -> tuple[list[list[int]], list[list[int]]]:
    """Random strings of letter runs and digit runs in turn; a digit run's first digit is B-NUM, the rest I-NUM,
    letters O. The tags follow from the text exactly (a run is never next to another of its kind)."""
    generator = torch.Generator().manual_seed(seed)
    texts, tags = [], []
    for _ in range(count):
        length = int(torch.randint(1, max_length + 1, (1,), generator=generator))
        ids, row = [], []
        digit_run = bool(torch.rand(1, generator=generator) < 0.5)  # does the text start with digits?
        while len(ids) < length:
            run = int(torch.randint(1, 4, (1,), generator=generator))
            if digit_run:
                ids += torch.randint(12, 22, (run,), generator=generator).tolist()
                row += [1] + [2] * (run - 1)
            else:
                ids += torch.randint(2, 12, (run,), generator=generator).tolist()
                row += [0] * run
            digit_run = not digit_run
        texts.append(ids[:length])
        tags.append(row[:length])
    return texts, tags


def _pad_tags(tags: list[list[int]], width: int) -> torch.Tensor:
    return torch.tensor([row + [-100] * (width - len(row)) for row in tags])  # (B, T)


def _token_accuracy(model: TaggerModel, texts: list[list[int]], tags: list[list[int]]) -> float:
    input_ids, attention_mask = pad_batch(texts, pad_id=0)  # (N, T)
    model.eval()
    with torch.no_grad():
        decoded = model.decode(model(input_ids, attention_mask), attention_mask)
    right = sum(int(a == b) for predicted, truth in zip(decoded, tags) for a, b in zip(predicted, truth))
    return right / sum(len(row) for row in tags)


@pytest.mark.parametrize("crf", [False, True])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_gives_emissions_per_token_that_padding_never_changes(architecture: str, crf: bool) -> None:
    torch.manual_seed(0)
    model = build_tagger(StudentConfig(architecture=architecture, crf=crf), vocab_size=len(VOCAB), num_tags=5).eval()
    input_ids, attention_mask = _ragged_batch()
    emissions = model(input_ids, attention_mask)
    assert emissions.shape == (4, 9, 5) and torch.isfinite(emissions).all()
    assert (model.crf is not None) == crf
    for row, length in enumerate(attention_mask.sum(dim=1).tolist()):
        alone = model(input_ids[row:row + 1, :length], attention_mask[row:row + 1, :length])  # (1, length, 5)
        torch.testing.assert_close(emissions[row, :length], alone[0], atol=1e-5, rtol=1e-5)
    wider = model(torch.nn.functional.pad(input_ids, (0, 4)), torch.nn.functional.pad(attention_mask, (0, 4)))
    real = attention_mask.bool()
    torch.testing.assert_close(wider[:, :9][real], emissions[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_sizes_taggers_from_the_student_presets(architecture: str) -> None:
    model = build_tagger(StudentConfig(architecture=architecture, preset="base"), vocab_size=40, num_tags=7)
    assert model.config["embedding_dim"] == PRESETS[architecture]["base"]["embedding_dim"]
    assert model.config["architecture"] == architecture and model.config["tagger"] and model.config["num_labels"] == 7
    assert model.classifier.out_features == 7


def test_it_refuses_textcnn_taggers_and_crf_text_students() -> None:
    with pytest.raises(ConfigError, match="TextCNN cannot tag") as caught:
        build_tagger(StudentConfig(architecture="textcnn"), vocab_size=40, num_tags=3)
    assert caught.value.code == "tagger_unsupported"
    with pytest.raises(ConfigError, match="tagging students only") as caught:
        build_student(StudentConfig(architecture="bilstm", crf=True), vocab_size=40, num_labels=3)
    assert caught.value.code == "crf_unsupported"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_saves_and_loads_a_crf_tagger_with_its_transitions(architecture: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _tiny(architecture, crf=True).eval()
    with torch.no_grad():
        model.crf.transitions.normal_()  # not the initial values, so a fresh CRF would not pass
    save_student(model, tmp_path)
    loaded = load_student(tmp_path)
    assert type(loaded) is type(model) and loaded.crf is not None
    input_ids, attention_mask = _ragged_batch()
    torch.testing.assert_close(loaded(input_ids, attention_mask), model(input_ids, attention_mask))
    torch.testing.assert_close(loaded.crf.transitions, model.crf.transitions)


def test_it_decodes_with_the_crf_over_the_masked_positions_only() -> None:
    torch.manual_seed(3)
    model = _tiny("bilstm", crf=True, num_tags=4).eval()
    with torch.no_grad():
        model.crf.transitions.normal_(std=3.0)  # strong transitions: the best path differs from the argmax
    emissions = torch.randn(3, 7, 4)  # (B, T, C)
    prefix = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] + [0] * 6]).bool()
    assert model.decode(emissions, prefix) == model.crf.decode(emissions, prefix)
    # A skipped first position (a [CLS]) and a hole: decoding the kept positions alone gives the same tags.
    holes = torch.tensor([[0, 1, 1, 0, 1, 1, 0]]).bool()
    kept = emissions[:1, holes[0]]  # (1, 4, C)
    assert model.decode(emissions[:1], holes) == model.crf.decode(kept, torch.ones(1, 4, dtype=torch.bool))
    assert model.decode(emissions[:1], torch.zeros(1, 7, dtype=torch.bool)) == [[]]
    plain = _tiny("bilstm", crf=False, num_tags=4)
    assert plain.decode(emissions, prefix) == [row[keep].tolist() for row, keep in zip(emissions.argmax(-1), prefix)]


def test_it_copies_teacher_layers_into_the_transformer_tagger() -> None:
    torch.manual_seed(1)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=64, max_position_embeddings=64)).eval()
    cfg = StudentConfig(architecture="transformer", teacher_layers=[1])
    tagger = build_tagger(cfg, vocab_size=50, num_tags=3, teacher_config=bert.config)
    assert isinstance(tagger, TransformerTagger)
    init_from_teacher(tagger, bert, [1])
    torch.testing.assert_close(tagger.layers[0].intermediate.weight, bert.encoder.layer[1].intermediate.dense.weight)
    torch.testing.assert_close(tagger.token_embedding.weight, bert.embeddings.word_embeddings.weight)


@pytest.mark.usefixtures("one_thread")
def test_it_learns_to_tag_digit_runs_with_a_bilstm_crf() -> None:
    torch.manual_seed(0)
    model = _tiny("bilstm", crf=True)
    train_texts, train_tags = digit_runs(512, seed=1)
    dev_texts, dev_tags = digit_runs(200, seed=2)
    before = _token_accuracy(model, dev_texts, dev_tags)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(200):
        rows = torch.randint(0, len(train_texts), (32,), generator=generator).tolist()
        input_ids, attention_mask = pad_batch([train_texts[i] for i in rows], pad_id=0)  # (32, T)
        labels = _pad_tags([train_tags[i] for i in rows], input_ids.shape[1])  # (32, T)
        loss = crf_nll_loss(model.crf, model(input_ids, attention_mask), labels, attention_mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = _token_accuracy(model, dev_texts, dev_tags)
    # Observed: 0.43 untrained, 1.000 after 50 steps and after 200; the tags follow from the text exactly,
    # so anything short of near-perfect means the CRF or the masking is wrong.
    assert before < 0.7 and after >= 0.97, (before, after)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_learns_to_tag_digit_runs_with_token_cross_entropy(architecture: str) -> None:
    torch.manual_seed(0)
    model = _tiny(architecture)
    train_texts, train_tags = digit_runs(512, seed=1)
    dev_texts, dev_tags = digit_runs(200, seed=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3 if architecture == "transformer" else 1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(200):
        rows = torch.randint(0, len(train_texts), (32,), generator=generator).tolist()
        input_ids, attention_mask = pad_batch([train_texts[i] for i in rows], pad_id=0)  # (32, T)
        labels = _pad_tags([train_tags[i] for i in rows], input_ids.shape[1])  # (32, T)
        loss = token_ce_loss(model(input_ids, attention_mask), labels, attention_mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # Observed after 200 steps: bilstm and bigru 1.000, transformer 0.958 (from about 0.4 untrained).
    assert _token_accuracy(model, dev_texts, dev_tags) >= 0.9


@pytest.mark.usefixtures("one_thread")
def test_it_distils_a_random_teacher_taggers_argmax_with_the_token_kl() -> None:
    torch.manual_seed(5)
    teacher = _tiny("bigru", num_tags=4, hidden_size=24).eval()
    with torch.no_grad():
        teacher.classifier.weight.mul_(8.0)  # decided per-token answers, so its argmax is a target worth matching
    torch.manual_seed(0)
    student = _tiny("bilstm", num_tags=4)
    train_texts, _ = digit_runs(512, seed=3)
    dev_texts, _ = digit_runs(200, seed=4)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)

    def agreement() -> float:
        input_ids, attention_mask = pad_batch(dev_texts, pad_id=0)  # (N, T)
        student.eval()
        with torch.no_grad():
            same = student(input_ids, attention_mask).argmax(-1) == teacher(input_ids, attention_mask).argmax(-1)
        student.train()
        return float(same[attention_mask.bool()].float().mean())

    input_ids, attention_mask = pad_batch(dev_texts, pad_id=0)  # (N, T)
    with torch.no_grad():
        teacher_tags = teacher(input_ids, attention_mask).argmax(-1)[attention_mask.bool()]  # (tokens,)
    majority = float(torch.bincount(teacher_tags).max()) / len(teacher_tags)  # what always one tag would score
    before = agreement()
    for _ in range(300):
        rows = torch.randint(0, len(train_texts), (32,), generator=generator).tolist()
        input_ids, attention_mask = pad_batch([train_texts[i] for i in rows], pad_id=0)  # (32, T)
        with torch.no_grad():
            teacher_logits = teacher(input_ids, attention_mask)  # (32, T, 4)
        loss = token_kl_loss(student(input_ids, attention_mask), teacher_logits, attention_mask, temperature=2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = agreement()
    # Observed: agreement with the teacher's argmax 0.13 before, 0.95 after 300 steps; the teacher's
    # most frequent tag is 0.57 of its answers, so the student learnt more than the tag shares.
    assert before < 0.5 and after >= 0.9 and after > majority + 0.2, (before, after, majority)


def test_it_keeps_the_crf_outside_the_forward() -> None:
    # The exported graph is the forward: its output must be the emissions, never a decoded path.
    torch.manual_seed(0)
    model = _tiny("bigru", crf=True).eval()
    plain = _tiny("bigru", crf=False).eval()
    plain.load_state_dict({name: value for name, value in model.state_dict().items() if not name.startswith("crf.")})
    input_ids, attention_mask = _ragged_batch()
    torch.testing.assert_close(model(input_ids, attention_mask), plain(input_ids, attention_mask))
    assert isinstance(model.crf, CRF)


@pytest.mark.parametrize("rnn_class,architecture", [(nn.LSTM, "bilstm"), (nn.GRU, "bigru")])
def test_it_keeps_the_text_students_weight_names_and_the_taggers_share_them(rnn_class: type[nn.RNNBase],
                                                                            architecture: str) -> None:
    # Saved students and checkpoints load by these names, so sharing the encoder must not rename anything.
    rnn_names = [f"rnn.{name}" for name in rnn_class(4, 4, num_layers=2, bidirectional=True).state_dict()]
    student = build_student(StudentConfig(architecture=architecture, preset="base"), vocab_size=40, num_labels=2)
    assert list(student.state_dict()) == ["token_embedding.weight", *rnn_names, "pool.score.weight",
                                          "pool.score.bias", "classifier.weight", "classifier.bias"]
    tagger = build_tagger(StudentConfig(architecture=architecture, preset="base", crf=True), vocab_size=40, num_tags=3)
    assert list(tagger.state_dict()) == ["token_embedding.weight", *rnn_names, "classifier.weight", "classifier.bias",
                                         "crf.start_transitions", "crf.end_transitions", "crf.transitions"]


def test_it_keeps_the_transformer_students_weight_names() -> None:
    student = build_student(StudentConfig(architecture="transformer", num_layers=1), vocab_size=40, num_labels=2)
    layer = ["attention.query", "attention.key", "attention.value", "attention_output", "attention_norm",
             "intermediate", "output", "output_norm"]
    assert list(student.state_dict()) == [
        "token_embedding.weight", "position_embedding.weight", "embedding_norm.weight", "embedding_norm.bias",
        *(f"layers.0.{name}.{kind}" for name in layer for kind in ("weight", "bias")),
        "classifier.weight", "classifier.bias"]  # mean pooling has no weights

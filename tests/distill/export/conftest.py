"""Tiny students trained for a few steps on real reviews, so their labels are decided, not coin flips.

Each (architecture, tokenizer, steps, labels) student is trained once per test session and handed out
as a copy: the parity tests and the standalone tests use the same students.
"""
from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path

import torch

from distill import export, teachers
from distill.config import StudentConfig
from distill.students import StudentModel, build_student
from distill.tokens.batches import pad_batch
from distill.tokens.tokenizer import CharTokenizer, StudentTokenizer, TeacherTokenizer, WordTokenizer

from ..conftest import distinct_rows

LABELS = ["neg", "pos"]
MAX_LENGTH = 24  # short, so the edge-case batch's long text is cut and still quick
EXTRA_TEXT = "iPhone ABC résumé café"  # Latin words, accents: the WordPiece cases beyond one token per character


@functools.cache
def review_texts(n: int = 48) -> tuple[list[str], list[int]]:
    rows = distinct_rows(n, seed=11)
    return [text for text, _ in rows], [LABELS.index(label) for _, label in rows]


@functools.cache
def student_tokenizer(kind: str) -> StudentTokenizer:
    texts, _ = review_texts()
    if kind == "char":
        return CharTokenizer.build(texts)
    if kind == "word":
        return WordTokenizer.build(texts)
    folder = Path(tempfile.mkdtemp(prefix="cld-test-teacher-tokenizer-"))
    return TeacherTokenizer(teachers.build_vocab_tokenizer([*texts, EXTRA_TEXT], folder))


@functools.cache
def _trained(architecture: str, kind: str, steps: int, flipped: bool) -> StudentModel:
    texts, labels = review_texts()
    tokenizer = student_tokenizer(kind)
    torch.manual_seed(0)
    cfg = StudentConfig(architecture=architecture, embedding_dim=16, hidden_size=16, num_layers=2,
                        pooling="attention" if architecture != "textcnn" else "max")
    model = build_student(cfg, tokenizer.vocab_size, len(LABELS))
    input_ids, attention_mask = pad_batch([tokenizer.encode(text, MAX_LENGTH) for text in texts], tokenizer.pad_id)
    targets = torch.tensor([1 - label for label in labels] if flipped else labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(input_ids, attention_mask), targets).backward()
        optimizer.step()
    return model.eval()


def trained_student(architecture: str, kind: str = "char", *, steps: int = 20, flipped: bool = False) -> StudentModel:
    """A real student (small sizes) after ``steps`` Adam steps on the review texts: confident, like a trained one."""
    return copy.deepcopy(_trained(architecture, kind, steps, flipped))


@functools.cache
def exported_student(architecture: str, kind: str = "char") -> export.Export:
    """``trained_student(architecture, kind)`` exported once per session (parity and standalone tests share it)."""
    folder = Path(tempfile.mkdtemp(prefix=f"cld-test-export-{architecture}-{kind}-"))
    texts, _ = review_texts()
    return export.export_student(trained_student(architecture, kind), student_tokenizer(kind), LABELS,
                                 folder / "student", folder / "student.zip", max_length=MAX_LENGTH, check_texts=texts)

"""Pair students: the siamese recurrent encoder splits ``first [SEP] second`` and reads each text alone."""
from __future__ import annotations

import pytest
import torch

from distill.config import StudentConfig
from distill.students import load_student, save_student
from distill.students.architectures import split_joined_pair
from distill.students.registry import build_student

SEP = 3


def test_it_splits_a_joined_batch_into_two_left_aligned_batches() -> None:
    input_ids = torch.tensor([[5, 6, 7, SEP, 8, 9], [5, SEP, 8, 9, 10, 0], [5, 6, 0, 0, 0, 0]])  # (3, 6)
    attention_mask = (input_ids != 0).long()

    (first_ids, first_mask), (second_ids, second_mask) = split_joined_pair(input_ids, attention_mask, SEP)

    assert first_ids.tolist() == [[5, 6, 7, 0, 0, 0], [5, 0, 0, 0, 0, 0], [5, 6, 0, 0, 0, 0]]
    assert second_ids.tolist() == [[8, 9, 0, 0, 0, 0], [8, 9, 10, 0, 0, 0], [0, 0, 0, 0, 0, 0]]  # no [SEP]: empty
    assert first_mask.sum(1).tolist() == [3, 1, 2] and second_mask.sum(1).tolist() == [2, 3, 0]


@pytest.mark.parametrize("architecture", ["bilstm", "bigru"])
def test_a_pairs_answer_does_not_depend_on_the_rows_padded_beside_it(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_student(StudentConfig(architecture=architecture, embedding_dim=16, hidden_size=16), 40, 2,
                          pair_separator_id=SEP).eval()
    alone = torch.tensor([[5, 6, SEP, 8]])
    batch = torch.tensor([[5, 6, SEP, 8, 0, 0, 0, 0, 0], [9, 10, 11, 12, SEP, 13, 14, 15, 16]])

    with torch.inference_mode():
        logits_alone = model(alone, torch.ones_like(alone))
        logits_batch = model(batch, (batch != 0).long())

    torch.testing.assert_close(logits_batch[:1], logits_alone, atol=1e-5, rtol=0)
    assert torch.isfinite(model(torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long))).all()  # no [SEP]


def test_the_pair_student_is_rebuilt_as_a_pair_student_from_its_saved_config(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_student(StudentConfig(embedding_dim=16, hidden_size=16), 40, 2, pair_separator_id=SEP).eval()
    ids = torch.tensor([[5, 6, SEP, 8, 9]])

    loaded = load_student(save_student(model, tmp_path / "student"))

    assert type(loaded) is type(model) and loaded.separator_id == SEP
    torch.testing.assert_close(loaded(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids)))
    # The matching features read both texts: the same first text with another second text changes the answer.
    other = torch.tensor([[5, 6, SEP, 30, 31]])
    assert not torch.allclose(model(other, torch.ones_like(other)), model(ids, torch.ones_like(ids)))

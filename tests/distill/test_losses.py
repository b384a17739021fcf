from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from distill.errors import ConfigError
from distill.training.losses import (
    IGNORE_INDEX,
    LOSSES,
    apply_virtual_labels,
    attention_mse_loss,
    get_soft_loss,
    hard_ce_loss,
    hard_weight_at,
    hidden_mse_loss,
    logit_mse_loss,
    soft_kl_loss,
)

STUDENT_LOGITS = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
TEACHER_LOGITS = torch.tensor([[2.0, 0.0], [0.0, 0.0]])


def _softmax(row: list[float], temperature: float) -> list[float]:
    exps = [math.exp(value / temperature) for value in row]
    return [value / sum(exps) for value in exps]


def _kl_by_hand(student: list[list[float]], teacher: list[list[float]], temperature: float) -> float:
    total = 0.0
    for s_row, t_row in zip(student, teacher):
        p_s, p_t = _softmax(s_row, temperature), _softmax(t_row, temperature)
        total += sum(t * math.log(t / s) for t, s in zip(p_t, p_s))
    return total / len(student)


def test_it_computes_soft_kl_as_hinton_with_t_squared() -> None:
    for temperature in (1.0, 2.0, 4.0):
        expected = temperature**2 * _kl_by_hand(STUDENT_LOGITS.tolist(), TEACHER_LOGITS.tolist(), temperature)
        got = soft_kl_loss(STUDENT_LOGITS, TEACHER_LOGITS, temperature).item()
        assert got == pytest.approx(expected, rel=1e-5)


def test_it_scales_soft_kl_by_t_squared_not_by_t() -> None:
    # KL at T=2 times 4 must equal the loss; without the factor it would be 4x smaller.
    raw = _kl_by_hand(STUDENT_LOGITS.tolist(), TEACHER_LOGITS.tolist(), 2.0)
    assert soft_kl_loss(STUDENT_LOGITS, TEACHER_LOGITS, 2.0).item() == pytest.approx(4 * raw, rel=1e-5)


def test_it_gives_zero_soft_loss_when_student_equals_teacher() -> None:
    assert soft_kl_loss(TEACHER_LOGITS, TEACHER_LOGITS, 3.0).item() == pytest.approx(0.0, abs=1e-7)
    assert logit_mse_loss(TEACHER_LOGITS, TEACHER_LOGITS).item() == 0.0


def test_it_computes_logit_mse_by_hand() -> None:
    # differences: [-1, 0], [0, 2] -> squares 1, 0, 0, 4 -> mean 5/4
    assert logit_mse_loss(STUDENT_LOGITS, TEACHER_LOGITS).item() == pytest.approx(1.25)


def test_it_sends_no_gradient_into_the_teacher() -> None:
    student = STUDENT_LOGITS.clone().requires_grad_(True)
    teacher = TEACHER_LOGITS.clone().requires_grad_(True)
    soft_kl_loss(student, teacher, 2.0).backward()
    assert student.grad is not None and teacher.grad is None


def test_it_computes_hard_ce_ignoring_unlabeled_rows() -> None:
    labels = torch.tensor([0, IGNORE_INDEX])
    expected = -math.log(_softmax([1.0, 0.0], 1.0)[0])
    assert hard_ce_loss(STUDENT_LOGITS, labels).item() == pytest.approx(expected, rel=1e-6)


def test_it_returns_zero_hard_loss_when_no_row_is_labeled() -> None:
    logits = STUDENT_LOGITS.clone().requires_grad_(True)
    loss = hard_ce_loss(logits, torch.tensor([IGNORE_INDEX, IGNORE_INDEX]))
    loss.backward()
    assert loss.item() == 0.0 and not math.isnan(loss.item())
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_it_gives_virtual_labels_only_to_confident_unlabeled_rows() -> None:
    labels = torch.tensor([IGNORE_INDEX, IGNORE_INDEX, 1, IGNORE_INDEX])
    teacher = torch.tensor([[3.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]])
    # top probabilities: 0.953, 0.525, (labeled row), 0.953
    got = apply_virtual_labels(labels, teacher, threshold=0.9)
    assert got.tolist() == [0, IGNORE_INDEX, 1, 1]
    assert labels.tolist() == [IGNORE_INDEX, IGNORE_INDEX, 1, IGNORE_INDEX]  # input untouched


def test_it_uses_threshold_as_inclusive_bound_and_zero_disables() -> None:
    labels = torch.tensor([IGNORE_INDEX])
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # top probability exactly 0.75
    assert apply_virtual_labels(labels, teacher, threshold=0.75).tolist() == [0]
    assert apply_virtual_labels(labels, teacher, threshold=0.76).tolist() == [IGNORE_INDEX]
    assert apply_virtual_labels(labels, teacher, threshold=0.0).tolist() == [IGNORE_INDEX]


def test_it_computes_hidden_mse_over_real_tokens_only() -> None:
    student = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    teacher = torch.tensor([[[0.0, 0.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 0]])
    # only token 0 counts: (1 + 4) / (1 token * 2 dims)
    assert hidden_mse_loss(student, teacher, None, mask).item() == pytest.approx(2.5)


def test_it_projects_student_hidden_to_teacher_width() -> None:
    projection = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    student = torch.tensor([[[1.0, 2.0]]])  # projected: [1, 2, 3]
    teacher = torch.tensor([[[1.0, 2.0, 5.0]]])
    assert hidden_mse_loss(student, teacher, projection, torch.ones(1, 1)).item() == pytest.approx(4 / 3)


def test_it_computes_attention_mse_over_real_pairs() -> None:
    student = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])  # (1, 1, 2, 2)
    teacher = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert attention_mse_loss(student, teacher, torch.ones(1, 2)).item() == pytest.approx(0.25)
    # only the (0, 0) pair is real: (0.5)^2 / 1
    assert attention_mse_loss(student, teacher, torch.tensor([[1, 0]])).item() == pytest.approx(0.25)
    student_two_heads = torch.cat([teacher, teacher], dim=1)  # 2 heads vs teacher's 1: head means compared
    assert attention_mse_loss(student_two_heads, teacher, torch.ones(1, 2)).item() == 0.0


def test_it_decays_hard_weight_linearly_to_zero() -> None:
    weights = [hard_weight_at(step, 4, 0.5, "linear_decay") for step in range(5)]
    assert weights == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0])
    assert hard_weight_at(10, 4, 0.5, "linear_decay") == 0.0
    assert hard_weight_at(3, 4, 0.5, "constant") == 0.5


def test_it_rejects_unknown_schedule_and_loss_names() -> None:
    with pytest.raises(ConfigError) as schedule_error:
        hard_weight_at(0, 10, 0.5, "cosine")
    assert schedule_error.value.code == "unknown_schedule"
    with pytest.raises(ConfigError) as loss_error:
        get_soft_loss("ce")
    assert loss_error.value.code == "unknown_loss"
    assert set(LOSSES) == {"kl", "mse"} and get_soft_loss("kl") is soft_kl_loss

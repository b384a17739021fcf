"""Distillation losses and the hard-label weight schedule.

Shapes: ``B`` rows, ``C`` classes, ``T`` tokens, ``H`` hidden units, ``h`` heads.
Teacher tensors carry no gradient; all losses are computed in float32 so mixed
precision does not distort small probabilities.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

IGNORE_INDEX = -100  # label of a row without a (virtual) label; cross-entropy skips it


def soft_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft-target loss of Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network".

    L = T² · (1/B) Σ_b KL(softmax(t_b / T) ‖ softmax(s_b / T))

    The T² factor keeps the gradient scale independent of T, so the soft and
    hard terms stay balanced when the temperature changes.
    """
    # student_logits, teacher_logits: (B, C)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)  # (B, C)
    teacher_log_probs = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)  # (B, C)
    kl = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


def logit_mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Logit regression of Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?".

    L = (1/(B·C)) Σ_b Σ_c (s_bc − t_bc)²

    ``temperature`` is accepted only so every soft loss has one signature;
    matching raw logits needs no softening.
    """
    # student_logits, teacher_logits: (B, C)
    return F.mse_loss(student_logits.float(), teacher_logits.detach().float())


def hard_ce_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on labeled rows: L = −(1/N) Σ_{b: y_b ≠ −100} log softmax(s_b)[y_b].

    A batch with no labeled row gives 0 (still attached to the graph), not NaN.
    """
    # student_logits (B, C), labels (B,)
    if not bool((labels != IGNORE_INDEX).any()):
        return student_logits.float().sum() * 0.0
    return F.cross_entropy(student_logits.float(), labels, ignore_index=IGNORE_INDEX)


def apply_virtual_labels(labels: torch.Tensor, teacher_logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Give unlabeled rows (label −100) the teacher's argmax when its top probability ≥ threshold.

    Self-training with confident pseudo-labels (Lee 2013; Xie et al. 2020).
    ``threshold`` 0 disables it: labels come back unchanged.
    """
    # labels (B,), teacher_logits (B, C) -> (B,)
    if threshold <= 0:
        return labels.clone()
    probs = teacher_logits.detach().float().softmax(dim=-1)  # (B, C)
    confidence, predicted = probs.max(dim=-1)  # (B,), (B,)
    virtual = (labels == IGNORE_INDEX) & (confidence >= threshold)  # (B,)
    return torch.where(virtual, predicted.to(labels.dtype), labels)


def hidden_mse_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, projection: nn.Linear | None,
                    mask: torch.Tensor) -> torch.Tensor:
    """Hidden-state matching of TinyBERT (Jiao et al. 2020): L = MSE(h_s · W, h_t) over real tokens.

    L = Σ_{b,t: mask=1} ‖W h_s[b,t] − h_t[b,t]‖² / (N_tokens · H_t)

    ``projection`` (W, H_s → H_t) is learnt with the student when the widths
    differ. Both sides must be tokenised alike (the student uses the teacher's
    tokenizer), so position t means the same token in both.
    """
    # student_hidden (B, T, H_s), teacher_hidden (B, T, H_t), mask (B, T)
    student = student_hidden.float() if projection is None else projection(student_hidden).float()  # (B, T, H_t)
    weights = mask.unsqueeze(-1).float()  # (B, T, 1)
    squared = (student - teacher_hidden.detach().float()).pow(2) * weights  # (B, T, H_t)
    return squared.sum() / (weights.sum().clamp(min=1) * teacher_hidden.shape[-1])


def attention_mse_loss(student_attentions: torch.Tensor, teacher_attentions: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
    """Attention matching of TinyBERT (Jiao et al. 2020), on attention probabilities.

    L = Σ_{b,h,i,j: mask_i = mask_j = 1} (A_s[b,h,i,j] − A_t[b,h,i,j])² / (N_pairs · h)

    TinyBERT matches pre-softmax scores; probabilities are what Hugging Face
    models return and are bounded, so padded positions cannot dominate. When the
    head counts differ, the head-averaged maps are compared.
    """
    # student_attentions (B, h_s, T, T), teacher_attentions (B, h_t, T, T), mask (B, T)
    student, teacher = student_attentions.float(), teacher_attentions.detach().float()
    if student.shape[1] != teacher.shape[1]:
        student, teacher = student.mean(dim=1, keepdim=True), teacher.mean(dim=1, keepdim=True)  # (B, 1, T, T)
    pair_mask = (mask.unsqueeze(2) * mask.unsqueeze(1)).unsqueeze(1).float()  # (B, 1, T, T)
    squared = (student - teacher).pow(2) * pair_mask  # (B, h, T, T)
    return squared.sum() / (pair_mask.sum().clamp(min=1) * student.shape[1])


HARD_WEIGHT_SCHEDULES = ("constant", "linear_decay")


def hard_weight_at(step: int, total_steps: int, base: float, schedule: str) -> float:
    """Weight of the hard loss at ``step`` (0-based): constant, or falling linearly to 0 at ``total_steps``.

    Decaying lets true labels steer early training, then hands over to the
    teacher's richer soft targets.
    """
    if schedule == "constant":
        return base
    if schedule == "linear_decay":
        if total_steps <= 0:
            return base
        return base * max(0.0, 1.0 - step / total_steps)
    raise ConfigError(f"unknown hard-weight schedule {schedule!r}; choose one of {', '.join(HARD_WEIGHT_SCHEDULES)}",
                      code="unknown_schedule", schedule=schedule)


SoftLoss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
LOSSES: dict[str, SoftLoss] = {"kl": soft_kl_loss, "mse": logit_mse_loss}


def get_soft_loss(name: str) -> SoftLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown soft loss {name!r}; choose one of {', '.join(LOSSES)}", code="unknown_loss",
                          loss=name) from None

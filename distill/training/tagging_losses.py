"""Losses of tagging (sequence-labelling) students: per-token soft and hard losses, the CRF likelihood,
and emission-score distillation.

Shapes: ``B`` rows, ``T`` tokens, ``C`` tags. A position counts only where its mask is on: the
attention mask, and for hard losses a label other than −100 (special tokens, unlabelled rows or
sub-words); for soft losses, the positions the teacher has an output for. Every mean is over those
positions, so a batch's padding never weighs in; a batch with none gives 0 (still attached to the
graph), not NaN. As in ``losses``, teacher tensors carry no gradient and the maths is float32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchcrf import CRF

from ..config import MODES
from ..errors import ConfigError
from ..students.taggers import left_align
from .losses import IGNORE_INDEX

TAGGING_SOFT_LOSSES = ("kl", "mse")  # TrainConfig.soft_loss: token KL, or emission MSE


def labelled_positions(attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Where a hard loss counts: real tokens whose label is not −100. (B, T) bool."""
    return attention_mask.bool() & (labels != IGNORE_INDEX)


def _zero(student_emissions: torch.Tensor) -> torch.Tensor:
    return student_emissions.float().sum() * 0.0


def token_kl_loss(student_emissions: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """Hinton, Vinyals & Dean 2015 per token: the soft-target loss of ``losses.soft_kl_loss`` at every position.

    L = T² · (1/N) Σ_{b,t: mask=1} KL(softmax(t_bt / T) ‖ softmax(s_bt / T)),  N = Σ mask

    the word-level distillation of Kim & Rush 2016 ("Sequence-Level Knowledge Distillation") with
    Hinton's temperature. T² keeps the gradient scale independent of T.
    """
    # student_emissions, teacher_logits (B, T, C), mask (B, T)
    mask = mask.bool()
    if not bool(mask.any()):
        return _zero(student_emissions)
    student_log_probs = F.log_softmax(student_emissions[mask].float() / temperature, dim=-1)  # (N, C)
    teacher_log_probs = F.log_softmax(teacher_logits[mask].detach().float() / temperature, dim=-1)  # (N, C)
    kl = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return kl * temperature**2


def emission_mse_loss(student_emissions: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """Emission-score distillation: Ba & Caruana's logit regression at every position.

    L = (1/(N·C)) Σ_{b,t: mask=1} Σ_c (s_btc − t_btc)²,  N = Σ mask

    For a CRF student this matches its emissions (the CRF's unary scores) to the teacher's per-token
    logits, while the CRF's transitions learn from hard labels (the issue's "hard labels plus
    distillation of the emission scores"; logit matching as in Ba & Caruana 2014, "Do Deep Nets
    Really Need to be Deep?"). ``temperature`` is accepted only so both soft losses share a signature.
    """
    # student_emissions, teacher_logits (B, T, C), mask (B, T)
    mask = mask.bool()
    if not bool(mask.any()):
        return _zero(student_emissions)
    return F.mse_loss(student_emissions[mask].float(), teacher_logits[mask].detach().float())


def token_ce_loss(student_emissions: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy: L = −(1/N) Σ_{b,t: real, y_bt ≠ −100} log softmax(s_bt)[y_bt]."""
    # student_emissions (B, T, C), labels (B, T), attention_mask (B, T)
    mask = labelled_positions(attention_mask, labels)  # (B, T)
    if not bool(mask.any()):
        return _zero(student_emissions)
    return F.cross_entropy(student_emissions[mask].float(), labels[mask])


def crf_nll_loss(crf: CRF, student_emissions: torch.Tensor, labels: torch.Tensor,
                 attention_mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of the true tag sequence under a linear-chain CRF (Lafferty et al. 2001).

    L = −(1/N) Σ_b [score_b(y_b) − log Σ_y' exp score_b(y')],  N = Σ_b n_b labelled tokens, where
    score_b(y) = start[y_1] + Σ_i (e_b,i[y_i] + A[y_(i−1), y_i]) + end[y_n] runs over row b's labelled
    positions in order (unlabelled ones such as [CLS] are skipped, not scored as a tag). Dividing by
    tokens, not rows, keeps the scale of ``token_ce_loss``, so TrainConfig's hard_weight means the same.
    """
    # student_emissions (B, T, C), labels (B, T), attention_mask (B, T)
    mask = labelled_positions(attention_mask, labels)  # (B, T)
    emissions, tags, aligned_mask = left_align(student_emissions.float(), labels, mask)  # (B, T, C), (B, T), (B, T)
    rows = aligned_mask[:, 0]  # (B,): rows with at least one labelled token; torchcrf needs the first on
    if not bool(rows.any()):
        return _zero(student_emissions)
    assert tags is not None
    tags = tags.clamp(min=0)  # positions past a row's labels hold −100; torchcrf masks them but still indexes
    log_likelihood = crf(emissions[rows], tags[rows], aligned_mask[rows], reduction="sum")
    return -log_likelihood / aligned_mask.sum()


def tagging_loss(student_emissions: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                 teacher_logits: torch.Tensor | None = None, teacher_mask: torch.Tensor | None = None, *,
                 crf: CRF | None = None, mode: str = "soft", soft_loss: str = "kl", temperature: float = 2.0,
                 soft_weight: float = 1.0, hard_weight: float = 0.5) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss of a tagger and its parts ({"loss_soft", "loss_hard"}), with TrainConfig's meanings.

    mode "hard": the hard loss alone (the labels-only baseline); "soft": soft_weight · soft;
    "semi": soft_weight · soft + hard_weight · hard (the caller applies hard_weight_at's schedule).
    The hard loss is the CRF's NLL when ``crf`` is given, else token cross-entropy; the soft loss is
    token KL (soft_loss "kl") or emission MSE ("mse", the issue's recipe for a CRF student).
    ``teacher_mask`` (B, T) marks the positions the teacher has logits for; None = every real token.
    """
    # student_emissions (B, T, C), attention_mask (B, T), labels (B, T), teacher_logits (B, T, C)
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}", code="unknown_mode", mode=mode)
    if soft_loss not in TAGGING_SOFT_LOSSES:
        raise ConfigError(f"unknown soft loss {soft_loss!r}; choose one of {', '.join(TAGGING_SOFT_LOSSES)}",
                          code="unknown_loss", loss=soft_loss)

    def hard() -> torch.Tensor:
        if crf is None:
            return token_ce_loss(student_emissions, labels, attention_mask)
        return crf_nll_loss(crf, student_emissions, labels, attention_mask)

    if mode == "hard":
        components = {"loss_hard": hard()}
        return components["loss_hard"], components
    if teacher_logits is None:
        raise ValueError(f"mode {mode!r} needs the teacher's logits")
    mask = attention_mask.bool() if teacher_mask is None else attention_mask.bool() & teacher_mask.bool()  # (B, T)
    soft = token_kl_loss if soft_loss == "kl" else emission_mse_loss
    components = {"loss_soft": soft(student_emissions, teacher_logits, mask, temperature),
                  "loss_hard": _zero(student_emissions)}
    loss = soft_weight * components["loss_soft"]
    if mode == "semi" and bool(labelled_positions(attention_mask, labels).any()):
        components["loss_hard"] = hard()
        loss = loss + hard_weight * components["loss_hard"]
    return loss, components

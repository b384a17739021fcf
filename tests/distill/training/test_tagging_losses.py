"""Tagging losses count exactly the positions their masks hold, match their formulas, and pass gradients."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchcrf import CRF

from distill.errors import ConfigError
from distill.training.losses import IGNORE_INDEX, soft_kl_loss
from distill.training.tagging_losses import (crf_nll_loss, emission_mse_loss, labelled_positions, tagging_loss,
                                             token_ce_loss, token_kl_loss)

TAGS = 4


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Student emissions and teacher logits (3, 6, C), the attention mask (3, 6), labels (3, 6) with -100 at [CLS]."""
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(3, 6, TAGS, generator=generator)
    teacher = torch.randn(3, 6, TAGS, generator=generator) * 2
    attention_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    labels = torch.randint(0, TAGS, (3, 6), generator=generator)
    labels[:, 0] = IGNORE_INDEX  # the first position has no tag, as a [CLS] would
    labels[0, 3] = IGNORE_INDEX  # nor an unlabelled sub-word inside a text
    labels[attention_mask == 0] = IGNORE_INDEX
    return student, teacher, attention_mask, labels


SOFT_LOSSES: dict[str, Callable[..., torch.Tensor]] = {"kl": token_kl_loss, "mse": emission_mse_loss}


@pytest.mark.parametrize("name", sorted(SOFT_LOSSES))
def test_it_gives_zero_soft_loss_when_the_student_is_the_teacher(name: str) -> None:
    _, teacher, attention_mask, _ = _batch()
    loss = SOFT_LOSSES[name](teacher.clone(), teacher, attention_mask, 2.0)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_it_computes_token_kl_as_hintons_loss_over_the_real_tokens() -> None:
    student, teacher, attention_mask, _ = _batch()
    real = attention_mask.bool()
    # The per-token loss is the text loss over the real tokens taken as rows.
    expected = soft_kl_loss(student[real], teacher[real], 3.0)
    torch.testing.assert_close(token_kl_loss(student, teacher, attention_mask, 3.0), expected)


def test_it_computes_emission_mse_over_the_real_tokens_and_tags() -> None:
    student, teacher, attention_mask, _ = _batch()
    squared = (student - teacher).pow(2) * attention_mask.unsqueeze(-1)  # (B, T, C)
    expected = squared.sum() / (attention_mask.sum() * TAGS)
    torch.testing.assert_close(emission_mse_loss(student, teacher, attention_mask), expected)


def test_it_computes_token_cross_entropy_over_labelled_real_tokens() -> None:
    student, _, attention_mask, labels = _batch()
    keep = labelled_positions(attention_mask, labels)
    assert int(keep.sum()) == 4 + 3 + 1  # row 0 loses [CLS] and a sub-word, the others [CLS] and padding
    expected = torch.nn.functional.cross_entropy(student[keep], labels[keep])
    torch.testing.assert_close(token_ce_loss(student, labels, attention_mask), expected)


LOSSES_UNDER_TEST: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "kl": lambda s, t, m, y: token_kl_loss(s, t, labelled_positions(m, y), 2.0),
    "mse": lambda s, t, m, y: emission_mse_loss(s, t, labelled_positions(m, y)),
    "ce": lambda s, t, m, y: token_ce_loss(s, y, m),
    "crf": lambda s, t, m, y: crf_nll_loss(_crf(), s, y, m),
}


def _crf(seed: int = 0) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(TAGS, batch_first=True)
    with torch.no_grad():
        crf.transitions.normal_()
    return crf


@pytest.mark.parametrize("name", sorted(LOSSES_UNDER_TEST))
def test_it_ignores_what_the_masks_hide_and_passes_gradients_to_the_rest(name: str) -> None:
    student, teacher, attention_mask, labels = _batch()
    loss_of = LOSSES_UNDER_TEST[name]
    hidden = ~labelled_positions(attention_mask, labels)  # padding, [CLS], the sub-word
    changed_student, changed_teacher = student.clone(), teacher.clone()
    changed_student[hidden] = torch.randn(int(hidden.sum()), TAGS) * 10
    changed_teacher[hidden] = torch.randn(int(hidden.sum()), TAGS) * 10
    changed_labels = labels.clone()
    changed_labels[attention_mask == 0] = 2  # a label under padding must not count either
    torch.testing.assert_close(loss_of(changed_student, changed_teacher, attention_mask, changed_labels),
                               loss_of(student, teacher, attention_mask, labels))

    student.requires_grad_(True)
    loss = loss_of(student, teacher, attention_mask, labels)
    loss.backward()
    assert student.grad is not None
    assert bool((student.grad[~hidden].abs().sum(dim=-1) > 0).all())  # every counted position learns
    assert float(student.grad[hidden].abs().sum()) == 0.0  # and nothing else does


def test_it_matches_torchcrf_on_prefix_masks_per_token() -> None:
    student, _, attention_mask, labels = _batch()
    labels[:, 0] = 1  # every real position labelled: torchcrf's own masking applies unchanged
    labels[0, 3] = 2
    crf = _crf()
    expected = -crf(student, labels.clamp(min=0), attention_mask.bool(), reduction="token_mean")
    torch.testing.assert_close(crf_nll_loss(crf, student, labels, attention_mask), expected)


def test_it_scores_the_crf_chain_over_labelled_positions_only() -> None:
    student, _, attention_mask, labels = _batch()
    crf = _crf()
    keep = labelled_positions(attention_mask, labels)
    # Row by row, the same loss as torchcrf on the labelled positions alone: [CLS] and the sub-word are skipped.
    total = sum(-crf(student[row:row + 1, keep[row]], labels[row:row + 1, keep[row]],
                     torch.ones(1, int(keep[row].sum()), dtype=torch.bool), reduction="sum") for row in range(3))
    torch.testing.assert_close(crf_nll_loss(crf, student, labels, attention_mask), total / keep.sum())


def test_it_gives_a_small_crf_loss_when_the_emissions_pick_the_true_tags() -> None:
    student, _, attention_mask, labels = _batch()
    crf = _crf()
    confident = torch.nn.functional.one_hot(labels.clamp(min=0), TAGS).float() * 50  # (B, T, C)
    with torch.no_grad():
        assert float(crf_nll_loss(crf, confident, labels, attention_mask)) < 1e-3
        assert float(crf_nll_loss(crf, student, labels, attention_mask)) > 0.5


@pytest.mark.parametrize("name", sorted(LOSSES_UNDER_TEST))
def test_it_gives_zero_not_nan_when_nothing_counts(name: str) -> None:
    student, teacher, attention_mask, labels = _batch()
    student.requires_grad_(True)
    loss = LOSSES_UNDER_TEST[name](student, teacher, attention_mask, torch.full_like(labels, IGNORE_INDEX))
    assert float(loss.detach()) == 0.0
    loss.backward()  # still attached to the graph, so a training step on such a batch does not fail


def test_it_combines_the_losses_with_the_train_configs_weights() -> None:
    student, teacher, attention_mask, labels = _batch()
    crf = _crf()
    weights = {"temperature": 3.0, "soft_weight": 0.7, "hard_weight": 0.2}
    kl = token_kl_loss(student, teacher, attention_mask, 3.0)
    ce = token_ce_loss(student, labels, attention_mask)
    nll = crf_nll_loss(crf, student, labels, attention_mask)
    mse = emission_mse_loss(student, teacher, attention_mask)

    loss, parts = tagging_loss(student, attention_mask, labels, teacher, mode="semi", **weights)
    torch.testing.assert_close(loss, 0.7 * kl + 0.2 * ce)
    torch.testing.assert_close(parts["loss_soft"], kl)
    loss, parts = tagging_loss(student, attention_mask, labels, teacher, crf=crf, mode="semi", soft_loss="mse",
                               **weights)
    torch.testing.assert_close(loss, 0.7 * mse + 0.2 * nll)  # the CRF student: hard labels + emission scores
    loss, parts = tagging_loss(student, attention_mask, labels, teacher, mode="soft", **weights)
    torch.testing.assert_close(loss, 0.7 * kl)
    assert float(parts["loss_hard"]) == 0.0
    loss, parts = tagging_loss(student, attention_mask, labels, None, crf=crf, mode="hard", **weights)
    torch.testing.assert_close(loss, nll)
    assert "loss_soft" not in parts


def test_it_distils_only_where_the_teacher_has_logits() -> None:
    student, teacher, attention_mask, labels = _batch()
    teacher_mask = torch.ones_like(attention_mask)
    teacher_mask[:, 0] = 0  # the teacher gave [CLS] nothing
    loss, _ = tagging_loss(student, attention_mask, labels, teacher, teacher_mask, mode="soft")
    torch.testing.assert_close(loss, token_kl_loss(student, teacher, attention_mask.bool() & teacher_mask.bool(), 2.0))


def test_it_refuses_an_unknown_soft_loss_or_mode_and_a_missing_teacher() -> None:
    student, teacher, attention_mask, labels = _batch()
    with pytest.raises(ConfigError) as caught:
        tagging_loss(student, attention_mask, labels, teacher, soft_loss="cosine")
    assert caught.value.code == "unknown_loss"
    with pytest.raises(ConfigError) as caught:
        tagging_loss(student, attention_mask, labels, teacher, mode="teacher")
    assert caught.value.code == "unknown_mode"
    with pytest.raises(ValueError, match="teacher"):
        tagging_loss(student, attention_mask, labels, None, mode="semi")

"""Teacher-MLM sampling on a tiny BertForMaskedLM: only the chosen words change, the same seed draws the same."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill.errors import TeacherUnavailable
from distill.transfer import MlmSampler, mlm_head_available
from distill.transfer.generators import changeable, segment

from .conftest import REVIEWS


@pytest.fixture(scope="module")
def sampler(tiny_mlm_folder: Path) -> MlmSampler:
    return MlmSampler.from_folder(tiny_mlm_folder, "cpu")


@pytest.fixture(scope="module")
def classifier_folder(tiny_mlm_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fine-tuned or demo teacher is: the same encoder with a classification head and no MLM head."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    config = BertConfig.from_pretrained(tiny_mlm_folder, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_mlm_folder).save_pretrained(folder)
    return folder


def test_it_tells_a_masked_lm_checkpoint_from_a_classifier(tiny_mlm_folder: Path, classifier_folder: Path,
                                                           tmp_path: Path) -> None:
    assert mlm_head_available(tiny_mlm_folder)
    assert not mlm_head_available(classifier_folder)
    assert not mlm_head_available(tmp_path)  # no weights at all
    with pytest.raises(TeacherUnavailable):
        MlmSampler.from_folder(classifier_folder, "cpu")


def test_it_changes_exactly_the_planned_words_and_nothing_else(sampler: MlmSampler) -> None:
    word_lists = [segment(text) for text in REVIEWS]
    rng = np.random.default_rng(0)

    plans = sampler.plan(word_lists, 0.4, rng)
    filled = sampler.fill(word_lists, plans, top_k=15, rng=rng, batch_size=8)

    chosen_total = 0
    for words, plan, new in zip(word_lists, plans, filled):
        assert plan and len(new) == len(words)
        assert all(changeable(words[index]) for index in plan)
        changed = {index for index, (old, replaced) in enumerate(zip(words, new)) if old != replaced}
        assert changed == set(plan)  # every masked word re-drawn (its own token left out), no other touched
        for index in plan:
            # The tiny vocabulary holds single characters: a word of n characters comes back as n characters.
            assert len(new[index]) == len(words[index]) and new[index].isalnum()  # no punctuation, no [UNK]
        chosen_total += len(plan)
    words_total = sum(changeable(word) for words in word_lists for word in words)
    assert 0.3 < chosen_total / words_total < 0.5  # whole words chosen with probability 0.4


def test_it_draws_the_same_words_under_the_same_seed_in_any_batch_size(sampler: MlmSampler) -> None:
    word_lists = [segment(text) for text in REVIEWS]

    first = sampler.sample(word_lists, 0.4, 15, np.random.default_rng(3), batch_size=4)
    again = sampler.sample(word_lists, 0.4, 15, np.random.default_rng(3), batch_size=40)
    other = sampler.sample(word_lists, 0.4, 15, np.random.default_rng(4), batch_size=4)

    assert first == again and first != other
    assert all(words is not None and "".join(words) != text for words, text in zip(first, REVIEWS))
    assert sampler.sample([["，", "。"]], 0.4, 15, np.random.default_rng(0)) == [None]  # nothing to re-draw


def test_it_draws_only_from_the_masked_lms_top_k(tiny_mlm_folder: Path) -> None:
    sampler = MlmSampler.from_folder(tiny_mlm_folder, "cpu")
    words = segment(REVIEWS[0])
    plan = [[next(index for index, word in enumerate(words) if len(word) == 1 and changeable(word))]]
    ids = [sampler.cls_id, *[piece for pieces in sampler.pieces(words) for piece in pieces], sampler.sep_id]
    position = 1 + sum(len(pieces) for pieces in sampler.pieces(words[:plan[0][0]]))
    original = ids[position]
    ids[position] = sampler.mask_id
    with torch.no_grad():
        scores = sampler.model(input_ids=torch.tensor([ids])).logits[0, position]  # (V,)
    scores[sampler._banned] = float("-inf")
    scores[original] = float("-inf")
    allowed = set(sampler.tokenizer.convert_ids_to_tokens(scores.topk(3).indices.tolist()))

    drawn = {sampler.fill([words], plan, top_k=3, rng=np.random.default_rng(seed))[0][plan[0][0]]
             for seed in range(40)}

    assert drawn <= allowed and len(drawn) > 1


def test_it_never_draws_the_token_that_was_there(tiny_mlm_folder: Path) -> None:
    sampler = MlmSampler.from_folder(tiny_mlm_folder, "cpu")
    favourite = sampler.tokenizer.convert_tokens_to_ids("好")
    with torch.no_grad():
        sampler.model.cls.predictions.bias[favourite] = 50.0  # the masked-LM now all but always says "好"
    words = ["这", "好", "吃", "。"]

    elsewhere = sampler.fill([words], [[0]], top_k=5, rng=np.random.default_rng(0))[0]
    in_its_place = [sampler.fill([words], [[1]], top_k=5, rng=np.random.default_rng(seed))[0] for seed in range(20)]

    assert elsewhere == ["好", "好", "吃", "。"]  # the model's favourite is drawn where it was not
    assert all(new[1] != "好" and new[0::2] == ["这", "吃"] for new in in_its_place)  # but never where it was

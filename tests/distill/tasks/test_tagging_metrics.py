"""Entity-level scores of the tagging task, and the worst sentences the report shows."""
from __future__ import annotations

import pytest

from distill.tasks.tagging_metrics import entity_metrics, worst_sentences
from distill.tasks.tagging_schemes import spans_to_bio

TEXTS = ["江泽民在北京", "联合国秘书长", "他说"]
GOLD = [spans_to_bio(6, [(0, 3, "PER"), (4, 6, "LOC")]), spans_to_bio(6, [(0, 3, "ORG")]), ["O", "O"]]
# Sentence 1: the person right, the place one character short; sentence 2: the organisation right and a
# spurious person; sentence 3: right.
PREDICTED = [spans_to_bio(6, [(0, 3, "PER"), (4, 5, "LOC")]), spans_to_bio(6, [(0, 3, "ORG"), (3, 5, "PER")]),
             ["O", "O"]]


def test_it_scores_entities_exactly_per_type_and_overall() -> None:
    scores = entity_metrics(GOLD, PREDICTED)
    # 3 gold entities, 4 predicted, 2 of them exactly right.
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert scores["per_type"] == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
    }
    assert scores["macro_f1"] == pytest.approx((0 + 1 + 2 / 3) / 3)
    assert scores["token_accuracy"] == pytest.approx(11 / 14)  # one LOC character and two PER ones wrong
    assert (scores["entities"], scores["sentences"]) == (3, 3)


def test_it_counts_a_prediction_without_b_as_conlleval_does() -> None:
    scores = entity_metrics([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    assert scores["f1"] == 1.0


def test_it_answers_zero_for_a_corpus_without_entities() -> None:
    scores = entity_metrics([["O", "O"]], [["O", "O"]])
    assert (scores["f1"], scores["macro_f1"], scores["entities"], scores["per_type"]) == (0.0, 0.0, 0, {})
    assert scores["token_accuracy"] == 1.0


def test_it_refuses_sequences_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="sentence 0 has 2 gold tags but 3 predicted"):
        entity_metrics([["O", "O"]], [["O", "O", "O"]])
    with pytest.raises(ValueError, match="1 gold sentences but 2 predicted"):
        entity_metrics([["O"]], [["O"], ["O"]])


def test_it_lists_the_sentences_with_the_most_entity_errors_first() -> None:
    worst = worst_sentences(TEXTS, GOLD, PREDICTED, n=5)
    assert [(item["index"], item["errors"], item["missed"], item["spurious"]) for item in worst] == \
        [(0, 2, 1, 1), (1, 1, 0, 1)]  # the right sentence is not listed
    assert worst[0]["gold"] == [{"start": 0, "end": 3, "label": "PER", "text": "江泽民"},
                                {"start": 4, "end": 6, "label": "LOC", "text": "北京"}]
    assert worst[0]["predicted"][1] == {"start": 4, "end": 5, "label": "LOC", "text": "北"}
    assert worst[1]["predicted"][1]["text"] == "秘书"
    assert [item["index"] for item in worst_sentences(TEXTS, GOLD, PREDICTED, n=1)] == [0]

"""Scores for the tagging task: entity-level precision, recall and F1 (seqeval), and the worst sentences.

An entity counts as found only when its type and both its ends match the gold
one (CoNLL's rule; seqeval's default mode, which reads a prediction as conlleval
does, so an I-X after O starts an entity instead of being thrown away). Token
accuracy is reported beside it for reference; with most characters O it is
always high and says little.

seqeval (and scikit-learn beneath it) is imported when scores are computed, not
when the tasks package is: the web process imports the tasks to read corpora.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from .tagging_schemes import Span, bio_to_spans


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level scores of ``predicted`` BIO sequences against ``gold`` ones (the same lengths).

    Returns ``precision``, ``recall``, ``f1`` (micro: over all entities), ``macro_f1`` (the mean of the
    per-type F1s, every type counting once however rare), ``token_accuracy``, ``entities`` (gold count),
    ``sentences`` and ``per_type``: ``{type: {"precision", "recall", "f1", "support"}}`` for every type
    in gold or predictions. Scores with nothing to divide by (no entity anywhere) are 0.0.
    """
    from seqeval.metrics import accuracy_score, classification_report

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index} has {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
    gold_lists = [list(tags) for tags in gold]
    predicted_lists = [list(tags) for tags in predicted]
    with warnings.catch_warnings():
        # An all-O corpus makes seqeval average an empty list; that case is answered below as 0.0.
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold_lists, predicted_lists, output_dict=True, zero_division=0)
    micro = report.pop("micro avg")
    macro = report.pop("macro avg")
    report.pop("weighted avg", None)
    per_type = {kind: {"precision": float(row["precision"]), "recall": float(row["recall"]),
                       "f1": float(row["f1-score"]), "support": int(row["support"])}
                for kind, row in sorted(report.items())}
    tokens = sum(len(tags) for tags in gold_lists)
    return {
        "precision": float(micro["precision"]), "recall": float(micro["recall"]), "f1": float(micro["f1-score"]),
        "macro_f1": float(macro["f1-score"]) if per_type else 0.0,
        "token_accuracy": float(accuracy_score(gold_lists, predicted_lists)) if tokens else 0.0,
        "entities": sum(row["support"] for row in per_type.values()),
        "sentences": len(gold_lists),
        "per_type": per_type,
    }


def worst_sentences(texts: Sequence[str], gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                    n: int) -> list[dict[str, Any]]:
    """The ``n`` sentences with the most entity errors, most first (ties in corpus order), for the report.

    An error is a gold entity not predicted exactly (missed) or a predicted one not in gold (spurious),
    so a right span with the wrong type counts twice. Each item: ``index``, ``text``, ``errors``,
    ``missed``, ``spurious``, and ``gold`` / ``predicted`` entities as ``{"start", "end", "label", "text"}``.
    Sentences without errors are never listed.
    """
    scored: list[tuple[int, int, dict[str, Any]]] = []
    for index, (text, gold_tags, predicted_tags) in enumerate(zip(texts, gold, predicted)):
        gold_spans, predicted_spans = bio_to_spans(gold_tags), bio_to_spans(predicted_tags)
        missed = len(set(gold_spans) - set(predicted_spans))
        spurious = len(set(predicted_spans) - set(gold_spans))
        if missed + spurious:
            scored.append((-(missed + spurious), index, {
                "index": index, "text": text, "errors": missed + spurious, "missed": missed, "spurious": spurious,
                "gold": _entities(text, gold_spans), "predicted": _entities(text, predicted_spans)}))
    scored.sort(key=lambda item: item[:2])
    return [item for _, _, item in scored[:n]]


def _entities(text: str, spans: list[Span]) -> list[dict[str, Any]]:
    return [{"start": start, "end": end, "label": kind, "text": text[start:end]} for start, end, kind in spans]

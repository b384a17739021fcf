"""What the web shows about an uploaded corpus: its rows, labels and skipped rows, and the split a run would make.

The file is read once and streamed into a row store in a scratch folder, so a
corpus larger than RAM can be inspected; nothing is kept per row afterwards.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DataConfig
from ..errors import CorpusError
from ..tasks.tagging_schemes import split_tag
from .examples import Example, SkippedRow
from .reading import CorpusStream
from .splits import SKIPPED_SHOWN, prepare_splits


@dataclass
class CorpusInspection:
    format: str  # "csv", "tsv" or "jsonl", as detected
    encoding: str  # the codec the file was read with
    columns: list[str]  # CSV header or JSON keys
    has_label_column: bool  # False: the label column does not exist, so every row is unlabeled
    rows: int  # usable rows read, duplicates included
    label_counts: dict[str, int]  # usable rows per label, most frequent first (ties by label)
    report: dict[str, Any]  # CorpusReport.to_dict() of the split a run would make; {} when split_error is set
    split_error: CorpusError | None  # the file reads, but a run could not split it (e.g. a single class)
    skipped: dict[str, Any]  # SkippedRows.to_dict(first=SKIPPED_SHOWN); {} when no row was skipped
    # The tagging task has no label per row: its sentences with tags, and entities per type (most first).
    tagged_rows: int = 0
    entity_counts: dict[str, int] = field(default_factory=dict)


def inspect_corpus(path: str | Path, text_column: str, label_column: str, *, encoding: str = "",
                   max_text_chars: int = DataConfig.max_text_chars, name: str | None = None,
                   scratch_dir: str | Path | None = None, task: str = "single",
                   text_pair_column: str = "") -> CorpusInspection:
    """Read ``path`` with these columns as a run would, and split it with the defaults a run uses (``DataConfig``).

    ``encoding`` "" detects the codec, else forces it. ``name`` is the file's name
    in split messages (the user's, not the stored one; default ``path``); ``scratch_dir`` holds the row
    store while it is split (the system temporary folder when None). Raises
    ``CorpusError`` when the file cannot be read with these columns; a file that
    reads but cannot be split is answered with ``split_error`` instead, so the
    user can pick another label column. ``task`` "pair" with ``text_pair_column`` reads two texts a row,
    as a pair run does (a row whose second text is empty is skipped, like one whose first is).
    """
    defaults = DataConfig()
    stream = CorpusStream(path, text_column, label_column, max_text_chars=max_text_chars, encoding=encoding,
                          max_bad_row_share=defaults.max_bad_row_share, task=task, text_pair_column=text_pair_column)
    counts: Counter[str] = Counter()
    entities: Counter[str] = Counter()
    rows = tagged = 0
    read_to_the_end = False

    def counted() -> Iterator[Example]:
        # Counts raw rows as they stream past, so the file is read once and never held in memory.
        nonlocal rows, tagged, read_to_the_end
        for example in stream:
            rows += 1
            if example.label is not None:
                counts[example.label] += 1
            if example.tags is not None:
                tagged += 1
                # Tags are character-level BIO (tasks/tagging.py), so each B- starts one entity.
                entities.update(kind for prefix, kind in map(split_tag, example.tags) if prefix == "B" and kind)
            yield example
        read_to_the_end = True

    report: dict[str, Any] = {}
    split_error: CorpusError | None = None
    with tempfile.TemporaryDirectory(prefix="analyse-", dir=scratch_dir) as scratch:
        try:
            report = prepare_splits(
                counted(), None, None, dev_fraction=defaults.dev_fraction, test_fraction=defaults.test_fraction,
                seed=defaults.split_seed, task=task, path=str(path) if name is None else name, directory=scratch,
            ).report.to_dict()
        except CorpusError as error:
            if not read_to_the_end:
                raise  # the file cannot be read with these columns
            split_error = error
    return CorpusInspection(
        format=stream.format, encoding=stream.encoding, columns=list(stream.columns),
        has_label_column=stream.has_label_column, rows=rows,
        label_counts=dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        report=report, split_error=split_error,
        skipped=stream.skipped.to_dict(first=SKIPPED_SHOWN) if stream.skipped.total else {}, tagged_rows=tagged,
        entity_counts=dict(sorted(entities.items(), key=lambda item: (-item[1], item[0]))))


def list_skipped_rows(path: str | Path, text_column: str, label_column: str, *, encoding: str = "",
                      max_text_chars: int = DataConfig.max_text_chars, task: str = "single",
                      text_pair_column: str = "") -> list[SkippedRow]:
    """Every row the reader leaves out of an accepted corpus, read again from the file (nothing stored per row).

    Listed whatever share of the rows is bad, since the corpus was accepted when it was inspected.
    """
    stream = CorpusStream(path, text_column, label_column, max_text_chars=max_text_chars, encoding=encoding,
                          max_bad_row_share=1.0, task=task, text_pair_column=text_pair_column)
    for _ in stream:
        pass
    return list(stream.skipped.rows)

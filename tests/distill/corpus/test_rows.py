"""Rows on disk: the corpus is streamed once, deduplicated and split as arrays, and read back lazily."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from distill.corpus.examples import Example
from distill.corpus.reading import CorpusStream
from distill.corpus.rows import NO_LABEL, RowView, TextView, write_row_store
from distill.corpus.splits import prepare_splits
from distill.datasets import write_random_corpus
from distill.tasks import get_task, join_pair

def test_it_round_trips_every_field_of_a_row_through_the_store(tmp_path: Path) -> None:
    examples = [Example("好评", "pos", 2), Example("", None, 3), Example("差评 ", "neg", 5, text_pair="第二句"),
                Example("标注", None, 7, tags=("B-PER", "O"))]
    names: dict[str, int] = {}
    store = write_row_store(iter(examples), tmp_path / "store", get_task("single"), names, "c.csv")
    view = RowView(store, np.arange(len(store)), store.label_ids, sorted(names, key=names.get))
    assert list(view) == examples
    assert view[1:3] == examples[1:3]
    # A row with a second text reads as the joined pair (tasks/pair.py), the others as their text.
    assert list(view.texts) == ["好评", "", join_pair("差评 ", "第二句"), "标注"]
    assert view.texts[::2] == ["好评", join_pair("差评 ", "第二句")]
    assert store.lines.tolist() == [2, 3, 5, 7] and store.label_ids.tolist() == [0, NO_LABEL, 1, NO_LABEL]
    assert store.texts[-1] == "标注" and view[-1] == examples[-1]
    # The key is the task's: NFKC + strip, so "差评 " and "差评" are one text.
    again = write_row_store(iter([Example("差评", "neg", 9)]), tmp_path / "again", get_task("single"), names, "d.csv")
    assert again.keys[0] == store.keys[2] and again.keys[0] != store.keys[0]


def test_it_gives_the_same_splits_from_a_stream_as_from_examples_in_memory(tmp_path: Path) -> None:
    path = write_random_corpus(tmp_path / "c.csv", rows=600, chars=12)
    from_memory = prepare_splits(list(CorpusStream(path)), None, None, dev_fraction=0.1, test_fraction=0.1, seed=4)
    streamed = prepare_splits(CorpusStream(path), None, None, dev_fraction=0.1, test_fraction=0.1, seed=4,
                              directory=tmp_path / "rows")
    for name in ("train", "dev", "test"):
        assert list(getattr(streamed, name)) == list(getattr(from_memory, name))
    assert streamed.report == from_memory.report and streamed.report.duplicate_rows == 60
    assert isinstance(streamed.train.texts, TextView)
    assert (tmp_path / "rows" / "train" / "texts.utf8").stat().st_size > 600 * 12 * 3 * 0.9


def test_it_removes_a_temporary_store_once_the_splits_are_gone(tmp_path: Path) -> None:
    splits = prepare_splits([Example("好", "pos", 2), Example("差", "neg", 3)], None, None, dev_fraction=0.0,
                            test_fraction=0.0, seed=1)
    folder = Path(splits.train.store.texts.path).parent.parent
    assert folder.is_dir()
    del splits
    assert not folder.exists()


def test_it_dedups_and_splits_a_corpus_without_holding_its_texts_in_memory(tmp_path: Path) -> None:
    rows, chars = 30_000, 400
    path = write_random_corpus(tmp_path / "long.csv", rows=rows, chars=chars)
    file_bytes = path.stat().st_size

    tracemalloc.start()
    try:
        splits = prepare_splits(CorpusStream(path), None, None, dev_fraction=0.1, test_fraction=0.1, seed=1,
                                directory=tmp_path / "rows")
        streamed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        in_memory = list(CorpusStream(path))  # what every row's text costs when it is held in Python objects
        in_memory_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert splits.report.rows == rows and splits.report.duplicate_rows == rows // 10
    assert len(splits.train) + len(splits.dev) + len(splits.test) == rows - rows // 10
    # A fixed cost per row (keys, labels, lines, offsets and the sort's scratch), not a cost per character.
    assert streamed_peak < 300 * rows
    assert streamed_peak < file_bytes / 4 and streamed_peak * 4 < in_memory_peak
    assert len(in_memory) == rows  # keeps the in-memory corpus alive until its peak was read


def test_it_leaves_no_half_written_store_when_a_row_is_bad(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    import pytest

    from distill.errors import CorpusError

    path = tmp_path / "bad.csv"
    good = "".join(f"文本{i},pos\n" for i in range(40))
    path.write_text("text,label\n" + good + '"这一格的引号没有结束,neg\n' + good, encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where a temporary store would go

    for directory in (tmp_path / "rows", None):
        with pytest.raises(CorpusError) as caught:
            prepare_splits(CorpusStream(path), None, None, dev_fraction=0.1, test_fraction=0.1, seed=1,
                           directory=directory)
        assert (caught.value.code, caught.value.line) == ("malformed_row", 42)
    assert not list((tmp_path / "rows").rglob("*.utf8")) and not list(scratch.iterdir())


def test_it_writes_only_the_columns_a_task_uses_and_hashes_a_split_once(tmp_path: Path) -> None:
    from distill import teachers

    splits = prepare_splits([Example(f"文本{i}", "pos" if i % 2 else "neg", i + 2) for i in range(30)], None, None,
                            dev_fraction=0.2, test_fraction=0.2, seed=1, directory=tmp_path / "rows")
    assert sorted(path.name for path in (tmp_path / "rows" / "train").iterdir()) == ["texts.utf8"]
    assert splits.train.store.pairs is None and splits.train.store.tags is None

    texts = splits.train.texts
    assert texts is splits.train.texts  # one view per split, so what it remembers is shared
    expected = teachers.texts_digest(list(texts))
    assert teachers.texts_digest(texts) == expected
    texts.column = None  # a second digest must not read the texts again
    assert teachers.texts_digest(texts) == expected

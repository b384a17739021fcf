"""Unlabelled text, one per line: read like a corpus, joined to training only, never to dev or test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.corpus.lines import TextLinesStream
from distill.corpus.rows import NO_LABEL
from distill.corpus.splits import prepare_splits
from distill.errors import CorpusError

from distill.corpus.reading import CorpusStream

from .conftest import write_file

REVIEWS = ["房间很干净，服务也好", "早餐太差了，不会再来", "位置方便，离地铁很近", "隔音不好，一夜没睡", "前台态度热情",
           "价格偏贵但值得", "空调坏了没人修", "床很舒服", "卫生间有异味", "交通便利，推荐"]


def test_it_reads_one_text_per_line_skipping_blank_lines_and_listing_long_ones(tmp_path: Path) -> None:
    lines = [*REVIEWS[:5], "", "   ", *REVIEWS[5:]] + ["长" * 30] + [f"第{i}条评论还不错" for i in range(30)]
    path = tmp_path / "more.txt"
    path.write_text("\r\n".join(lines) + "\n", encoding="gb18030")
    stream = TextLinesStream(path, max_text_chars=20)

    examples = list(stream)

    assert [example.text for example in examples[:10]] == REVIEWS
    assert all(example.label is None for example in examples)
    assert examples[5].line == 8  # blank lines 6 and 7 are not rows, yet line numbers stay the file's
    assert stream.rows_read == 40
    assert [(row.line, row.code) for row in stream.skipped.rows] == [(13, "text_too_long")]


@pytest.mark.parametrize(("content", "code"), [(b"", "empty_file"), (b"\n \n\n", "empty_file"),
                                               (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary_file"),
                                               ("长" * 50 + "\n好\n", "too_many_bad_rows")])
def test_it_refuses_a_file_that_holds_no_usable_text(tmp_path: Path, content: bytes | str, code: str) -> None:
    path = tmp_path / "more.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))

    with pytest.raises(CorpusError) as caught:
        list(TextLinesStream(path, max_text_chars=20))

    assert caught.value.code == code
    assert str(path) in str(caught.value)


def test_it_keeps_unlabelled_file_rows_in_train_deduplicated_against_the_corpus(tmp_path: Path) -> None:
    corpus = CorpusStream(write_file(tmp_path, "train.csv", "text,label\n" + "".join(
        f"{text},{'pos' if i % 2 else 'neg'}\n" for i, text in enumerate(REVIEWS))))
    extra = [f"额外评论{i}号" for i in range(50)]
    more = tmp_path / "more.txt"
    # Two corpus texts (one labelled pos, one neg) and a repeat inside the file: only new texts count.
    more.write_text("\n".join([*extra, REVIEWS[0], REVIEWS[1], extra[0]]) + "\n", encoding="utf-8")

    splits = prepare_splits(corpus, None, None, dev_fraction=0.2, test_fraction=0.2, seed=3,
                            unlabeled=TextLinesStream(more))

    assert splits.report.unlabeled_file == 50
    held_out = set(splits.dev.texts) | set(splits.test.texts)
    assert not held_out & set(extra)  # unlabelled rows never reach dev or test
    train = dict(zip(splits.train.texts, splits.train.label_ids.tolist()))
    assert all(train[text] == NO_LABEL for text in extra)
    for text in REVIEWS[:2]:  # a corpus text repeated in the file keeps its label, wherever it landed
        if text in train:
            assert train[text] != NO_LABEL
    assert int((splits.train.label_ids == NO_LABEL).sum()) == 50
    assert np.unique(splits.train.keys).size == len(splits.train)

"""A CoNLL file known by its content, whatever it is called: ``looks_like_conll``, and the preview and the
tagging reader that use it (a ``.txt`` or ``.tsv`` upload of characters and tags is still CoNLL)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.corpus.conll import looks_like_conll
from distill.corpus.preview import preview_corpus

from .conftest import read_file, write_file
from .test_conll import CONLL

SPACED = "上 B-LOC\n海 I-LOC\n很 O\n美 O\n\n北 S-LOC\n京 O\n"


@pytest.mark.parametrize("head", [
    CONLL,  # tabs and spaces, -DOCSTART-, BMES, CoNLL-2003's middle columns
    SPACED,
    "上\tB-LOC\n海\tI-LOC\n\n" + "好\tO\n" * 5 + "这行没有标签\n\n" + "的\tO\n" * 5,  # one stray line in twelve
    "上\tb-loc\r\n海\ti-loc\r\n\r\n",  # lower-case prefixes, Windows line ends
])
def test_it_takes_characters_with_tags_and_blank_line_breaks_for_conll(head: str) -> None:
    assert looks_like_conll(head)


@pytest.mark.parametrize("head", [
    "text\tlabel\n很好\tpos\n太差\tneg\n\n",  # a TSV of texts and labels
    "北京\tns\n欢迎\tv\n\n你\tr\n",  # part of speech, not entity tags
    "好\tO\n的\tO\n\n天\tO\n",  # tags, but not one entity: nothing says it is not a TSV with a header
    "上\tB-LOC\n海\tI-LOC\n",  # one sentence, no blank line ending it
    "今天 天气\tO\n北京\tB-LOC\n\n",  # the first field of a tabbed line holds a space: a text, not a token
    '{"text": "上海", "entities": []}\n\n{"text": "北京", "entities": []}\n',
    "text,label\n上,B-LOC\n海,I-LOC\n\n",
    "上\tB-LOC\n" + "一句话没有标签\n" * 3 + "\n",  # most lines are no token and tag
    "",
])
def test_it_does_not_take_other_files_for_conll(head: str) -> None:
    assert not looks_like_conll(head)


@pytest.mark.parametrize("name", ["train.txt", "ner.tsv", "train.csv", "ner"])
def test_it_previews_a_conll_file_as_sentences_and_tags_not_with_its_first_line_as_a_header(tmp_path: Path,
                                                                                            name: str) -> None:
    preview = preview_corpus(write_file(tmp_path, name, CONLL), rows=2)
    assert (preview.format, preview.columns) == ("conll", ["text", "tags"])
    assert (preview.guessed_text_column, preview.guessed_label_column) == ("text", "tags")
    assert [row["text"] for row in preview.rows] == ["江泽民在北京", "联合国发布"]
    assert json.loads(preview.rows[0]["tags"]) == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"]


def test_it_previews_a_tsv_called_txt_as_before(tmp_path: Path) -> None:
    preview = preview_corpus(write_file(tmp_path, "c.txt", "text\tlabel\n很好\tpos\n太差\tneg\n"))
    assert (preview.format, preview.columns, preview.guessed_label_column) == ("tsv", ["text", "label"], "label")


def test_it_reads_a_conll_file_called_tsv_as_conll_for_named_entities(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "ner.tsv", SPACED.replace(" ", "\t")), task="tagging")
    assert stream.format == "conll"
    assert [(example.text, example.tags) for example in examples] == [
        ("上海很美", ("B-LOC", "I-LOC", "O", "O")), ("北京", ("B-LOC", "O"))]

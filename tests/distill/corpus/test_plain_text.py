"""store_text_lines: a plain file of unlabelled texts, checked and stored as UTF-8 with its usable lines only."""
from __future__ import annotations

from pathlib import Path

import pytest

from distill import CorpusError, store_text_lines


def test_it_stores_the_texts_as_utf8_and_counts_the_lines_left_out(tmp_path: Path) -> None:
    source = tmp_path / "more.txt"
    source.write_bytes("物流很快\r\n\r\n   \n质量太差了\n".encode("gb18030") + ("长" * 30).encode("gb18030") + b"\n")
    stored = store_text_lines(source, tmp_path / "stored.txt", name="更多.txt", max_text_chars=20)
    assert (stored.lines, stored.empty_lines, stored.too_long_lines, stored.encoding) == (2, 2, 1, "gb18030")
    assert (tmp_path / "stored.txt").read_text(encoding="utf-8") == "物流很快\n质量太差了\n"


@pytest.mark.parametrize("content, code", [(b"\x89PNG\r\n\x1a\n" + bytes(200), "binary_file"), (b"", "empty_file"),
                                           (b"\n \n\n", "no_rows")])
def test_it_refuses_what_is_not_text_naming_the_users_file_and_keeps_nothing(tmp_path: Path, content: bytes,
                                                                              code: str) -> None:
    source = tmp_path / "upload.dat"
    source.write_bytes(content)
    with pytest.raises(CorpusError) as raised:
        store_text_lines(source, tmp_path / "stored.txt", name="更多.txt")
    assert raised.value.code == code and raised.value.path == "更多.txt"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["upload.dat"]

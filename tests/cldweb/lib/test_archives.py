"""Hostile ZIP uploads are refused and leave nothing behind."""
from __future__ import annotations

import stat
import zipfile

import pytest

from cldweb.lib.archives import UnsafeArchive, extract_zip


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def test_it_unpacks_an_ordinary_checkpoint_folder(tmp_path):
    archive = make_zip(tmp_path / "teacher.zip", {"bert/config.json": b"{}", "bert/model.safetensors": b"\0" * 64})
    written = extract_zip(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "bert/config.json", "bert/model.safetensors",
    ]
    assert (tmp_path / "out/bert/model.safetensors").read_bytes() == b"\0" * 64


@pytest.mark.parametrize("name", ["../escaped.txt", "/etc/escaped.txt", "a/../../escaped.txt", "C:/escaped.txt", "..\\escaped.txt"])
def test_it_refuses_paths_that_leave_the_target(tmp_path, name):
    archive = make_zip(tmp_path / "slip.zip", {"ok.txt": b"fine", name: b"owned"})
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(archive, tmp_path / "out" / "inner")
    assert refused.value.code == "zip_traversal"
    assert not (tmp_path / "out" / "inner").exists()
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_it_refuses_symbolic_links(tmp_path):
    archive_path = tmp_path / "link.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        link = zipfile.ZipInfo("model.safetensors")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(archive_path, tmp_path / "out")
    assert refused.value.code == "zip_symlink"
    assert not (tmp_path / "out").exists()


def test_it_stops_a_zip_bomb_while_streaming(tmp_path):
    # 64 MiB of zeros compresses to about 64 KiB; the directory's own size field is not trusted.
    archive = make_zip(tmp_path / "bomb.zip", {"weights.bin": bytes(64 * 1024 * 1024)})
    assert archive.stat().st_size < 1024 * 1024
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(archive, tmp_path / "out", max_total_bytes=8 * 1024 * 1024)
    assert refused.value.code == "zip_too_large"
    assert not (tmp_path / "out").exists()


def test_it_refuses_nested_archives(tmp_path):
    inner = make_zip(tmp_path / "inner.zip", {"x.txt": b"x"})
    archive = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes()})
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(archive, tmp_path / "out")
    assert refused.value.code == "zip_nested"
    assert not (tmp_path / "out").exists()


def test_it_caps_the_member_count(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(30)})
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(archive, tmp_path / "out", max_members=10)
    assert refused.value.code == "zip_too_many_members"
    assert refused.value.params == {"members": 30, "limit": 10}
    assert not (tmp_path / "out").exists()


def test_it_reports_random_bytes_as_unreadable(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UnsafeArchive) as refused:
        extract_zip(junk, tmp_path / "out")
    assert refused.value.code == "zip_unreadable"
    assert not (tmp_path / "out").exists()

"""Uploads are capped while they stream: a 1 GB body is refused without being read or stored.

The 1 GB request is generated on the fly: ``StreamingMultipart`` is a file-like ``wsgi.input``
that produces a multipart body chunk by chunk and counts what the server read from it.
"""
from __future__ import annotations

import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cldweb.models import Corpus, Teacher

pytestmark = pytest.mark.django_db

GIGABYTE = 1024**3
BOUNDARY = "cldTestBoundary7MA4YWxkTrZu0gW"


class StreamingMultipart:
    """A multipart/form-data body with a CSRF-less ``name`` field and a ``file`` of ``size`` bytes, never held in memory."""

    def __init__(self, filename: str, size: int) -> None:
        self.head = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.length = len(self.head) + size + len(self.tail)
        self.position = 0  # bytes handed to the server so far

    def read(self, count: int = -1) -> bytes:
        if count is None or count < 0:
            count = self.length - self.position
        count = min(count, self.length - self.position, 1 << 20)
        out = bytearray()
        while len(out) < count:
            start = self.position
            if start < len(self.head):
                piece = self.head[start:start + count - len(out)]
            elif start < len(self.head) + self.size:
                piece = b"x" * min(count - len(out), len(self.head) + self.size - start)
            else:
                offset = start - len(self.head) - self.size
                piece = self.tail[offset:offset + count - len(out)]
            out += piece
            self.position += len(piece)
        return bytes(out)

    def readline(self, limit: int = -1) -> bytes:
        return self.read(limit if limit and limit > 0 else 1 << 16)


def post_streamed(client, url: str, body: StreamingMultipart, declared_length: int | None = None):
    # generic() sets CONTENT_TYPE only with a bytes body, so the environ is given in full.
    return client.generic("POST", url, **{
        "wsgi.input": body,
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(declared_length or body.length),
    })


def leftovers(settings, upload_tmp) -> list:
    roots = (settings.MEDIA_ROOT, settings.CLD_TEACHERS_DIR, upload_tmp)
    return [path for root in roots for path in root.rglob("*") if path.is_file()]


@pytest.fixture
def upload_tmp(settings, tmp_path):
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)  # where Django streams big uploads before the view
    return folder


@pytest.mark.parametrize(("url_name", "filename"), [("corpus-upload", "huge.csv"), ("teacher-upload", "huge.zip")])
def test_it_refuses_a_1_gb_upload_without_reading_or_keeping_it(owner_client, settings, upload_tmp, url_name, filename):
    settings.CLD_MAX_UPLOAD_BYTES = settings.CLD_MAX_CHECKPOINT_BYTES = 200 * 1024**2
    body = StreamingMultipart(filename, GIGABYTE)
    owner_client.get(reverse(url_name.replace("teacher-upload", "teachers")))  # warm up: templates, catalogues

    tracemalloc.start()
    try:
        response = post_streamed(owner_client, reverse(url_name), body)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 413
    assert "is larger than the limit of" in response.content.decode()
    assert body.position < 1 << 20  # the body was not read
    assert peak < 50 * 1024**2  # Python allocations during the request stay small
    assert Corpus.objects.count() == 0 and not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert leftovers(settings, upload_tmp) == []


def test_it_stops_reading_the_body_once_the_file_passes_the_cap(owner_client, settings, upload_tmp):
    """A request whose declared size looks acceptable but whose file is larger: the handler stops it mid-stream."""
    settings.CLD_MAX_UPLOAD_BYTES = 4 * 1024**2
    body = StreamingMultipart("huge.csv", GIGABYTE)

    # Declared as cap + a little, so the Content-Length check lets it through to the parser.
    response = post_streamed(owner_client, reverse("corpus-upload"), body,
                             declared_length=settings.CLD_MAX_UPLOAD_BYTES + 32 * 1024)

    assert response.status_code == 413
    assert "larger than the limit of 4 MB" in response.content.decode()
    assert body.position <= settings.CLD_MAX_UPLOAD_BYTES + 32 * 1024  # never read past what it declared
    assert Corpus.objects.count() == 0
    assert leftovers(settings, upload_tmp) == []


def test_it_deletes_the_temporary_file_of_an_upload_stopped_midway(owner_client, settings, upload_tmp):
    settings.CLD_MAX_UPLOAD_BYTES = 3 * 1024**2  # above FILE_UPLOAD_MAX_MEMORY_SIZE: streamed to a temp file
    content = b"text,label\n" + b"a,pos\n" * (700 * 1024)  # about 4.2 MB

    response = owner_client.post(reverse("corpus-upload"), {"file": SimpleUploadedFile("big.csv", content)})

    assert response.status_code == 413
    assert leftovers(settings, upload_tmp) == []


def test_it_refuses_a_teacher_zip_over_its_own_cap(owner_client, settings, upload_tmp):
    settings.CLD_MAX_CHECKPOINT_BYTES = 1024

    response = owner_client.post(reverse("teacher-upload"),
                                 {"file": SimpleUploadedFile("teacher.zip", b"PK" + b"\x00" * 4096)})

    assert response.status_code == 413
    assert "larger than the limit" in response.content.decode()
    assert not Teacher.objects.filter(kind=Teacher.KIND_IMPORTED).exists()
    assert leftovers(settings, upload_tmp) == []


def test_it_says_the_limit_in_chinese(owner_client, settings, upload_tmp):
    settings.CLD_MAX_UPLOAD_BYTES = 1024**2

    response = post_streamed(owner_client, reverse("corpus-upload"), StreamingMultipart("huge.csv", GIGABYTE))

    assert response.status_code == 413
    # The test client sends no Accept-Language; switch with the cookie the language form sets.
    owner_client.cookies["django_language"] = "zh-hans"
    response = post_streamed(owner_client, reverse("corpus-upload"), StreamingMultipart("huge.csv", GIGABYTE))
    assert "超过了 1 MB 的大小限制" in response.content.decode()

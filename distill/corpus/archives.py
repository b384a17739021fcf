"""Files that are not a corpus but hold one (a ZIP) or look like one (an Excel workbook, binary data)."""
from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

from ..errors import CorpusError
from .formats import CORPUS_SUFFIXES, READ_CHUNK_BYTES

_BINARY_CONTROL_SHARE = 0.01  # text files hold almost no control bytes; random or binary data ~10%
# Files people pick by mistake, by their first bytes: the message names the kind ("a PNG image"),
# which says more than "binary data" or the NUL bytes the CSV reader would trip on.
KNOWN_BINARY_KINDS = (  # (first bytes, code for the web's translation, English words)
    (b"\x89PNG\r\n\x1a\n", "png_image", "a PNG image"), (b"\xff\xd8\xff", "jpeg_image", "a JPEG image"),
    (b"GIF87a", "gif_image", "a GIF image"), (b"GIF89a", "gif_image", "a GIF image"),
    (b"%PDF-", "pdf_document", "a PDF document"), (b"\x1f\x8b", "gzip_archive", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z_archive", "a 7z archive"), (b"Rar!\x1a\x07", "rar_archive", "a RAR archive"),
    (b"SQLite format 3\x00", "sqlite_database", "an SQLite database"),
)


def refuse_archives_and_binary(path: Path, head: bytes) -> None:
    """Name a ZIP (or Excel workbook) and binary data for what they are, before trying to decode them."""
    display = str(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if b"[Content_Types].xml" in head and b"xl/" in head:
            raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                              code="excel_file")
        raise CorpusError("the file is a ZIP archive; upload the CSV inside the ZIP", path=display,
                          code="zip_archive")
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # the old .xls (OLE2) container
        raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                          code="excel_file")
    for magic, kind, words in KNOWN_BINARY_KINDS:
        if head.startswith(magic):
            raise CorpusError(f"the file is {words}, not a CSV, TSV or JSON Lines file",
                              path=display, code="binary_file", reason="kind", kind=kind)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return  # UTF-16 is full of NUL bytes; it gets its own message
    control = sum(head.count(bytes([byte])) for byte in (*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F))
    if control > _BINARY_CONTROL_SHARE * len(head) and b"\x00" not in head:
        raise CorpusError("the file is binary data, not text: it is not a CSV, TSV or JSON Lines file", path=display,
                          code="binary_file", reason="control")


def is_zip(path: str | Path) -> bool:
    """True for a ZIP archive (by its first bytes, whatever its name)."""
    with Path(path).open("rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def unpack_zip_corpus(path: str | Path, directory: str | Path, max_bytes: int) -> Path:
    """The one CSV/TSV/JSONL file inside a ZIP, extracted into ``directory`` (at most ``max_bytes``).

    Folders and macOS metadata (``__MACOSX/``, ``._*``) are ignored; any other
    number of corpus files is refused, as is an inner file over ``max_bytes``
    (checked while copying, so a ZIP bomb stops at the limit).
    """
    path = Path(path)
    display = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise CorpusError("the file starts like a ZIP archive but cannot be opened as one", path=display,
                          code="zip_archive", reason="broken") from None
    with archive:
        members = [info for info in archive.infolist()
                   if not info.is_dir() and not info.filename.startswith("__MACOSX/")
                   and not Path(info.filename).name.startswith("._")]
        corpora = [info for info in members if Path(info.filename).suffix.lower() in (*CORPUS_SUFFIXES, ".txt")]
        if any(info.filename == "[Content_Types].xml" for info in members):
            raise CorpusError("the file is an Excel workbook; save it as CSV UTF-8 and upload that", path=display,
                              code="excel_file")
        if len(corpora) != 1:
            names = [Path(info.filename).name for info in (corpora or members)][:5]
            raise CorpusError(
                f"the ZIP holds {len(corpora)} CSV, TSV or JSON Lines files ({', '.join(names) or 'none'}); "
                "upload the CSV inside the ZIP", path=display, code="zip_archive", count=len(corpora), names=names)
        member = corpora[0]
        target = Path(directory) / Path(member.filename).name
        written = 0
        try:
            with archive.open(member) as source, target.open("xb") as out:
                while chunk := source.read(READ_CHUNK_BYTES):
                    written += len(chunk)
                    if written > max_bytes:
                        raise CorpusError(
                            f"{Path(member.filename).name} inside the ZIP is larger than the limit of "
                            f"{max_bytes:,} bytes", path=display, code="zip_too_large", limit=max_bytes,
                            member=Path(member.filename).name)
                    out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

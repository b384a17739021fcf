"""Which codec a corpus file is in: UTF-8 (BOM or not), GB18030 or Big5, and how garbled a decoded text looks.

The file is checked in chunks, so a large corpus is never held in memory.
"""
from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path
from typing import NoReturn

from ..errors import CorpusError
from .archives import refuse_archives_and_binary
from .formats import READ_CHUNK_BYTES, SNIFF_BYTES

# Candidate codecs when a file is not UTF-8, in the order a tie is resolved: mainland corpora (GBK) first.
LEGACY_CODECS = ("gb18030", "big5", "big5hkscs")
ENCODING_CHOICES = ("utf-8", "utf-8-sig", "gb18030", "big5", "big5hkscs")  # what a user may pick by hand
GARBLED_WARNING_SHARE = 0.15  # above this share of odd characters the decoded text is probably the wrong encoding
_NOT_TEXT_GARBLED_SHARE = 0.35  # random bytes read as GB18030 score 0.4-0.9; real reviews ~0.001 (garbled_share)


def detect_encoding(path: Path) -> str:
    """Return the codec that decodes the whole file strictly: UTF-8 (BOM or not), else GB18030 or Big5.

    Streams the file in chunks, so a large corpus is checked without holding it
    in memory. A ZIP archive or binary data is refused for what it is. Big5
    bytes nearly always decode as GB18030 too (as nonsense), so when more than
    one codec decodes the file, the one whose text is made of common characters
    wins (see ``_common_share``).
    """
    display = str(path)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise CorpusError("the file is empty", path=display, code="empty_file")
    refuse_archives_and_binary(path, head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CorpusError("the file is UTF-16; save it as UTF-8 and upload it again", path=display,
                          code="bad_encoding", encoding="utf-16")
    if head.startswith(codecs.BOM_UTF8):
        failure = _decode_failure(path, "utf-8-sig")
        if failure is None:
            return "utf-8-sig"
        _raise_bad_encoding(path, {"UTF-8": failure})
    failure = _decode_failure(path, "utf-8")
    if failure is None:
        return "utf-8"
    failures: dict[str, tuple[int, int]] = {"UTF-8": failure}
    decoding: list[str] = []
    for codec in LEGACY_CODECS:
        if codec == "big5hkscs" and "big5" in decoding:
            continue  # Big5-HKSCS only adds Hong Kong characters; plain Big5 already reads the file
        failure = _decode_failure(path, codec)
        if failure is None:
            decoding.append(codec)
        else:
            failures[_CODEC_NAMES[codec]] = failure
    if not decoding:
        _raise_bad_encoding(path, failures)
    sample = _head_sample(head)
    # max() keeps the first of equal scores: GB18030 when the head has no Chinese characters to tell by.
    best = max(decoding, key=lambda codec: _common_share(sample.decode(codec, errors="replace"), codec))
    decoded = sample.decode(best, errors="replace")
    if sum(ord(char) > 0x7F for char in decoded) >= 8 and garbled_share(decoded) > _NOT_TEXT_GARBLED_SHARE:
        # GB18030 gives almost any byte pair a meaning, so random bytes decode; they read as rare characters.
        raise CorpusError("the file does not look like text (it reads as rare and unassigned characters in "
                          "every encoding); it may be binary data rather than a CSV, TSV or JSON Lines file",
                          path=display, code="binary_file", reason="garbled")
    return best


_CODEC_NAMES = {"gb18030": "GB18030", "big5": "Big5", "big5hkscs": "Big5-HKSCS"}
# Lead-byte ranges of the frequently used characters of each standard: GB2312 level 1 (3,755
# characters) and Big5 level 1 (5,401). Real text is ~99% made of them; the same bytes read in
# the other standard land there only about half of the time.
_COMMON_LEAD_BYTES = {"gb18030": ("gb2312", 0xB0, 0xD7), "big5": ("big5", 0xA4, 0xC6),
                      "big5hkscs": ("big5", 0xA4, 0xC6)}


def _head_sample(head: bytes) -> bytes:
    """The head cut after its last newline, so no multi-byte character is split at the end."""
    cut = head.rfind(b"\n")
    return head if cut < 0 else head[:cut + 1]


def _is_hanzi(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _is_common(char: str, standard: str, low: int, high: int) -> bool:
    try:
        encoded = char.encode(standard)
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and low <= encoded[0] <= high


def _common_share(text: str, codec: str) -> float:
    """Share of the Chinese characters of ``text`` that are frequent ones of ``codec``'s standard (0 when none)."""
    standard, low, high = _COMMON_LEAD_BYTES[codec]
    hanzi = [char for char in text if _is_hanzi(char)]
    if not hanzi:
        return 0.0
    return sum(_is_common(char, standard, low, high) for char in hanzi) / len(hanzi)


def garbled_share(text: str) -> float:
    """Share of the non-ASCII characters of ``text`` that suggest a wrong encoding.

    Counted as odd: replacement marks (U+FFFD), private-use and unassigned code
    points, control characters, and Chinese characters outside both common sets
    (GB2312 level 1 and Big5 level 1). Real Chinese text scores a few percent.
    """
    wide = [char for char in text if ord(char) > 0x7F]
    if not wide:
        return 0.0
    odd = 0
    for char in wide:
        if _is_hanzi(char):
            odd += not (_is_common(char, "gb2312", 0xB0, 0xD7) or _is_common(char, "big5", 0xA4, 0xC6))
        else:
            odd += char == "\ufffd" or unicodedata.category(char) in ("Co", "Cn", "Cc", "Cs")
    return odd / len(wide)


def _decode_failure(path: Path, codec: str) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte ``codec`` cannot decode, or None when all decode.

    Raises ``binary_file`` at the first NUL byte: no text corpus contains one.
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0
    newlines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(READ_CHUNK_BYTES)
            final = not chunk
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = newlines + chunk.count(b"\n", 0, nul) + 1
                raise CorpusError("the file contains NUL bytes, so it is binary data rather than text",
                                  path=str(path), line=line, code="binary_file", offset=offset + nul)
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # exc.object may start with bytes held over from the previous chunk;
                # they are never b"\n" (a newline is never part of a multi-byte character).
                pending = len(exc.object) - len(chunk)
                line = newlines + exc.object.count(b"\n", 0, exc.start) + 1
                return line, max(offset - pending + exc.start, 0)
            if final:
                return None
            newlines += chunk.count(b"\n")
            offset += len(chunk)


def _raise_bad_encoding(path: Path, failures: dict[str, tuple[int, int]]) -> NoReturn:
    line, offset = max(failures.values())
    tried = "; ".join(f"as {name} it breaks at line {ln}" for name, (ln, _) in failures.items())
    hint = _encoding_hint(path)
    message = f"the file is neither UTF-8 nor GB18030 nor Big5 text ({tried})"
    if hint:
        message += f"; it may be {hint}"
    raise CorpusError(message + ". Save it as UTF-8 and upload it again", path=str(path), line=line,
                      code="bad_encoding", offset=offset, guess=hint or "")


def _encoding_hint(path: Path) -> str | None:
    """charset-normalizer's guess, only to make the error message more useful."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # the hint is a nicety; the error stands without it
        return None
    with path.open("rb") as handle:
        best = from_bytes(handle.read(SNIFF_BYTES)).best()
    return None if best is None else best.encoding

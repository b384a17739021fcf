"""A plain text file of unlabelled texts, one per line (DataConfig.unlabeled_path), checked and stored as UTF-8.

The web's upload of "more text" and anyone preparing such a file use ``store_text_lines``: it refuses what
is not text (binary data, an archive, UTF-16, an undecodable file) with the corpus reader's own errors and
codes, and writes the usable lines as UTF-8, so whatever reads the stored file later needs no guessing.
Streamed line by line: the file may be larger than memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .encoding import detect_encoding


@dataclass(frozen=True)
class PlainTextFile:
    lines: int  # texts written, one per line
    empty_lines: int  # blank (or whitespace-only) lines left out
    too_long_lines: int  # lines over max_text_chars left out, as the corpus reader skips such rows
    encoding: str  # the codec the source was read with (detect_encoding)


def store_text_lines(source: str | Path, destination: str | Path, *, name: str = "",
                     max_text_chars: int = 10_000) -> PlainTextFile:
    """Read ``source`` (UTF-8, GB18030 or Big5, detected), write its non-empty lines to ``destination`` as UTF-8.

    ``name`` is the file name errors carry (the user's, not the stored one). Raises CorpusError
    (``empty_file``, ``binary_file``, ``bad_encoding``, ``zip_archive``, ``excel_file``, or ``no_rows`` when no
    line holds text); nothing is left at ``destination`` then.
    """
    source, destination = Path(source), Path(destination)
    display = name or source.name
    try:
        encoding = detect_encoding(source)
    except CorpusError as error:
        raise CorpusError(error.detail, path=display, line=error.line, code=error.code, **{
            key: value for key, value in error.params.items() if key not in ("path", "line", "detail")}) from None
    lines = empty = too_long = 0
    partial = destination.with_name(destination.name + ".partial")
    try:
        with source.open("r", encoding=encoding, newline=None) as handle, \
                partial.open("w", encoding="utf-8", newline="\n") as out:
            for raw in handle:
                text = raw.rstrip("\n").strip()
                if not text:
                    empty += 1
                elif len(text) > max_text_chars:
                    too_long += 1
                else:
                    out.write(text + "\n")
                    lines += 1
        if not lines:
            raise CorpusError("the file has no line with text", path=display, code="no_rows")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return PlainTextFile(lines=lines, empty_lines=empty, too_long_lines=too_long, encoding=encoding)

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
from .lines import TextLinesStream


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
    partial = destination.with_name(destination.name + ".partial")
    try:
        # Read as a run reads it, every long line skipped and counted (an upload is never refused for
        # them: what is stored holds the usable lines only, so the run later finds none to skip).
        stream = TextLinesStream(source, max_text_chars=max_text_chars, max_bad_row_share=1.0)
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            for example in stream:
                out.write(example.text + "\n")
        os.replace(partial, destination)
    except CorpusError as error:
        code = "no_rows" if error.code == "empty_file" and source.stat().st_size else error.code
        raise CorpusError("the file has no line with text" if code == "no_rows" else error.detail, path=display,
                          line=error.line, code=code, **{key: value for key, value in error.params.items()
                                                         if key not in ("path", "line", "detail")}) from None
    finally:
        partial.unlink(missing_ok=True)
    return PlainTextFile(lines=stream.rows_read, empty_lines=stream.blank_lines,
                         too_long_lines=stream.skipped.by_reason["text_too_long"], encoding=stream.encoding)

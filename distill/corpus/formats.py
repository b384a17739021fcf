"""CSV, TSV and JSON Lines: which one a file is, and its rows as (line, cells) records."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import CorpusError

FORMATS = ("csv", "tsv", "jsonl")
CORPUS_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv",  # file name suffix -> format; others are sniffed
                   ".jsonl": "jsonl", ".json-lines": "jsonl", ".ndjson": "jsonl"}
READ_CHUNK_BYTES = 1 << 20  # encoding check and ZIP extraction read 1 MiB at a time so huge files never sit in memory
SNIFF_BYTES = 64 * 1024  # enough of the head of a file to tell CSV from TSV from JSONL
CSV_FIELD_LIMIT = csv.field_size_limit()  # the csv module's own cap; a longer cell is almost always a runaway quote


def format_of(path: Path, encoding: str, errors: str = "strict") -> str:
    by_extension = CORPUS_SUFFIXES.get(path.suffix.lower())
    if by_extension:
        return by_extension
    with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
        head = handle.read(SNIFF_BYTES)
    first = next((line for line in head.splitlines() if line.strip()), "")
    stripped = first.lstrip()
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        raise CorpusError("the file is one JSON array; save it as JSON Lines (one object per line)",
                          path=str(path), line=1, code="unsupported_format")
    return "tsv" if first.count("\t") > first.count(",") else "csv"


def _delimited_records(handle: Iterable[str], fmt: str, path: str) -> Iterator[tuple[int, list[str] | None]]:
    """(start line, cells) per non-blank record of a CSV/TSV stream; cells is None for a line over the cell limit.

    The csv module reads on after a cell over its limit from the next line, so such a
    line is one unusable row, not the end of the file.
    """
    if fmt == "tsv":
        # TSV has no quoting: a quote character inside a text is just a character.
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    else:
        reader = csv.reader(handle, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "unexpected end of data" in reason:
                detail = "a quoted cell that starts here never closes (unterminated quote)"
            elif "field larger than field limit" in reason:
                yield start, None
                continue
            else:
                detail = f"the row is not valid {fmt.upper()} ({reason})"
            raise CorpusError(detail, path=path, line=start, code="malformed_row", reason=reason) from None
        if cells and any(cell.strip() for cell in cells):
            yield start, cells


def iter_records(handle: Iterable[str], fmt: str, path: str,
                  columns: list[str]) -> Iterator[tuple[int, dict[str, str | None] | None]]:
    """(line, record) per row, for any of the three formats; record is None for a line over the cell limit.

    ``columns`` is filled in place: with the header as soon as it is read (so a
    header without rows still names its columns), or with JSON keys as they appear.
    """
    if fmt == "jsonl":
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"the line is not valid JSON ({exc.msg} at column {exc.colno})", path=path,
                                  line=number, code="malformed_row", reason=exc.msg) from None
            if not isinstance(record, dict):
                raise CorpusError("each line must be a JSON object like {\"text\": ..., \"label\": ...}",
                                  path=path, line=number, code="malformed_row", reason="not an object")
            for key in record:
                if key not in columns:
                    columns.append(key)
            yield number, _json_cells(record)
        return
    records = _delimited_records(handle, fmt, path)
    try:
        _, header = next(records)
    except StopIteration:
        raise CorpusError("the file has no rows", path=path, code="empty_file") from None
    if header is None:
        raise CorpusError(f"the first line is longer than {CSV_FIELD_LIMIT:,} characters, so it is no header; "
                          "the file may not be a CSV or TSV file", path=path, line=1, code="line_too_long",
                          limit=CSV_FIELD_LIMIT)
    header = [name.strip() for name in header]
    columns[:] = header
    for line, cells in records:
        if cells is None:
            yield line, None
            continue
        if len(cells) != len(header):
            raise CorpusError(
                f"the row has {len(cells)} cells but the header has {len(header)}"
                + (" (an unquoted comma inside the text?)" if fmt == "csv" and len(cells) > len(header) else ""),
                path=path, line=line, code="malformed_row", cells=len(cells), expected=len(header))
        yield line, dict(zip(header, cells))


def _json_cells(record: dict[str, Any]) -> dict[str, str | None]:
    cells: dict[str, str | None] = {}
    for key, value in record.items():
        if value is None or isinstance(value, str):
            cells[key] = value
        elif isinstance(value, bool):
            cells[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            cells[key] = str(value)
        else:
            cells[key] = None if not value else json.dumps(value, ensure_ascii=False)
    return cells

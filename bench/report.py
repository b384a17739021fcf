"""docs/benchmarks.md holds one section per benchmark script; each script rewrites only its own."""
from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, text: str, path: Path = BENCHMARKS_MD) -> Path:
    """Replace the text between this section's markers, or append the section when it is new."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    section = f"{begin}\n{text.strip()}\n{end}\n"
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: section, current, count=1)
    else:
        updated = (current.rstrip() + "\n\n" if current.strip() else "") + section
    path.write_text(updated, encoding="utf-8")
    return path

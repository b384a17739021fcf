"""Token ids of a transfer set on disk: ``TokenStore``, written in one streaming pass by ``write_token_store``."""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..corpus.sequences import RowSequence
from .characters import encode_characters
from .tokenizer import StudentTokenizer, encode_texts

TOKEN_STORE_META = "meta.json"  # written last: a folder without it is incomplete and gets rebuilt
STORE_CHUNK_ROWS = 8192  # texts encoded per step of the streaming pass; bounds its memory


class TokenStore(RowSequence[list[int]]):
    """Token ids of many texts as one flat memory-mapped int32 array plus row offsets.

    Row i is ``tokens[offsets[i]:offsets[i + 1]]``, read from disk only when a batch
    asks for it, so a transfer set larger than RAM never exists as Python lists of
    ints (about 36 bytes a token, against 4 here). Indexing gives the same
    ``list[int]`` as ``encode_texts``, so batches are identical either way.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        meta = json.loads((self.directory / TOKEN_STORE_META).read_text(encoding="utf-8"))
        self.key = str(meta["key"])
        self.offsets = np.load(self.directory / "offsets.npy", mmap_mode="r")  # (N + 1,) int64
        tokens = int(self.offsets[-1])
        # An empty file cannot be memory-mapped; a store of empty rows has nothing to map.
        self.tokens = (np.memmap(self.directory / "tokens.int32", dtype=np.int32, mode="r", shape=(tokens,))
                       if tokens else np.zeros(0, dtype=np.int32))
        self.lengths = np.diff(self.offsets)  # (N,) int64, in memory: 8 bytes a row

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> list[int]:
        return self.tokens[self.offsets[index]:self.offsets[index + 1]].tolist()


def write_token_store(tokenizer: StudentTokenizer, texts: Iterable[str], max_length: int, directory: str | Path,
                      key: str = "", *, chunk_rows: int = STORE_CHUNK_ROWS, per_character: bool = False) -> TokenStore:
    """Encode ``texts`` in one streaming pass into a ``TokenStore`` at ``directory``; reuse it when ``key`` matches.

    ``texts`` may be any iterable (a generator over a huge file): ``chunk_rows``
    texts are encoded at a time and appended to ``tokens.int32`` (raw int32, so the
    file can grow without knowing its final size), their end offsets to a list of
    8 bytes a row. The folder is built beside the target and renamed into place.
    ``key`` names the content (texts, tokenizer, max_length) so a stale store is rebuilt.
    ``per_character``: a tagging student's ids, one per character (``characters.encode_characters``);
    the key must then say so too.
    """
    directory = Path(directory)
    if (directory / TOKEN_STORE_META).is_file():
        store = TokenStore(directory)
        if key and store.key == key:
            return store
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ends: list[np.ndarray] = []  # per chunk: end offset of each row
    total = 0
    iterator = iter(texts)
    with (tmp / "tokens.int32").open("wb") as handle:
        while True:
            chunk = [text for _, text in zip(range(chunk_rows), iterator)]
            if not chunk:
                break
            encoded = ([encode_characters(tokenizer, text, max_length) for text in chunk] if per_character
                       else encode_texts(tokenizer, chunk, max_length))
            lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
            flat = np.fromiter((token for ids in encoded for token in ids), dtype=np.int32, count=int(lengths.sum()))
            handle.write(flat.tobytes())
            ends.append(total + np.cumsum(lengths))
            total += int(lengths.sum())
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), *ends]).astype(np.int64)  # (N + 1,)
    np.save(tmp / "offsets.npy", offsets)
    (tmp / TOKEN_STORE_META).write_text(json.dumps({"key": key, "rows": len(offsets) - 1, "tokens": total,
                                                    "max_length": max_length}), encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return TokenStore(directory)

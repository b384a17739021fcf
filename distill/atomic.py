"""Atomic file writes: a reader (or a run resumed after a kill) sees the old file or the new one, never half.

Every write that replaces a file the engine may later trust (checkpoints, best weights, the
fine-tune marker, the split stamp, a labelling pass's progress count, the export zip) goes
through ``atomic_path``: write a temp file beside the target, then ``os.replace`` it onto the
target in one step. Pure standard library, so the web process may import it without torch.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write to; on success it replaces ``path``, on error it is removed.

    The temp name starts with a dot and carries the process id, so two workers never share one and
    a folder listing of finished files skips it. ``durable`` fsyncs the temp file before the rename,
    for small files whose content vouches for other data already flushed (a progress count): after
    a power loss the rename must not survive without the bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if durable:
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str, *, durable: bool = False) -> None:
    """``path.write_text(text)`` (UTF-8), atomically; see ``atomic_path``."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")

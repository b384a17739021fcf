"""The secret key `./cld start` generates once and keeps under the data folder.

Read by settings.py (before Django is set up), so it uses nothing from Django. Several
processes (migrate, daphne, the Celery worker) may read it at the same moment on the first
start: the key is written to a private temporary file and linked into place, so a reader
sees either no file or the whole key, and of two writers the first one's key is kept.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def read_or_create_secret_key(path: Path) -> str:
    """The key stored in ``path``; a new random one (file mode 0600) when there is none yet."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(64) + "\n")
        try:
            os.link(temporary, path)  # fails if another process linked its key first: that one wins
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 50:
        # Django's own check (security.W009) wants 50+ characters; a truncated file must not pass.
        raise ValueError(f"{path} holds no usable secret key (fewer than 50 characters); delete it to make a new one")
    return key

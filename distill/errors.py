"""Errors a user can act on.

Each carries a stable ``code`` and the ``params`` needed to say it again in
another language: the engine speaks English, the web layer looks the code up in
its translated catalogue (cldweb/messages.py) and formats it with the params.
"""
from __future__ import annotations


class DistillError(Exception):
    """Base for every error meant for the user, never a traceback."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.params = params

    def __str__(self) -> str:
        return self.message


class CorpusError(DistillError):
    """A corpus file cannot be used; names the file and, where it helps, the line."""

    code = "corpus"

    def __init__(self, message: str, *, path: str, line: int | None = None, code: str | None = None, **params: object) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}", code=code, path=path, line=line, detail=message, **params)
        self.path = path
        self.line = line
        self.detail = message


class TeacherUnavailable(DistillError):
    """The teacher is not on disk and the hub cannot be reached."""

    code = "teacher_unavailable"


class UnsafeCheckpoint(DistillError):
    """A checkpoint would need pickle or remote code to load; refused, never executed."""

    code = "unsafe_checkpoint"


class ConfigError(DistillError):
    """A config value is out of range or names something that does not exist."""

    code = "config"

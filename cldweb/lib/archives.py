"""Unpacking uploaded ZIP files as if every one were hostile.

Refused: members whose path leaves the target (``../``, absolute paths, drive
letters), symbolic links, nested archives, more members than allowed, and more
uncompressed bytes than allowed — counted while streaming, since the sizes in
the ZIP directory are written by the uploader and can lie. On any refusal the
partly written target is removed, so nothing is half-written.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

NESTED_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
CHUNK_BYTES = 1 << 20


class UnsafeArchive(Exception):
    """The archive cannot be unpacked safely; ``code`` and ``params`` say why (translated by the web layer)."""

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.params = params


def safe_member_path(name: str) -> PurePosixPath:
    """The member's path relative to the target, or UnsafeArchive when it would escape it."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if path.is_absolute() or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise UnsafeArchive(f"{name!r} points outside the archive's folder", "zip_traversal", member=name)
    return path


def extract_zip(
    archive_path: str | Path,
    target_dir: str | Path,
    *,
    max_members: int = 1000,
    max_total_bytes: int = 4 * 1024**3,
) -> list[Path]:
    """Unpack ``archive_path`` into ``target_dir`` (which must not exist yet) and return the files written."""
    target = Path(target_dir)
    if target.exists():
        raise FileExistsError(target)
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnsafeArchive(f"not a readable ZIP file ({error})", "zip_unreadable") from error
    written: list[Path] = []
    try:
        with archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise UnsafeArchive(
                    f"the archive holds {len(members)} entries; at most {max_members} are allowed",
                    "zip_too_many_members", members=len(members), limit=max_members,
                )
            target.mkdir(parents=True)
            total = 0
            for member in members:
                relative = safe_member_path(member.filename)
                mode = member.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchive(f"{member.filename!r} is a symbolic link", "zip_symlink", member=member.filename)
                if member.is_dir():
                    (target / relative).mkdir(parents=True, exist_ok=True)
                    continue
                if relative.name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
                    raise UnsafeArchive(
                        f"{member.filename!r} is an archive inside the archive", "zip_nested", member=member.filename
                    )
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as sink:
                    while chunk := source.read(CHUNK_BYTES):
                        total += len(chunk)
                        if total > max_total_bytes:
                            raise UnsafeArchive(
                                f"the archive unpacks to more than {max_total_bytes:,} bytes",
                                "zip_too_large", limit=max_total_bytes,
                            )
                        sink.write(chunk)
                written.append(destination)
    except (UnsafeArchive, zipfile.BadZipFile, OSError, EOFError) as error:
        shutil.rmtree(target, ignore_errors=True)
        if isinstance(error, UnsafeArchive):
            raise
        raise UnsafeArchive(f"the ZIP file is damaged ({error})", "zip_unreadable") from error
    return written

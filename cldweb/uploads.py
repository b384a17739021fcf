"""Uploads with a hard size cap, enforced while the request streams in.

Two layers, both before anything is saved under MEDIA_ROOT or CLD_DATA_DIR:

1. ``capped_upload`` looks at the declared Content-Length first: a request that says it is
   larger than the cap is refused at once, without reading its body.
2. ``CappedUploadHandler`` counts the file bytes as Django's multipart parser hands them over
   and stops the parse (``StopUpload``, without reading the rest) the moment they pass the
   cap; the temporary file written so far is closed and deleted by the parser.

The view then sees ``upload_refused(request)`` and shows a translated message (cldweb.messages). Note that
Daphne receives a whole request body (into a temporary file) before the application runs;
the cap at the network edge belongs to the TLS proxy (e.g. nginx ``client_max_body_size``).

Below the cap: the names and folders of what was uploaded (a random stored name, the corpus inside
an uploaded ZIP, the save_pretrained folder inside a teacher archive).
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
import unicodedata
from functools import wraps
from pathlib import Path, PurePath
from typing import Any, Callable

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from distill import CONLL_SUFFIXES, CorpusError, unpack_zip_corpus

# Room for the form fields and multipart headers around the file (CSRF token, name, boundaries).
FORM_OVERHEAD_BYTES = 64 * 1024


class CappedUploadHandler(FileUploadHandler):
    """Stops the upload as soon as the files in it pass ``limit`` bytes; the next handlers store the data."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)  # do not read (or store) the rest of the body
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the UploadedFile


def upload_refused(request: HttpRequest) -> bool:
    """Whether this request's upload was stopped for passing its cap (parses the body if not yet done)."""
    request.FILES  # noqa: B018 -- the parse is what runs the handlers
    return any(getattr(handler, "exceeded", False) for handler in request.upload_handlers)


def declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def capped_upload(limit_setting: str, refuse: Callable[[HttpRequest, int], HttpResponse]):
    """Decorate an upload view so its body is capped at ``settings.<limit_setting>`` bytes of files.

    ``refuse(request, limit)`` renders the page for a request whose declared size is over the
    cap; it runs without reading the body (nor the CSRF token in it) and must change nothing. Upload handlers can only be changed before the body
    is parsed, and CsrfViewMiddleware parses it, so the CSRF check moves inside (the pattern in
    Django's "Modifying upload handlers on the fly" docs): every POST that reaches the view is
    still CSRF-checked.
    """

    def decorator(view):
        protected = csrf_protect(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                limit = getattr(settings, limit_setting)
                if declared_length(request) > limit + FORM_OVERHEAD_BYTES:
                    return refuse(request, limit)  # the body is never read
                request.upload_handlers.insert(0, CappedUploadHandler(request, limit))
            return protected(request, *args, **kwargs)

        return wrapper

    return decorator


# -- names and folders of what was uploaded ----------------------------------------------


def sanitise_filename(raw: str) -> str:
    """A client-supplied file name made safe to show: no folders, no control characters."""
    name = PurePath(raw.replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:200] or "corpus"


def corpus_upload_to(instance: Any, filename: str) -> str:
    """Uploads are stored under a random name; the user's name is kept only for display.

    Corpus.file's ``upload_to`` (migrations name it by this path); ``instance`` is unused.
    """
    suffix = Path(filename).suffix.lower()
    if suffix in CONLL_SUFFIXES:
        suffix = ".txt"  # the engine sniffs a .txt file for CoNLL when its corpus is read for named entities
    if suffix not in (".csv", ".tsv", ".tab", ".txt", ".jsonl", ".ndjson", ".json"):
        suffix = ".dat"
    return f"uploads/{secrets.token_hex(16)}{suffix}"


def unlabeled_upload_to(instance: Any, filename: str) -> str:
    """Where a corpus's file of unlabelled texts is stored: beside the corpus files, under a random name.

    Corpus.unlabeled_file's ``upload_to``; the stored file is always UTF-8 text, whatever was uploaded.
    """
    return f"uploads/{secrets.token_hex(16)}.unlabeled.txt"


def stream_upload_to(upload: Any, destination: Path, limit: int) -> Path | None:
    """Write an uploaded file to ``destination`` chunk by chunk; None (and nothing kept) once it passes ``limit`` bytes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with destination.open("xb") as out:
            for chunk in upload.chunks():
                written += len(chunk)
                if written > limit:
                    break
                out.write(chunk)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    if written > limit:
        destination.unlink(missing_ok=True)
        return None
    return destination


def pretrained_folder(root: Path) -> Path | None:
    """The unpacked save_pretrained folder: the archive's root, or its single top-level folder."""
    if (root / "config.json").is_file():
        return root
    entries = [entry for entry in root.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "config.json").is_file():
        return entries[0]
    return None


def unzipped_upload(original: str, archive: Path, limit: int) -> tuple[str, str, Path]:
    """(display name, stored name, path) of the one corpus file inside an uploaded ZIP; the ZIP is removed.

    ``original`` is the name the user gave the ZIP, ``limit`` the most bytes the file inside may unpack to.
    """
    with tempfile.TemporaryDirectory(prefix="unzip-", dir=archive.parent) as scratch:
        try:
            inner = unpack_zip_corpus(archive, scratch, limit)
        except CorpusError as error:
            # Name the user's ZIP in the message, not the stored random name.
            raise CorpusError(error.detail, path=original, code=error.code, **{
                key: value for key, value in error.params.items() if key not in ("path", "line", "detail")}) from None
        finally:
            archive.unlink(missing_ok=True)
        name = sanitise_filename(inner.name)
        stored_name = corpus_upload_to(None, name)  # type: ignore[arg-type]
        destination = Path(settings.MEDIA_ROOT) / stored_name
        shutil.move(str(inner), destination)
    return name, stored_name, destination

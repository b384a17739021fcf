"""Corpora, teachers, runs and their metric points.

Logic that belongs to a row lives on its model (how a Run becomes a RunConfig,
how it is cancelled, how its progress is recorded); views only fetch, call and
redirect.
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from cldweb.lib.jsonsafe import json_safe
from distill import (CorpusError, CorpusPreview, DataConfig, DistillError, RunConfig, SkippedRow, StudentConfig,
                     TeacherConfig, TeacherUnavailable, TrainConfig, inspect_corpus, is_zip, list_skipped_rows,
                     preview_corpus, texts_per_label_for_one_row, unpack_zip_corpus)

# Students a user may pick; the engine knows more (distill.config.STUDENT_ARCHITECTURES),
# the web offers them as they are tested end to end.
STUDENT_CHOICES = [
    ("bilstm", _("BiLSTM (small and fast, runs well on a CPU)")),
    ("bigru", _("BiGRU (like the BiLSTM, a little smaller and faster)")),
    ("textcnn", _("TextCNN (the fastest; reads 2-4 character windows)")),
    ("transformer", _("Small transformer (the most capable; the slowest on a CPU)")),
]

# The form's default student, and the size each choice trains at. TextCNN "tiny" is the first run's
# student: on the demo corpus it is 9x smaller and 13x faster at batch 1 than the demo teacher, its
# accuracy within the noise of the teacher's (docs/benchmarks.md "demo"); "small" TextCNN is only ~4x smaller.
DEFAULT_STUDENT = "textcnn"
STUDENT_PRESETS = {"textcnn": "tiny"}

MODE_CHOICES = [
    ("soft", _("Soft labels only (the teacher's probabilities)")),
    ("semi", _("Soft labels plus your labels (semi-supervised)")),
    ("hard", _("Your labels only (no distillation: a baseline to compare with)")),
]

CORPUS_FORMATS = ("csv", "tsv", "jsonl")


def sanitise_filename(raw: str) -> str:
    """A client-supplied file name made safe to show: no folders, no control characters."""
    name = PurePath(raw.replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:200] or "corpus"


def corpus_upload_to(instance: "Corpus", filename: str) -> str:
    """Uploads are stored under a random name; the user's name is kept only for display."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".tsv", ".tab", ".txt", ".jsonl", ".ndjson", ".json"):
        suffix = ".dat"
    return f"uploads/{secrets.token_hex(16)}{suffix}"


class CorpusRejected(Exception):
    """An upload that cannot become a Corpus; ``message`` is translated and names the user's file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Corpus(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="corpora")
    name = models.CharField(_("name"), max_length=200)
    original_filename = models.CharField(max_length=200)  # display only, sanitised
    file = models.FileField(upload_to=corpus_upload_to, max_length=255)
    format = models.CharField(max_length=16)  # csv | tsv | jsonl, as detected
    encoding = models.CharField(max_length=32)  # as detected: utf-8, gb18030, ...
    columns = models.JSONField(default=list)  # column names (CSV header or JSON keys)
    text_column = models.CharField(_("text column"), max_length=200)
    label_column = models.CharField(_("label column"), max_length=200, blank=True)  # "" = no labels
    row_count = models.PositiveIntegerField(default=0)
    labeled_count = models.PositiveIntegerField(default=0)
    label_counts = models.JSONField(default=dict)  # label -> rows
    label_names = models.JSONField(default=dict, blank=True)  # raw label -> the name users see; absent = raw value
    report = models.JSONField(default=dict)  # the engine's split report (CorpusReport): duplicates, overlap, warnings
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> Path:
        return Path(self.file.path)

    @property
    def unlabeled_count(self) -> int:
        return self.row_count - self.labeled_count

    @property
    def warnings(self) -> list[str]:
        """Duplicates, label conflicts, overlap, imbalance: translated from the report's numbers."""
        from cldweb.messages import corpus_warnings

        return corpus_warnings(self.report)

    @property
    def problem(self) -> str:
        """Why no run can use this corpus with the chosen columns ("" when it can)."""
        from cldweb.messages import describe_corpus_error

        error = self.report.get("error")
        if not error:
            return ""
        return describe_corpus_error(error["code"], error.get("params") or {}, error.get("detail", ""),
                                     self.original_filename)

    @property
    def is_usable(self) -> bool:
        return not self.report.get("error")

    @property
    def split_problem(self) -> str:
        """A warning when the default split leaves dev or test without a row ("" otherwise).

        The counts come from the split ``analyse`` made with the defaults a run uses (DataConfig).
        """
        report = self.report or {}
        if report.get("error") or "dev" not in report or (report.get("dev") and report.get("test")):
            return ""
        defaults = DataConfig()
        needed = texts_per_label_for_one_row(min(defaults.dev_fraction, defaults.test_fraction))
        largest = max((report.get("label_counts") or {}).values(), default=0)
        return gettext(
            "This corpus is too small to hold back rows for checking: dev gets %(dev)s rows and test %(test)s. "
            "Dev and test each take %(percent)s%% of each label's distinct texts, so a label needs at least "
            "%(needed)s distinct labelled texts to give each of them one row (your largest label has %(largest)s). "
            "Without test rows the results show no accuracy, and without dev rows training cannot stop early."
        ) % {"dev": report.get("dev", 0), "test": report.get("test", 0),
             "percent": f"{defaults.test_fraction * 100:g}", "needed": needed, "largest": largest}

    # -- upload and analysis ---------------------------------------------------------

    @classmethod
    def create_from_upload(cls, *, owner, upload, name: str = "") -> "Corpus":
        """Stream an uploaded file to disk under a random name, read it, and save the row.

        Raises CorpusRejected (and keeps nothing: no row, no file) when the file is too
        large or cannot be read as a corpus.
        """
        from cldweb.messages import describe_corpus_error

        original = sanitise_filename(upload.name or "")
        stored_name = corpus_upload_to(None, original)  # type: ignore[arg-type]
        destination = Path(settings.MEDIA_ROOT) / stored_name
        destination.parent.mkdir(parents=True, exist_ok=True)
        limit = settings.CLD_MAX_UPLOAD_BYTES
        try:
            written = 0
            with destination.open("xb") as out:
                for chunk in upload.chunks():
                    written += len(chunk)
                    if written > limit:
                        raise CorpusRejected(
                            gettext("%(file)s is larger than the limit of %(limit)s MB.")
                            % {"file": original, "limit": f"{limit / 1_048_576:.0f}"}
                        )
                    out.write(chunk)
            if is_zip(destination):
                # The public review sets come zipped; one CSV inside is what the user means.
                original, stored_name, destination = _unzipped_upload(original, destination, limit)
            preview = preview_corpus(destination, rows=1)
            corpus = cls(owner=owner, name=(name.strip() or original)[:200], original_filename=original)
            corpus.file.name = stored_name
            text_column = preview.guessed_text_column or preview.columns[0]
            label_column = preview.guessed_label_column or ""
            corpus.analyse(text_column, label_column)
            corpus.save()
            return corpus
        except CorpusError as error:
            destination.unlink(missing_ok=True)
            raise CorpusRejected(
                describe_corpus_error(error.code, error.params, error.detail, original)
            ) from error
        except BaseException:
            destination.unlink(missing_ok=True)
            raise

    def analyse(self, text_column: str, label_column: str, encoding: str | None = None) -> None:
        """Read the file with these columns and fill counts and the split report (not saved).

        ``encoding`` "" detects it again, None keeps the one in use, a codec forces it.
        Raises CorpusError when the file cannot be read with these columns. A corpus that
        reads but cannot be split for training (e.g. a single class) is kept, with the
        reason in ``report["error"]``, so the user can pick another label column.
        Rows the engine skips (empty text, too long) are listed in ``report["skipped"]``.
        """
        if encoding is None:
            encoding = self.encoding if self.encoding and self.encoding != self._detected_encoding() else ""
        # The rows are staged on disk beside the uploads: /tmp may be small, or memory (tmpfs).
        settings.CLD_SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
        # The settings a run will use, so both skip the same rows.
        inspection = inspect_corpus(self.path, text_column, label_column, encoding=encoding,
                                    max_text_chars=settings.CLD_MAX_TEXT_CHARS, name=self.original_filename,
                                    scratch_dir=settings.CLD_SCRATCH_DIR)
        self.text_column = text_column
        self.label_column = label_column if inspection.has_label_column else ""
        self.format = inspection.format
        self.encoding = inspection.encoding
        self.columns = inspection.columns
        self.row_count = inspection.rows
        self.labeled_count = sum(inspection.label_counts.values())
        self.label_counts = inspection.label_counts
        split_error = inspection.split_error
        if split_error is not None:
            self.report = {
                "error": {"code": split_error.code, "params": json_safe(split_error.params),
                          "detail": split_error.detail},
                "warnings": [],
            }
        else:
            self.report = inspection.report
        if inspection.skipped:
            self.report["skipped"] = json_safe(inspection.skipped)

    def _detected_encoding(self) -> str:
        try:
            return preview_corpus(self.path, rows=1).encoding
        except CorpusError:
            return ""

    def name_labels(self, names: dict[str, str]) -> None:
        """Keep the display names given for this corpus's labels (not saved); a name equal to its label is dropped."""
        self.label_names = {raw: name for raw, name in names.items() if raw in self.label_counts and name != raw}

    @property
    def named_label_counts(self) -> list[tuple[str, str, int]]:
        """(raw label, name users see, rows) in the order of ``label_counts``."""
        return [(raw, (self.label_names or {}).get(raw, raw), count) for raw, count in self.label_counts.items()]

    def preview(self, rows: int = 10) -> CorpusPreview:
        return preview_corpus(self.path, rows=rows, encoding=self.encoding)

    @property
    def skipped_rows(self) -> dict[str, Any]:
        """``{"total", "by_reason", "first"}`` of the rows the engine leaves out; {} when none."""
        return self.report.get("skipped") or {}

    @property
    def skipped_shown(self) -> list[dict[str, Any]]:
        """The first skipped rows with their problem in the active language, for the page."""
        from cldweb.messages import corpus_problem

        return [{"line": row["line"], "text": row["text"],
                 "problem": corpus_problem(row["code"], row.get("params") or {}, row.get("detail", ""))}
                for row in self.skipped_rows.get("first") or []]

    def all_skipped_rows(self) -> list[SkippedRow]:
        """Every skipped row, read again from the file by the engine's reader (nothing stored per row)."""
        # Listed whatever share of rows is bad: this corpus was accepted, whatever a later setting says.
        return list_skipped_rows(self.path, self.text_column, self.label_column, encoding=self.encoding,
                                 max_text_chars=settings.CLD_MAX_TEXT_CHARS)

    @classmethod
    def latest_usable(cls, owner) -> "Corpus | None":
        """The owner's newest corpus a run can use: what "New run" offers first."""
        return next((corpus for corpus in cls.objects.filter(owner=owner)[:50] if corpus.is_usable), None)

    def delete(self, *args: Any, **kwargs: Any):
        """Delete the corpus, its file and its runs with their folders (RunStillActive while one runs)."""
        runs = list(self.runs.all())
        active = [run.pk for run in runs if run.is_active]
        if active:
            raise RunStillActive(active)
        stored = self.file.name
        with transaction.atomic():
            for run in runs:
                run.delete()
            result = super().delete(*args, **kwargs)
        if stored:
            transaction.on_commit(lambda: self.file.storage.delete(stored))
        return result


def _unzipped_upload(original: str, archive: Path, limit: int) -> tuple[str, str, Path]:
    """(display name, stored name, path) of the one corpus file inside an uploaded ZIP; the ZIP is removed."""
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


class TeacherQuerySet(models.QuerySet):
    def available_to(self, user) -> "TeacherQuerySet":
        """Built-in teachers (no owner) and the user's own imports."""
        return self.filter(Q(owner__isnull=True) | Q(owner=user))


class Teacher(models.Model):
    KIND_HUB = "hub"  # a Hugging Face hub id, downloaded (and cached) on first use
    KIND_IMPORTED = "imported"  # a save_pretrained folder copied in by `manage.py import_teacher`
    KIND_DEMO = "demo"  # a small transformer trained from scratch on the corpus: works offline, not pretrained
    KIND_CHOICES = [
        (KIND_HUB, _("Hugging Face hub")),
        (KIND_IMPORTED, _("Imported")),
        (KIND_DEMO, _("Demo (not pretrained)")),
    ]

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="teachers"
    )  # null = built-in, offered to everyone
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    hub_id = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500, blank=True)  # imported: folder under CLD_DATA_DIR/teachers
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TeacherQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_builtin(self) -> bool:
        return self.owner_id is None and self.kind != self.KIND_IMPORTED

    @property
    def display_name(self) -> str:
        # Built-in names and descriptions are stored in English and marked with
        # gettext_noop in the data migration, so they translate at display time.
        return gettext(self.name) if self.is_builtin else self.name

    @property
    def display_description(self) -> str:
        if not self.description:
            return ""
        return gettext(self.description) if self.is_builtin else self.description

    @property
    def is_demo(self) -> bool:
        return self.kind == self.KIND_DEMO

    def teacher_config(self) -> TeacherConfig:
        if self.kind == self.KIND_DEMO:
            return TeacherConfig(demo=True)
        if self.kind == self.KIND_IMPORTED:
            return TeacherConfig(name_or_path=self.path, local_files_only=True)
        return TeacherConfig(name_or_path=self.hub_id)

    @property
    def unavailable_reason(self) -> str:
        """Why this teacher cannot be loaded now, and the fix ("" when it can).

        Cheap enough for every page view: file lookups and the hub probe remembered by cldweb.lib.hub.
        A run with such a teacher would be queued only to fail seconds later in the worker.
        """
        from cldweb.lib import hub

        if self.kind == self.KIND_HUB:
            if hub.cached_locally(self.hub_id) or hub.hub_reachable():
                return ""
            return gettext("“%(name)s” is not downloaded on this server and the Hugging Face hub cannot be reached. "
                           "Upload it as a ZIP on the Teachers page, or ask an administrator to import a local "
                           "copy.") % {"name": self.display_name}
        if self.kind == self.KIND_IMPORTED and not (Path(self.path) / "config.json").is_file():
            return gettext("The files of “%(name)s” are missing from the server. Upload it again on the Teachers "
                           "page.") % {"name": self.display_name}
        return ""

    # -- upload (Teachers page) -------------------------------------------------------

    @classmethod
    def add_hub_model(cls, *, owner, hub_id: str) -> "Teacher":
        """A hub model only this user sees; adding the same id twice returns the first."""
        teacher, _created = cls.objects.get_or_create(
            owner=owner, kind=cls.KIND_HUB, hub_id=hub_id, defaults={"name": hub_id})
        return teacher

    @classmethod
    def create_from_upload(cls, *, owner, upload, name: str = "") -> "Teacher":
        """Unpack, check and offer an uploaded teacher in one go (``stage_upload`` then ``accept``)."""
        return cls.stage_upload(owner=owner, upload=upload, name=name).accept()

    @classmethod
    def stage_upload(cls, *, owner, upload, name: str = "") -> "PendingTeacher":
        """Unpack a ZIP of a save_pretrained folder into CLD_TEACHERS_DIR/<random>, to be accepted or discarded.

        The archive is unpacked by cldweb.lib.archives.extract_zip (member and size caps, no
        traversal, links or nested archives), then checked without loading anything that could
        run code: pickle-only weights and auto_map configs are refused, the safetensors header
        and config.json must parse. Raises TeacherRejected (keeping no files) otherwise. No row
        exists until the user has seen what was found and accepted it.
        """
        from cldweb.lib.archives import UnsafeArchive, extract_zip
        from cldweb.messages import describe_error
        from cldweb.uploads import describe_archive_error
        from distill.teachers import describe_checkpoint

        original = sanitise_filename(upload.name or "")
        if original == "corpus":
            original = "teacher.zip"
        teachers_dir = Path(settings.CLD_TEACHERS_DIR)
        teachers_dir.mkdir(parents=True, exist_ok=True)
        PendingTeacher.discard_abandoned()
        token = secrets.token_hex(8)
        destination = teachers_dir / token
        incoming: Path | None = None
        try:
            if hasattr(upload, "temporary_file_path"):
                archive = Path(upload.temporary_file_path())
            else:  # small uploads stay in memory: give the extractor a real file
                incoming = teachers_dir / f".incoming-{secrets.token_hex(8)}.zip"
                with incoming.open("xb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
                archive = incoming
            try:
                extract_zip(archive, destination, max_members=settings.CLD_MAX_CHECKPOINT_MEMBERS,
                            max_total_bytes=settings.CLD_MAX_CHECKPOINT_UNPACKED_BYTES)
            except UnsafeArchive as error:
                raise TeacherRejected(describe_archive_error(error.code, error.params, original)) from error
            folder = _pretrained_folder(destination)
            if folder is None:
                raise TeacherRejected(
                    gettext("%(file)s has no config.json: zip the folder written by save_pretrained().")
                    % {"file": original})
            display = (name.strip() or PurePath(original).stem or original)[:200]
            try:
                _check_uploaded_checkpoint(folder)
            except DistillError as error:
                raise TeacherRejected(describe_error(error.code, error.params, error.message, teacher_name=display)
                                      ) from error
            pending = PendingTeacher(token=token, owner_id=owner.pk, name=display, original_filename=original,
                                     folder=str(folder), summary=json_safe(describe_checkpoint(folder)))
            pending.save()
            return pending
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise
        finally:
            if incoming is not None:
                incoming.unlink(missing_ok=True)


@dataclass
class PendingTeacher:
    """An uploaded teacher that passed the checks and waits for its owner to accept or discard it.

    Kept as files only: the unpacked folder and ``CLD_TEACHERS_DIR/<token>.pending.json`` beside
    it (outside the folder, so nothing in the ZIP can forge it). Accepting creates the Teacher row.
    """

    token: str  # 16 hex characters: the folder's name under CLD_TEACHERS_DIR and the confirmation URL
    owner_id: int
    name: str
    original_filename: str
    folder: str  # the save_pretrained folder: the token folder or its single top-level folder
    summary: dict[str, Any]  # distill.teachers.describe_checkpoint

    @staticmethod
    def _marker(token: str) -> Path:
        return Path(settings.CLD_TEACHERS_DIR) / f"{token}.pending.json"

    def save(self) -> None:
        self._marker(self.token).write_text(json.dumps(self.__dict__, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def get(cls, token: str, owner) -> "PendingTeacher | None":
        """The pending upload ``token`` of ``owner``; None for another user's, a finished one or a bad token."""
        if len(token) != 16 or any(ch not in "0123456789abcdef" for ch in token):
            return None
        try:
            pending = cls(**json.loads(cls._marker(token).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return pending if pending.owner_id == owner.pk else None

    def accept(self) -> Teacher:
        teacher = Teacher.objects.create(owner_id=self.owner_id, name=self.name, kind=Teacher.KIND_IMPORTED,
                                         path=self.folder,
                                         description=gettext("Uploaded from %(file)s") % {"file": self.original_filename})
        self._marker(self.token).unlink(missing_ok=True)
        return teacher

    def discard(self) -> None:
        shutil.rmtree(Path(settings.CLD_TEACHERS_DIR) / self.token, ignore_errors=True)
        self._marker(self.token).unlink(missing_ok=True)

    # An upload nobody accepted or discarded (the tab was closed) would hold its disk space for ever.
    ABANDONED_AFTER = timedelta(days=1)

    @classmethod
    def discard_abandoned(cls) -> None:
        """Remove uploads left on the confirmation page for longer than ABANDONED_AFTER."""
        cutoff = (timezone.now() - cls.ABANDONED_AFTER).timestamp()
        for marker in Path(settings.CLD_TEACHERS_DIR).glob("*.pending.json"):
            try:
                if marker.stat().st_mtime < cutoff:
                    token = marker.name.removesuffix(".pending.json")
                    shutil.rmtree(marker.parent / token, ignore_errors=True)
                    marker.unlink(missing_ok=True)
            except OSError:
                continue  # removed meanwhile by another request

    @property
    def weight_megabytes(self) -> str:
        return f"{(self.summary.get('weight_bytes') or 0) / 1_048_576:.1f}"


class TeacherRejected(Exception):
    """An uploaded teacher that cannot be offered; ``message`` is translated and names the user's file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _pretrained_folder(root: Path) -> Path | None:
    """The unpacked save_pretrained folder: the archive's root, or its single top-level folder."""
    if (root / "config.json").is_file():
        return root
    entries = [entry for entry in root.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "config.json").is_file():
        return entries[0]
    return None


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")


def _check_uploaded_checkpoint(folder: Path) -> None:
    """Raise a DistillError unless ``folder`` is a safetensors checkpoint cld can load without running code.

    Reads file names, JSON and the safetensors header only: nothing is unpickled, no custom code
    is imported. Pickle files next to the safetensors weights are deleted so nothing ever loads them.
    """
    from safetensors import safe_open

    from distill.teachers import PICKLE_SUFFIXES, check_local_checkpoint

    try:
        check_local_checkpoint(folder)  # pickle-only weights, auto_map / remote code
    except json.JSONDecodeError as error:
        raise TeacherUnavailable(f"{folder}: a config file is not valid JSON ({error})", code="teacher_invalid",
                                 teacher=str(folder)) from error
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not isinstance(config, dict) or not config.get("model_type"):
        raise TeacherUnavailable(f"{folder}/config.json has no model_type", code="teacher_invalid", teacher=str(folder))
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise TeacherUnavailable(f"{folder} has no tokenizer files", code="teacher_invalid", teacher=str(folder))
    for weights in folder.glob("*.safetensors"):
        try:
            with safe_open(str(weights), framework="pt") as tensors:
                tensors.keys()
        except Exception as error:  # safetensors raises its own error types for a bad header
            raise TeacherUnavailable(f"{weights.name} is not a safetensors file ({error})", code="teacher_invalid",
                                     teacher=str(folder)) from error
    for path in folder.rglob("*"):
        if path.is_file() and path.name.endswith(PICKLE_SUFFIXES):
            path.unlink()


class RunStillActive(Exception):
    """A run (or a corpus's runs) cannot be deleted while a worker may still write its folder."""

    def __init__(self, run_ids: list[int]) -> None:
        super().__init__(f"runs still active: {run_ids}")
        self.run_ids = run_ids


def device_in_words(device: str, name: str = "") -> str:
    """"CPU" or "GPU: NVIDIA H200" for the engine's torch device type ("cpu", "cuda") and the GPU's name."""
    if device == "cpu":
        return gettext("CPU")
    if device == "cuda":
        return gettext("GPU: %(name)s") % {"name": name} if name else gettext("GPU")
    return device  # another torch backend ("mps"): its own name says it


DEMO_TEACHER_NAME = gettext_noop(
    "Demo teacher (small transformer trained from scratch on your corpus — not pretrained)"
)


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PREPARING = "preparing", _("Preparing data")
        FINETUNING_TEACHER = "finetuning_teacher", _("Fine-tuning the teacher")
        LABELLING = "labelling", _("Teacher labelling")
        DISTILLING = "distilling", _("Distilling the student")
        EVALUATING = "evaluating", _("Evaluating")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = ("queued", "preparing", "finetuning_teacher", "labelling", "distilling", "evaluating")
    STAGE_STATUSES = ("preparing", "finetuning_teacher", "labelling", "distilling", "evaluating")
    TERMINAL_STATUSES = ("done", "failed", "cancelled")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="runs")
    teacher = models.ForeignKey(Teacher, on_delete=models.PROTECT, related_name="runs")
    student_architecture = models.CharField(max_length=32, default="bilstm")
    config = models.JSONField(default=dict)  # the resolved RunConfig.to_dict()
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)  # DistillError.code, "internal", "time_limit"
    error_message = models.TextField(blank=True)  # the engine's English message (translated via error_code)
    error_params = models.JSONField(default=dict, blank=True)  # DistillError.params, to format translations
    cancel_requested = models.BooleanField(default=False)
    # Times a worker took the run (>1 after a crash). Each take increments it, so it is also the
    # fencing token of that attempt: a worker only writes the row while ``attempt`` is still its own.
    attempt = models.PositiveIntegerField(default=0)
    # Last sign of life: while in a stage, the worker's heartbeat (every CLD_HEARTBEAT_INTERVAL_S);
    # while queued again after a crash, when the watchdog re-queued it (null = never taken: see created_at).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    device = models.CharField(max_length=32, blank=True)  # cpu | cuda, as reported by the engine
    device_name = models.CharField(max_length=200, blank=True)  # the GPU's name ("NVIDIA H200"); "" on a CPU
    result = models.JSONField(default=dict, blank=True)  # RunResult.to_dict()
    # The latest on_progress point of the current stage, e.g. {"stage": "labelling", "done": 12345,
    # "total": 100000, "eta_s": 180.0}: labelling a big corpus takes hours without a training step
    # to chart. Empty when the stage reports none; a new stage clears it.
    progress = models.JSONField(default=dict, blank=True)
    export_path = models.CharField(max_length=500, blank=True)  # the student zip
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk}"

    # -- creation -----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        owner,
        corpus: Corpus,
        teacher: Teacher,
        student_architecture: str = DEFAULT_STUDENT,
        mode: str = "soft",
        epochs: int = 5,
        max_length: int = 128,
    ) -> "Run":
        """Create a queued run with its resolved config and enqueue it once the transaction commits."""
        run = cls.objects.create(
            owner=owner,
            corpus=corpus,
            teacher=teacher,
            student_architecture=student_architecture,
            config={"data": {"max_length": max_length}, "train": {"mode": mode, "epochs": epochs},
                    "student": {"preset": STUDENT_PRESETS.get(student_architecture, "small")}},
        )
        run.config = run.build_config().to_dict()
        run.save(update_fields=["config"])
        run.enqueue()
        return run

    def enqueue(self) -> None:
        """Send the Celery task after commit, so the worker never reads a row that is not there yet."""
        from cldweb.tasks import run_distillation

        run_id = self.pk

        def send() -> None:
            task = run_distillation.apply_async((run_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)
            Run.objects.filter(pk=run_id).update(celery_task_id=task.id)

        transaction.on_commit(send)

    # -- configuration --------------------------------------------------------------

    @property
    def output_dir(self) -> Path:
        return Path(settings.CLD_RUNS_DIR) / str(self.pk)

    def build_config(self) -> RunConfig:
        """The engine config: user choices from ``config``, paths and teacher forced from the rows.

        Idempotent: ``Run.config`` holds the result, and building again from it gives the same.
        """
        base = RunConfig.from_dict(self.config or {})
        data = DataConfig(
            **{
                **base.data.__dict__,
                "train_path": str(self.corpus.path),
                "text_column": self.corpus.text_column,
                "label_column": self.corpus.label_column,
                "max_text_chars": settings.CLD_MAX_TEXT_CHARS,
                "encoding": self.corpus.encoding,  # the codec the corpus was analysed with (detected or chosen)
                "label_names": dict(self.corpus.label_names or {}),
            }
        )
        teacher = self.teacher.teacher_config()
        # Keep tuning knobs chosen earlier (batch sizes, epochs) but never the identity of the teacher.
        teacher_knobs = {
            k: v for k, v in base.teacher.__dict__.items() if k not in ("name_or_path", "demo", "local_files_only")
        }
        teacher = TeacherConfig(
            **{**teacher_knobs, "name_or_path": teacher.name_or_path, "demo": teacher.demo,
               "local_files_only": teacher.local_files_only}
        )
        student = StudentConfig(**{**base.student.__dict__, "architecture": self.student_architecture})
        train = TrainConfig(**base.train.__dict__)
        return RunConfig(
            data=data,
            teacher=teacher,
            student=student,
            train=train,
            output_dir=str(self.output_dir),
            cache_dir=str(settings.CLD_TEACHER_CACHE_DIR),
        )

    # -- state ----------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    def request_cancel(self) -> bool:
        """Ask the run to stop. A queued run is cancelled at once; a running one at its next step.

        Returns False when the run had already ended.
        """
        now = timezone.now()
        if Run.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.CANCELLED, cancel_requested=True, finished_at=now
        ):
            self.refresh_from_db()
            self.remove_files()  # a run queued again after a crash has checkpoints; no worker holds it
            return True
        if Run.objects.filter(pk=self.pk, status__in=self.ACTIVE_STATUSES).update(cancel_requested=True):
            self.refresh_from_db()
            return True
        self.refresh_from_db()
        return False

    def mark_stage(self, stage: str, info: dict[str, object] | None = None) -> None:
        """Record the engine's stage (and device when it says) unless the run already ended."""
        if stage not in self.STAGE_STATUSES:
            return
        fields: dict[str, Any] = {"status": stage, "heartbeat_at": timezone.now(), "progress": {}}
        device = (info or {}).get("device")
        if device:
            fields["device"] = str(device)[:32]
            fields["device_name"] = str((info or {}).get("device_name") or "")[:200]
        Run.objects.filter(pk=self.pk).exclude(status__in=self.TERMINAL_STATUSES).update(**fields)
        self.refresh_from_db(fields=["status", "device", "device_name", "heartbeat_at", "progress"])

    def record_progress(self, stage: str, point: dict[str, float]) -> bool:
        """Store how far ``stage`` is (done, total, eta_s); False when the run is no longer in it.

        A conditional UPDATE on the status, like ``mark_stage``'s: a point that arrives after the run
        ended (no stage is a terminal status) or late from a stage the run has left must not bring
        back a progress bar that no longer means anything.
        """
        if stage not in self.STAGE_STATUSES:
            return False
        progress = {**json_safe(dict(point)), "stage": stage}
        if not Run.objects.filter(pk=self.pk, status=stage).update(progress=progress):
            return False
        self.progress = progress
        return True

    # -- who runs it: the start protocol, heartbeats and the watchdog --------------------
    #
    # The row, not the broker, says who runs a job. A task takes the row with ``claim`` (one
    # atomic compare-and-set on ``attempt``), writes ``heartbeat_at`` while it works, and ends it
    # with ``mark_*(..., attempt=...)``, which change nothing once another attempt took over.
    # ``watchdog`` finds rows whose worker died (stale heartbeat) or whose message was lost
    # (queued too long) and queues them again; Redis may forget messages, the row does not.

    def heartbeat_is_stale(self, now: datetime | None = None) -> bool:
        if self.heartbeat_at is None:
            return True
        now = now or timezone.now()
        return self.heartbeat_at < now - timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S)

    @classmethod
    def claim(cls, run_id: int) -> "Claim":
        """Take the run for a new attempt, or say why not.

        Taken when queued, or when in a stage with a stale heartbeat (its worker died and the
        message came back). In a stage with a fresh heartbeat it belongs to a live worker: this
        delivery is a duplicate and is left alone. The take is a conditional UPDATE on
        ``attempt`` (inside select_for_update, which SQLite ignores), so of two workers that
        read the same row, exactly one wins.
        """
        now = timezone.now()
        with transaction.atomic():
            run = cls.objects.select_for_update(of=("self",)).select_related("corpus", "teacher").filter(pk=run_id).first()
            if run is None:
                return Claim(Claim.MISSING, None)
            if run.is_finished:
                return Claim(Claim.FINISHED, run)
            if run.status != cls.Status.QUEUED and not run.heartbeat_is_stale(now):
                return Claim(Claim.BUSY, run)
            if run.cancel_requested:
                run.mark_cancelled(attempt=run.attempt)
                return Claim(Claim.CANCELLED, run)
            if run.status != cls.Status.QUEUED and run.attempt >= settings.CLD_MAX_ATTEMPTS:
                run.mark_worker_lost()
                return Claim(Claim.GAVE_UP, run)
            taken = cls.objects.filter(pk=run.pk, attempt=run.attempt).exclude(status__in=cls.TERMINAL_STATUSES).update(
                attempt=F("attempt") + 1, status=cls.Status.PREPARING, heartbeat_at=now,
                started_at=run.started_at or now, error_code="", error_message="", error_params={},
            )
            if not taken:
                return Claim(Claim.BUSY, run)
        run.refresh_from_db()
        return Claim(Claim.TAKEN, run)

    def beat(self, attempt: int) -> bool:
        """Write the heartbeat of ``attempt``; False once the run is not that attempt's to run any more
        (re-queued by the watchdog, taken by another worker, or ended)."""
        return bool(
            Run.objects.filter(pk=self.pk, attempt=attempt, status__in=self.STAGE_STATUSES)
            .update(heartbeat_at=timezone.now())
        )

    def mark_worker_lost(self) -> bool:
        return self._finish(self.attempt, **self._worker_lost_fields())

    def _worker_lost_fields(self) -> dict[str, Any]:
        return {
            "status": self.Status.FAILED,
            "error_code": "worker_lost",
            "error_message": (
                f"The worker stopped {self.attempt} times while running this job "
                f"(killed, out of memory or restarted), so it was not started again."
            ),
            "error_params": {"attempts": self.attempt},
        }

    @classmethod
    def watchdog(cls, now: datetime | None = None) -> "WatchdogReport":
        """Recover runs that no live worker holds. Beat calls it every CLD_WATCHDOG_INTERVAL_S.

        * In a stage with a heartbeat older than CLD_HEARTBEAT_STALE_S (the worker was killed):
          queued again (the next attempt resumes from the checkpoint); cancelled instead if a
          cancel was requested; failed with ``worker_lost`` after CLD_MAX_ATTEMPTS attempts.
        * Queued for longer than CLD_QUEUE_LOST_S with no worker (the message was lost, e.g.
          Redis restarted): sent again. A message that was only waiting is then delivered
          twice; the start protocol drops the second.
        """
        now = now or timezone.now()
        stale_before = now - timedelta(seconds=settings.CLD_HEARTBEAT_STALE_S)
        lost_before = now - timedelta(seconds=settings.CLD_QUEUE_LOST_S)
        report = WatchdogReport()
        silent = Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True)
        for run in cls.objects.filter(silent, status__in=cls.STAGE_STATUSES):
            # Conditional on what was read: a worker that beat or a task that took the row
            # since then wins, and this sweep leaves the run alone.
            rows = cls.objects.filter(silent, pk=run.pk, attempt=run.attempt, status=run.status)
            if run.cancel_requested:
                if rows.update(status=cls.Status.CANCELLED, finished_at=now):
                    run.remove_files()  # its worker is gone: nothing writes the folder any more
                    report.cancelled.append(run.pk)
            elif run.attempt >= settings.CLD_MAX_ATTEMPTS:
                if rows.update(**run._worker_lost_fields(), finished_at=now):
                    report.failed.append(run.pk)
            elif rows.update(status=cls.Status.QUEUED, heartbeat_at=now):
                run.enqueue()
                report.requeued.append(run.pk)
        waiting_since = Q(heartbeat_at__lt=lost_before) | Q(heartbeat_at__isnull=True, created_at__lt=lost_before)
        for run in cls.objects.filter(waiting_since, status=cls.Status.QUEUED, cancel_requested=False):
            if cls.objects.filter(pk=run.pk, status=cls.Status.QUEUED, heartbeat_at=run.heartbeat_at).update(heartbeat_at=now):
                run.enqueue()
                report.resent.append(run.pk)
        return report

    # -- endings: with ``attempt``, only while the run is still that attempt's ------------

    @property
    def student_display(self) -> str:
        return str(dict(STUDENT_CHOICES).get(self.student_architecture, self.student_architecture))

    @property
    def trains_on_labels_only(self) -> bool:
        """The no-distillation baseline (mode "hard"): the student never sees the teacher's outputs."""
        return (self.config.get("train") or {}).get("mode") == "hard"

    @property
    def mode_display(self) -> str:
        mode = (self.config.get("train") or {}).get("mode", "")
        return str(dict(MODE_CHOICES).get(mode, mode))

    def record_result(self, result: dict[str, Any], *, attempt: int | None = None) -> bool:
        """Store the engine's RunResult: done, or cancelled when the engine stopped on the user's request."""
        cancelled = result.get("status") == "cancelled"
        device = str(result.get("device") or self.device)[:32]
        device_name = str((result.get("environment") or {}).get("device_name") or "") if device == "cuda" else ""
        finished = self._finish(
            attempt,
            status=self.Status.CANCELLED if cancelled else self.Status.DONE,
            result=result,
            export_path="" if cancelled else str(result.get("export_path") or ""),
            device=device,
            device_name=device_name[:200] or self.device_name,
        )
        if finished and cancelled:
            self.remove_files()
        return finished

    def mark_cancelled(self, *, attempt: int | None = None) -> bool:
        """Cancelled (by the worker that ran it, or before any worker did): only the record stays."""
        finished = self._finish(attempt, status=self.Status.CANCELLED)
        if finished:
            self.remove_files()
        return finished

    # -- files and deletion -----------------------------------------------------------

    def remove_files(self) -> None:
        """Delete what this run wrote for itself: its folder (checkpoints, the fine-tuned teacher,
        labels, the exported student), once the current transaction commits.

        The teacher-output cache (CLD_TEACHER_CACHE_DIR) is kept: it is keyed by content, so
        another run over the same texts and teacher reads the same entries.
        """
        folder = self.output_dir
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))

    def delete(self, *args: Any, **kwargs: Any):
        """Delete the run, its points and its folder; an active run must be cancelled first
        (its worker would go on writing the folder)."""
        if Run.objects.filter(pk=self.pk, status__in=self.ACTIVE_STATUSES).exists():
            raise RunStillActive([self.pk])
        self.remove_files()
        return super().delete(*args, **kwargs)

    def mark_failed(self, code: str, message: str, params: dict[str, Any] | None = None, *,
                    attempt: int | None = None) -> bool:
        return self._finish(attempt, status=self.Status.FAILED, error_code=code[:64], error_message=message,
                            error_params=json_safe(params or {}))

    def _finish(self, attempt: int | None, **fields: Any) -> bool:
        """End the run with ``fields``. Given an ``attempt``, only if the run is still that attempt's
        and has not ended: a worker that lost its run must not overwrite the outcome of another."""
        fields["finished_at"] = timezone.now()
        rows = Run.objects.filter(pk=self.pk)
        if attempt is not None:
            rows = rows.filter(attempt=attempt).exclude(status__in=self.TERMINAL_STATUSES)
        if not rows.update(**fields):
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def touch_heartbeat(self) -> bool:
        """Record that the worker is alive; returns whether a cancel was requested."""
        Run.objects.filter(pk=self.pk).update(heartbeat_at=timezone.now())
        return bool(Run.objects.filter(pk=self.pk).values_list("cancel_requested", flat=True).first())

    # -- progress -------------------------------------------------------------------

    def points_after(self, seq: int) -> list[dict[str, Any]]:
        """Metric points with a seq above ``seq``, oldest first, as sent to browsers."""
        return [point.to_message() for point in self.points.filter(seq__gt=seq).order_by("seq")]

    @property
    def current_progress(self) -> dict[str, Any]:
        """``progress`` while the run is still in the stage that reported it, else {}.

        A run re-queued after its worker died keeps the last point of the stage it was in
        until the next attempt begins a stage; that point describes no work in progress.
        """
        if self.is_active and self.progress and self.progress.get("stage") == self.status:
            return self.progress
        return {}

    @property
    def device_display(self) -> str:
        return device_in_words(self.device, self.device_name)

    def runs_ahead(self) -> int:
        """While queued: how many runs (anyone's) a worker takes before this one, those running
        now and those queued earlier. Celery hands out runs in the order they were sent."""
        if self.status != self.Status.QUEUED:
            return 0
        return (Run.objects.filter(Q(status__in=self.STAGE_STATUSES)
                                   | Q(status=self.Status.QUEUED, cancel_requested=False, pk__lt=self.pk))
                .exclude(pk=self.pk).count())

    def status_message(self) -> dict[str, Any]:
        return {
            "type": "status",
            "status": self.status,
            "device": self.device,
            "device_name": self.device_name,
            "is_active": self.is_active,
            "cancel_requested": self.cancel_requested,
            "progress": self.current_progress,
        }

    # -- results --------------------------------------------------------------------

    @property
    def export_file(self) -> Path | None:
        if self.status != self.Status.DONE or not self.export_path:
            return None
        path = Path(self.export_path)
        return path if path.is_file() else None

    def comparison(self) -> list[dict[str, Any]]:
        """Teacher and student side by side, formatted for the results table."""
        rows = []
        for key, label in (("teacher", _("Teacher")), ("student", _("Student"))):
            report = (self.result or {}).get(key) or {}
            rows.append({
                "model": label,
                "dev_accuracy": _percent(report.get("dev_accuracy")),
                "test_accuracy": _percent(report.get("test_accuracy")),
                "parameters": f"{report.get('parameters') or 0:,}",
                "size_bytes": report.get("size_bytes") or 0,
                "latency_p50_ms": _milliseconds(report.get("latency_p50_ms")),
                "latency_p95_ms": _milliseconds(report.get("latency_p95_ms")),
                "samples_per_second": f"{round(report.get('samples_per_second') or 0.0):,}",
            })
        return rows

    # Below this many test texts one text moves the accuracy by a point or more: say the scores decide nothing.
    FEW_TEST_TEXTS = 100

    @property
    def test_noise(self) -> dict[str, Any] | None:
        """How far chance alone moves each test accuracy (95% Wilson intervals), so a user does not read
        noise as a gain; None before a test set was scored."""
        result = self.result or {}
        size = int((result.get("corpus") or {}).get("test") or 0)
        if not size:
            return None
        intervals = []
        for key, label in (("teacher", gettext("teacher")), ("student", gettext("student"))):
            accuracy = (result.get(key) or {}).get("test_accuracy")
            if accuracy is not None:
                low, high = wilson_interval(accuracy, size)
                intervals.append(gettext("%(model)s %(low)s–%(high)s") % {
                    "model": label, "low": f"{low * 100:.1f}", "high": f"{high * 100:.1f}%"})
        sentence = gettext("The test set has %(size)s texts, so each test accuracy is only known within a range "
                           "(95%% interval): %(intervals)s. Differences inside these ranges may be chance.") % {
            "size": f"{size:,}", "intervals": gettext("; ").join(intervals)}
        warning = ""
        if size < self.FEW_TEST_TEXTS:
            warning = gettext("Only %(size)s texts were held back for testing, too few to tell a good model from a poor "
                              "one. Add more labelled rows to the corpus before deciding.") % {"size": f"{size:,}"}
        return {"size": size, "sentence": sentence, "warning": warning}

    def speedup(self) -> dict[str, Any] | None:
        """How much faster (batch 1, median) and smaller the student is than its teacher, in sentences.

        ``summary`` holds what is true; ``warnings`` say plainly when the student is slower or larger
        than its teacher, since then distillation has not delivered what it is for. None until both
        are measured (a run finished by an older release has no latency).
        """
        teacher = (self.result or {}).get("teacher") or {}
        student = (self.result or {}).get("student") or {}
        if not (teacher.get("parameters") and student.get("parameters")
                and teacher.get("latency_p50_ms") and student.get("latency_p50_ms")):
            return None
        faster = teacher["latency_p50_ms"] / student["latency_p50_ms"]
        smaller = teacher["parameters"] / student["parameters"]
        params = {"faster": _ratio(faster), "smaller": _ratio(smaller),
                  "student_ms": _milliseconds(student["latency_p50_ms"]),
                  "teacher_ms": _milliseconds(teacher["latency_p50_ms"]),
                  "student_parameters": f"{student['parameters']:,}", "teacher_parameters": f"{teacher['parameters']:,}"}
        summary, warnings = [], []
        if faster >= 1 and smaller >= 1:
            summary.append(gettext("The student answers a single text %(faster)s× faster than the teacher (median "
                                   "time) and is %(smaller)s× smaller.") % params)
        elif faster >= 1:
            summary.append(gettext("The student answers a single text %(faster)s× faster than the teacher (median time).") % params)
        elif smaller >= 1:
            summary.append(gettext("The student is %(smaller)s× smaller than the teacher.") % params)
        if faster < 1:
            warnings.append(gettext(
                "The student is slower than its teacher on this machine (%(student_ms)s ms against %(teacher_ms)s ms "
                "for one text). A smaller student or a shorter maximum length makes it faster.") % params)
        if smaller < 1:
            warnings.append(gettext(
                "The student is larger than its teacher (%(student_parameters)s parameters against "
                "%(teacher_parameters)s). A smaller student would make distillation worth it.") % params)
        return {"faster": faster, "smaller": smaller, "summary": summary, "warnings": warnings}

    def measurement(self) -> dict[str, Any] | None:
        """Where and how the results were measured (device, threads, precision, steps), for the results."""
        environment = (self.result or {}).get("environment") or {}
        training = (self.result or {}).get("training") or {}
        if not environment:
            return None  # a run finished by an older release did not record it
        device_type = self.device or (self.result or {}).get("device") or ""
        # "cuda" means nothing to most users; the hardware's own name says the rest.
        device = {"cpu": gettext("CPU"), "cuda": gettext("GPU")}.get(device_type, device_type)
        name = environment.get("device_name") or ""
        return {
            "device": f"{device} ({name})" if name else device,
            "threads": environment.get("threads") or 0,
            "precision": environment.get("precision") or "float32",
            "torch": environment.get("torch") or "",
            "steps": f"{training.get('steps') or 0:,}",
            "stopped_early": bool(training.get("stopped_early")),
        }

    @property
    def corpus_warnings(self) -> list[str]:
        from cldweb.messages import corpus_warnings

        return corpus_warnings((self.result or {}).get("corpus") or {})

    @property
    def download_name(self) -> str:
        return f"cld-run-{self.pk}-student.zip"


@dataclass
class Claim:
    """What ``Run.claim`` decided; ``run`` is the row as read (None when it does not exist)."""

    TAKEN = "taken"  # this worker runs the new attempt (run.attempt)
    FINISHED = "finished"  # already done, failed or cancelled: nothing to do
    BUSY = "busy"  # a live worker has it (fresh heartbeat) or won the race: a duplicate delivery
    CANCELLED = "cancelled"  # a cancel was requested before anyone ran it again: now cancelled
    GAVE_UP = "gave_up"  # its worker died CLD_MAX_ATTEMPTS times: now failed with worker_lost
    MISSING = "missing"  # no such run (deleted)

    outcome: str
    run: "Run | None"


@dataclass
class WatchdogReport:
    """Run ids each watchdog sweep acted on."""

    requeued: list[int] = field(default_factory=list)  # worker died: queued again for another attempt
    resent: list[int] = field(default_factory=list)  # still queued long after it was sent: sent again
    cancelled: list[int] = field(default_factory=list)  # worker died after a cancel was requested
    failed: list[int] = field(default_factory=list)  # worker died CLD_MAX_ATTEMPTS times

    @property
    def changed(self) -> list[int]:
        """Runs whose status changed (browsers watching them are told)."""
        return self.requeued + self.cancelled + self.failed


def wilson_interval(share: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: unlike share ± z·se it stays inside 0–1 and does not
    shrink to nothing at 0% or 100% (2 of 2 right is no proof of a perfect model)."""
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    spread = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _milliseconds(value: float | None) -> str:
    """A latency for people: 0.37, 4.9, 120 (two decimals below 1 ms, one below 10 ms, whole above)."""
    if not value:
        return "—"
    return f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _ratio(value: float) -> str:
    """A ratio above 1 as people say it ("4.2", "12"), below 1 as how many times the other way round."""
    value = value if value >= 1 else 1 / value
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


class MetricPoint(models.Model):
    KIND_STEP = "step"
    KIND_EVAL = "eval"
    KIND_CHOICES = [(KIND_STEP, "step"), (KIND_EVAL, "eval")]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="points")
    seq = models.PositiveIntegerField()  # 1, 2, 3... per run; browsers resume "after" the last one seen
    phase = models.CharField(max_length=16)  # "teacher" (fine-tuning) or "student" (distillation)
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    step = models.IntegerField(default=0)  # optimizer step within the phase
    values = models.JSONField(default=dict)  # flat dict of named numbers: loss, dev_accuracy, lr, ...
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="metricpoint_unique_run_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.phase}/{self.kind}"

    @classmethod
    def next_seq(cls, run_id: int) -> int:
        """The seq to use for the next point. Safe with a single writer per run (the worker)."""
        latest = cls.objects.filter(run_id=run_id).aggregate(latest=Max("seq"))["latest"]
        return (latest or 0) + 1

    def to_message(self) -> dict[str, Any]:
        return {"seq": self.seq, "phase": self.phase, "kind": self.kind, "step": self.step, "values": self.values}



class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A per-user token for ``Authorization: Bearer <token>`` on the JSON endpoints.

    Only a SHA-256 of the token is stored (it is 256 random bits, so a slow hash adds nothing);
    the token itself is shown once, when it is created. Revoking keeps the row for the record.
    """

    PREFIX = "cld_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex of the whole token
    hint = models.CharField(max_length=16)  # the token's first characters, to tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    @classmethod
    def issue(cls, *, user, name: str) -> tuple["ApiToken", str]:
        """Create a token for ``user``; returns the row and the token, which is never stored."""
        token = cls.PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name.strip()[:100], token_hash=cls.hash(token),
                                 hint=token[: len(cls.PREFIX) + 6])
        return row, token

    @classmethod
    def authenticate(cls, token: str) -> "ApiToken | None":
        """The live token row for ``token`` (recording its use), or None for unknown and revoked tokens."""
        if not token.startswith(cls.PREFIX) or len(token) > 200:
            return None
        row = cls.objects.active().select_related("user").filter(token_hash=cls.hash(token)).first()
        if row is None or not row.user.is_active:
            return None
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):  # one write a minute, not per poll
            row.last_used_at = now
            row.save(update_fields=["last_used_at"])
        return row

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

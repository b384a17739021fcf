"""Corpora, teachers, runs and their metric points.

Logic that belongs to a row lives on its model (how a Run becomes a RunConfig,
how it is cancelled, how its progress is recorded); views only fetch, call and
redirect. Who runs a Run (claim, heartbeat, watchdog, endings) is cldweb.jobs;
sentences for people are cldweb.messages, a run's results in words cldweb.presentation;
upload names and folders cldweb.uploads.

One file over 400 lines because it is Django's one place for the app's models: the
four rows refer to each other, and each keeps its own domain methods beside its fields.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from cldweb import messages, timeline
from cldweb.celery import RUN_DISTILLATION_TASK
from cldweb.celery import app as celery_app
from cldweb.lib.jsonsafe import json_safe
from cldweb.uploads import (corpus_upload_to, pretrained_folder, sanitise_filename, stream_upload_to,
                            unlabeled_upload_to, unzipped_upload)
from distill import (CONLL_COLUMNS, CONLL_SUFFIXES, CorpusError, CorpusPreview, DataConfig, DistillError, RunConfig, SkippedRow,
                     StudentConfig, TeacherConfig, TrainConfig, TransferConfig, inspect_corpus, is_zip, list_skipped_rows,
                     preview_corpus, saved_checkpoints, store_text_lines, texts_per_label_for_one_row)

# Students a user may pick; the engine knows more (distill.config.STUDENT_ARCHITECTURES),
# the web offers them as they are tested end to end.
STUDENT_CHOICES = [
    ("bilstm", _("BiLSTM (small and fast, runs well on a CPU)")),
    ("bigru", _("BiGRU (like the BiLSTM, a little smaller and faster)")),
    ("textcnn", _("TextCNN (the fastest; reads 2-4 character windows)")),
    ("transformer", _("Small transformer (the most capable; the slowest on a CPU)")),
]

# The students as a table of many runs names them, where the choices' explanations would fill the row.
STUDENT_SHORT_NAMES = {"bilstm": "BiLSTM", "bigru": "BiGRU", "textcnn": "TextCNN", "transformer": _("Small transformer")}

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
    # The second text of a text-pair corpus (DataConfig.text_pair_column, task "pair"); "" = one text per row.
    text_pair_column = models.CharField(_("second text column"), max_length=200, blank=True)
    # Named entities (DataConfig.task "tagging"): the label column holds each sentence's entities, or the file is CoNLL.
    tagging = models.BooleanField(_("named entities"), default=False)
    row_count = models.PositiveIntegerField(default=0)
    labeled_count = models.PositiveIntegerField(default=0)
    label_counts = models.JSONField(default=dict)  # label -> rows
    entity_counts = models.JSONField(default=dict, blank=True)  # a tagging corpus's entity type -> entities
    label_names = models.JSONField(default=dict, blank=True)  # raw label -> the name users see; absent = raw value
    report = models.JSONField(default=dict)  # the engine's split report (CorpusReport): duplicates, overlap, warnings
    # More text without labels, one per line (DataConfig.unlabeled_path): stored as UTF-8 with its usable
    # lines only (distill.store_text_lines), beside the corpus file; "" when none is attached.
    unlabeled_file = models.FileField(upload_to=unlabeled_upload_to, max_length=255, blank=True)
    unlabeled_filename = models.CharField(max_length=200, blank=True)  # display only, sanitised
    unlabeled_lines = models.PositiveIntegerField(default=0)  # texts kept
    unlabeled_empty_lines = models.PositiveIntegerField(default=0)  # blank lines left out
    unlabeled_too_long_lines = models.PositiveIntegerField(default=0)  # lines over CLD_MAX_TEXT_CHARS left out
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
    def is_pair(self) -> bool:
        """Two texts and one label a row (question matching, paraphrase): runs train the engine's pair task."""
        return bool(self.text_pair_column)

    @property
    def task(self) -> str:
        """The engine task its runs train: "tagging", "pair" or "single"."""
        return "tagging" if self.tagging else "pair" if self.is_pair else "single"

    @property
    def warnings(self) -> list[str]:
        """Duplicates, label conflicts, overlap, imbalance: translated from the report's numbers."""
        return messages.corpus_warnings(self.report)

    @property
    def problem(self) -> str:
        """Why no run can use this corpus with the chosen columns ("" when it can)."""
        error = self.report.get("error")
        if not error:
            return ""
        return messages.describe_corpus_error(error["code"], error.get("params") or {}, error.get("detail", ""),
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
        return messages.split_too_small(dev=report.get("dev", 0), test=report.get("test", 0),
                                        percent=f"{defaults.test_fraction * 100:g}", needed=needed, largest=largest)

    # -- upload and analysis ---------------------------------------------------------

    @classmethod
    def create_from_upload(cls, *, owner, upload, name: str = "") -> "Corpus":
        """Stream an uploaded file to disk under a random name, read it, and save the row.

        Raises CorpusRejected (and keeps nothing: no row, no file) when the file is too
        large or cannot be read as a corpus.
        """
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
                        raise CorpusRejected(messages.file_too_large(original, limit))
                    out.write(chunk)
            if is_zip(destination):
                # The public review sets come zipped; one CSV inside is what the user means.
                original, stored_name, destination = unzipped_upload(original, destination, limit)
            preview = preview_corpus(destination, rows=1)
            corpus = cls(owner=owner, name=(name.strip() or original)[:200], original_filename=original)
            corpus.file.name = stored_name
            text_column = preview.guessed_text_column or preview.columns[0]
            label_column = preview.guessed_label_column or ""
            # A CoNLL file, by its name (.conll, .bio, ...) or its content (the engine sniffs it), can only be
            # named entities; its sentences and tags are the preview's two columns.
            tagging = preview.format == "conll" or PurePath(original).suffix.lower() in CONLL_SUFFIXES
            corpus.analyse(text_column, label_column, tagging=tagging)
            corpus.save()
            return corpus
        except CorpusError as error:
            destination.unlink(missing_ok=True)
            raise CorpusRejected(
                messages.describe_corpus_error(error.code, error.params, error.detail, original)
            ) from error
        except BaseException:
            destination.unlink(missing_ok=True)
            raise

    def analyse(self, text_column: str, label_column: str, encoding: str | None = None,
                text_pair_column: str | None = None, tagging: bool | None = None) -> None:
        """Read the file with these columns and fill counts and the split report (not saved).

        ``encoding`` "" detects it again, None keeps the one in use, a codec forces it.
        ``text_pair_column`` names the second text of a pair corpus, "" makes it single texts again,
        None keeps the one in use; a row whose second text is empty is skipped like one without a text.
        ``tagging`` True reads named entities (the label column's spans, or a CoNLL file), None keeps the choice.
        Raises CorpusError when the file cannot be read with these columns. A corpus that
        reads but cannot be split for training (e.g. a single class) is kept, with the
        reason in ``report["error"]``, so the user can pick another label column.
        Rows the engine skips (empty text, too long) are listed in ``report["skipped"]``.
        """
        if encoding is None:
            encoding = self.encoding if self.encoding and self.encoding != self._detected_encoding() else ""
        if text_pair_column is None:
            text_pair_column = self.text_pair_column
        if tagging is None:
            tagging = self.tagging
        if tagging:
            text_pair_column = ""  # the engine tags single sentences
        task = "tagging" if tagging else "pair" if text_pair_column else "single"
        # The rows are staged on disk beside the uploads: /tmp may be small, or memory (tmpfs).
        settings.CLD_SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
        # The settings a run will use, so both skip the same rows.
        inspection = inspect_corpus(self.path, text_column, label_column, encoding=encoding,
                                    max_text_chars=settings.CLD_MAX_TEXT_CHARS, name=self.original_filename,
                                    scratch_dir=settings.CLD_SCRATCH_DIR, task=task,
                                    text_pair_column=text_pair_column)
        if inspection.format == "conll" and (text_column, label_column) != CONLL_COLUMNS:
            # A CoNLL file has no header: its sentences and tags go by the names the column form then offers.
            text_column, label_column = CONLL_COLUMNS
            inspection = inspect_corpus(self.path, text_column, label_column, encoding=encoding,
                                        max_text_chars=settings.CLD_MAX_TEXT_CHARS, name=self.original_filename,
                                        scratch_dir=settings.CLD_SCRATCH_DIR, task=task)
        self.text_column = text_column
        self.text_pair_column = text_pair_column
        self.tagging = tagging
        self.label_column = label_column if inspection.has_label_column else ""
        self.format = inspection.format
        self.encoding = inspection.encoding
        self.columns = inspection.columns
        self.row_count = inspection.rows
        # A tagged sentence is a labeled row; its entities are counted per type, not as labels.
        self.labeled_count = inspection.tagged_rows if tagging else sum(inspection.label_counts.values())
        self.label_counts = inspection.label_counts
        self.entity_counts = inspection.entity_counts
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

    @property
    def entity_count_rows(self) -> list[tuple[str, int]]:
        """(entity type, entities) of a tagging corpus, most first, ties by type (jsonb keeps no key order)."""
        return sorted(((str(kind), int(count)) for kind, count in (self.entity_counts or {}).items()),
                      key=lambda item: (-item[1], item[0]))

    def preview(self, rows: int = 10) -> CorpusPreview:
        return preview_corpus(self.path, rows=rows, encoding=self.encoding)

    @property
    def skipped_rows(self) -> dict[str, Any]:
        """``{"total", "by_reason", "first"}`` of the rows the engine leaves out; {} when none."""
        return self.report.get("skipped") or {}

    @property
    def skipped_shown(self) -> list[dict[str, Any]]:
        """The first skipped rows with their problem in the active language, for the page."""
        return [{"line": row["line"], "text": row["text"],
                 "problem": messages.corpus_problem(row["code"], row.get("params") or {}, row.get("detail", ""))}
                for row in self.skipped_rows.get("first") or []]

    def all_skipped_rows(self) -> list[SkippedRow]:
        """Every skipped row, read again from the file by the engine's reader (nothing stored per row)."""
        # Listed whatever share of rows is bad: this corpus was accepted, whatever a later setting says.
        return list_skipped_rows(self.path, self.text_column, self.label_column, encoding=self.encoding,
                                 max_text_chars=settings.CLD_MAX_TEXT_CHARS, task=self.task,
                                 text_pair_column=self.text_pair_column)

    # -- the optional file of unlabelled texts ------------------------------------------

    @property
    def unlabeled_path(self) -> Path | None:
        return Path(self.unlabeled_file.path) if self.unlabeled_file else None

    def attach_unlabeled(self, upload) -> None:
        """Check and store an uploaded text file (one text per line) as this corpus's unlabelled texts, saved.

        Replaces the file attached before. Raises CorpusRejected (keeping nothing new) when the file is
        too large or not readable text, RunStillActive while a run on this corpus may read the old one.
        """
        self._refuse_while_runs_are_active()
        original = sanitise_filename(upload.name or "")
        if original == "corpus":
            original = "texts.txt"
        limit = settings.CLD_MAX_UPLOAD_BYTES
        incoming = stream_upload_to(upload, Path(settings.MEDIA_ROOT) / corpus_upload_to(None, ".dat"), limit)
        if incoming is None:
            raise CorpusRejected(messages.file_too_large(original, limit))
        stored_name = unlabeled_upload_to(None, original)  # type: ignore[arg-type]
        destination = Path(settings.MEDIA_ROOT) / stored_name
        try:
            stored = store_text_lines(incoming, destination, name=original,
                                      max_text_chars=settings.CLD_MAX_TEXT_CHARS)
        except CorpusError as error:
            raise CorpusRejected(
                messages.describe_corpus_error(error.code, error.params, error.detail, original,
                                               plain_text=True)) from error
        finally:
            incoming.unlink(missing_ok=True)
        previous = self.unlabeled_file.name
        self.unlabeled_file.name = stored_name
        self.unlabeled_filename = original
        self.unlabeled_lines = stored.lines
        self.unlabeled_empty_lines = stored.empty_lines
        self.unlabeled_too_long_lines = stored.too_long_lines
        try:
            self.save()
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        if previous:
            transaction.on_commit(lambda: self.unlabeled_file.storage.delete(previous))

    def remove_unlabeled(self) -> None:
        """Detach and delete the unlabelled texts file (saved); RunStillActive while a run may read it."""
        self._refuse_while_runs_are_active()
        previous = self.unlabeled_file.name
        self.unlabeled_file.name = ""
        self.unlabeled_filename = ""
        self.unlabeled_lines = self.unlabeled_empty_lines = self.unlabeled_too_long_lines = 0
        self.save()
        if previous:
            transaction.on_commit(lambda: self.unlabeled_file.storage.delete(previous))

    def _refuse_while_runs_are_active(self) -> None:
        # A queued run builds its config again when a worker takes it, and a running one reads the file.
        active = list(self.runs.filter(status__in=Run.ACTIVE_STATUSES).values_list("pk", flat=True))
        if active:
            raise RunStillActive(active)

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
        stored = [name for name in (self.file.name, self.unlabeled_file.name) if name]
        with transaction.atomic():
            for run in runs:
                run.delete()
            result = super().delete(*args, **kwargs)
        for name in stored:
            transaction.on_commit(lambda name=name: self.file.storage.delete(name))
        return result


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
    def short_name(self) -> str:
        """The name in a table of runs: the demo teacher's full name explains it, a hub id or upload name is short."""
        return gettext("Demo teacher") if self.is_demo else self.display_name

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
            return messages.teacher_not_downloaded(self.display_name)
        if self.kind == self.KIND_IMPORTED and not (Path(self.path) / "config.json").is_file():
            return messages.teacher_files_missing(self.display_name)
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
        traversal, links or nested archives), then checked by ``distill.check_teacher_folder``
        without loading anything that could run code: pickle-only weights and auto_map configs
        are refused, config.json, the tokenizer files and every safetensors header must be there
        and parse. Raises TeacherRejected (keeping no files) otherwise. No row
        exists until the user has seen what was found and accepted it.
        """
        from cldweb.lib.archives import UnsafeArchive, extract_zip
        from cldweb.messages import describe_error
        from distill import check_teacher_folder, describe_teacher_folder

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
                raise TeacherRejected(messages.describe_archive_error(error.code, error.params, original)) from error
            folder = pretrained_folder(destination)
            if folder is None:
                raise TeacherRejected(messages.teacher_zip_without_config(original))
            display = (name.strip() or PurePath(original).stem or original)[:200]
            try:
                # Pickle files beside the safetensors weights go, so nothing ever loads them from here.
                check_teacher_folder(folder, delete_pickles=True)
            except DistillError as error:
                raise TeacherRejected(describe_error(error.code, error.params, error.message, teacher_name=display)
                                      ) from error
            pending = PendingTeacher(token=token, owner_id=owner.pk, name=display, original_filename=original,
                                     folder=str(folder), summary=json_safe(describe_teacher_folder(folder)))
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
    summary: dict[str, Any]  # distill.describe_teacher_folder

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
                                         description=messages.uploaded_teacher_description(self.original_filename))
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


class RunActionRefused(Exception):
    """A retry or resume that cannot be done now; ``message`` is translated and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RunStillActive(Exception):
    """A run (or a corpus's runs) cannot be deleted while a worker may still write its folder."""

    def __init__(self, run_ids: list[int]) -> None:
        super().__init__(f"runs still active: {run_ids}")
        self.run_ids = run_ids


DEMO_TEACHER_NAME = gettext_noop(
    "Demo teacher (small transformer trained from scratch on your corpus — not pretrained)"
)


def queue_order_now() -> int:
    """A run's place at the end of the queue: microseconds since the epoch when it was queued. Later is
    larger, so new runs go last without reading the queue; two runs queued in one microsecond are
    ordered by id (the queue sorts by (queue_order, id))."""
    return time.time_ns() // 1000


@dataclass
class QueueEntry:
    """One of a user's runs on the queue page: ``position`` counts everyone's queued runs (1 = next)."""

    run: "Run"
    position: int  # 0 while running
    can_move_up: bool = False  # an earlier queued run of the same owner exists to swap with
    can_move_down: bool = False


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PREPARING = "preparing", _("Preparing data")
        FINETUNING_TEACHER = "finetuning_teacher", _("Fine-tuning the teacher")
        GENERATING = "generating", _("Growing the training set")
        LABELLING = "labelling", _("Teacher labelling")
        DISTILLING = "distilling", _("Distilling the student")
        BASELINE = "baseline", _("Training the student on labels only")
        EVALUATING = "evaluating", _("Evaluating")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = ("queued", "preparing", "finetuning_teacher", "generating", "labelling", "distilling", "baseline", "evaluating")
    STAGE_STATUSES = ("preparing", "finetuning_teacher", "generating", "labelling", "distilling", "baseline", "evaluating")
    TERMINAL_STATUSES = ("done", "failed", "cancelled")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    # What the user calls the run ("" = "Run #<id>") and its tags, normalised by ``normalise_tags`` and
    # stored joined by commas ("baseline,textcnn"): a plain text column filters the same on SQLite and PostgreSQL.
    name = models.CharField(_("name"), max_length=200, blank=True)
    tags = models.CharField(_("tags"), max_length=500, blank=True)
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
    # Where the run waits in the one queue of all users: workers take the queued run with the smallest
    # (queue_order, id) first (cldweb.jobs.claim). Set when the run is queued by its owner (created,
    # retried, resumed), not when the watchdog queues it again, so a recovered run keeps its place.
    queue_order = models.BigIntegerField(default=queue_order_now)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "queue_order", "id"], name="run_queue_idx")]

    def __str__(self) -> str:
        return f"Run {self.pk}"

    # -- name and tags ----------------------------------------------------------------

    @property
    def display_name(self) -> str:
        return self.name or gettext("Run #%(pk)s") % {"pk": self.pk}

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in self.tags.split(",") if tag]

    def rename(self, name: str, tags: str) -> None:
        """Keep a new name and tags (saved); ``tags`` as typed, separated by commas (also "，" and "、")."""
        self.name = " ".join(name.split())[:200]
        self.tags = ",".join(normalise_tags(tags))
        self.save(update_fields=["name", "tags"])

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
        baseline: bool = True,
        transfer: dict[str, Any] | None = None,
        virtual_label_threshold: float | None = None,
        settings_from: "Run | None" = None,
    ) -> "Run":
        """Create a queued run with its resolved config and enqueue it once the transaction commits.

        ``baseline``: also train the student on labels only, for the report (TrainConfig.baseline).
        ``transfer``: TransferConfig fields (preset, target_rows, methods) growing the training set;
        ``virtual_label_threshold``: TrainConfig's, the teacher confidence an unlabelled row needs in semi mode
        to count as labelled (None: the engine's default).
        ``settings_from``: a run cloned with changes: every setting the arguments do not give is that run's
        (its resolved config), so a clone keeps what the form does not show (seed, learning rate, ...).
        """
        train: dict[str, Any] = {"mode": mode, "epochs": epochs, "baseline": baseline}
        if virtual_label_threshold is not None:
            train["virtual_label_threshold"] = float(virtual_label_threshold)
        chosen = {"data": {"max_length": max_length}, "train": train,
                  "student": {"preset": STUDENT_PRESETS.get(student_architecture, "small")},
                  "transfer": dict(transfer or {})}
        config = settings_from.config_with(chosen, student_architecture) if settings_from is not None else chosen
        run = cls.objects.create(owner=owner, corpus=corpus, teacher=teacher,
                                 student_architecture=student_architecture, config=config)
        run.config = run.build_config().to_dict()
        run.save(update_fields=["config"])
        run.enqueue()
        return run

    def config_with(self, chosen: dict[str, dict[str, Any]], student_architecture: str) -> dict[str, Any]:
        """This run's resolved config with ``chosen`` (Run.create's sections) laid over it, for a clone.

        Growing is as the form chose it (off is an empty section), and another student architecture starts
        from its own preset: the sizes of this run's student fit this one only.
        """
        config = {section: dict(values) for section, values in (self.config or {}).items() if isinstance(values, dict)}
        for section, values in chosen.items():
            config[section] = {**config.get(section, {}), **values}
        # Off, or the preset's size and ways, unless the form gave its own; the finer knobs stay this run's.
        config["transfer"] = {**config.get("transfer", {}), "preset": "off", "target_rows": 0, "methods": [],
                              **(chosen.get("transfer") or {})}
        if student_architecture != self.student_architecture:
            config["student"] = dict(chosen.get("student") or {})
        return config

    # -- retry and resume -------------------------------------------------------------

    RESUMABLE_STATUSES = ("cancelled", "failed")

    def retry(self) -> "Run":
        """A new queued run with exactly this failed run's settings, corpus, teacher and student (RunActionRefused
        when this run did not fail, or its corpus or teacher cannot be used now)."""
        if self.status != self.Status.FAILED:
            raise RunActionRefused(messages.run_not_retryable())
        self._refuse_unusable_inputs()
        run = Run.objects.create(owner=self.owner, corpus=self.corpus, teacher=self.teacher,
                                 student_architecture=self.student_architecture, config=self.config)
        run.config = run.build_config().to_dict()  # this run's settings with the new run's own folder
        run.save(update_fields=["config"])
        run.enqueue()
        return run

    @property
    def saved_checkpoints(self) -> list[str]:
        """The stages whose training checkpoint this run's folder holds (distill.saved_checkpoints)."""
        return saved_checkpoints(self.output_dir)

    @property
    def can_resume(self) -> bool:
        return self.status in self.RESUMABLE_STATUSES and bool(self.saved_checkpoints)

    def resume(self) -> None:
        """Queue this cancelled or failed run again, in its own folder, so the engine continues from its
        checkpoints (optimizer and scheduler included); enqueued once the transaction commits.

        Its points stay: the next attempt numbers its own after them, and reports steps after the
        checkpoint's. A stage mark "queued" (with when the run had stopped) starts the timeline's next
        attempt. RunActionRefused when the run is not cancelled or failed, nothing was checkpointed,
        or its corpus or teacher cannot be used now.
        """
        if self.status not in self.RESUMABLE_STATUSES:
            raise RunActionRefused(messages.run_not_resumable_status())
        if not self.saved_checkpoints:
            raise RunActionRefused(messages.run_no_checkpoint(self.pk))
        self._refuse_unusable_inputs()
        stopped_at = self.finished_at
        with transaction.atomic():
            # Conditional on the status read: of two clicks (two tabs), one queues the run.
            if not Run.objects.filter(pk=self.pk, status__in=self.RESUMABLE_STATUSES).update(
                    status=self.Status.QUEUED, cancel_requested=False, finished_at=None, heartbeat_at=timezone.now(),
                    queue_order=queue_order_now(),  # queued again by its owner: behind the runs already waiting
                    error_code="", error_message="", error_params={}, result={}, export_path="", progress={}):
                raise RunActionRefused(messages.run_not_resumable_status())
            MetricPoint.objects.create(run=self, seq=MetricPoint.next_seq(self.pk), phase=MetricPoint.PHASE_STAGE,
                                       kind=MetricPoint.KIND_NOTE, values=MetricPoint.stage_values(
                                           self.Status.QUEUED, stopped_at=stopped_at))
            self.refresh_from_db()
            self.enqueue()

    def _refuse_unusable_inputs(self) -> None:
        if not self.corpus.is_usable:
            raise RunActionRefused(self.corpus.problem)
        reason = self.teacher.unavailable_reason
        if reason:
            raise RunActionRefused(reason)

    def enqueue(self) -> None:
        """Send the Celery task after commit, so the worker never reads a row that is not there yet.

        Sent by name: importing cldweb.tasks here would close the circle models -> tasks ->
        reporting -> models. The worker registers the task under the same name.
        """
        run_id = self.pk

        def send() -> None:
            task = celery_app.send_task(RUN_DISTILLATION_TASK, args=(run_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE,
                                        ignore_result=True)
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
                # The task comes from the corpus: a second text column makes every row a pair.
                "task": self.corpus.task,
                "text_pair_column": self.corpus.text_pair_column,
                "max_text_chars": settings.CLD_MAX_TEXT_CHARS,
                "encoding": self.corpus.encoding,  # the codec the corpus was analysed with (detected or chosen)
                "label_names": dict(self.corpus.label_names or {}),
                # The corpus's file of unlabelled texts as it is now: attaching or removing one is
                # refused while a run on the corpus is active, so a queued run reads what it was shown.
                # It holds one text a line, not pairs: a pair corpus's runs leave it out (the pages say so).
                # A tagging run trains on its lines as untagged sentences, which the teacher tags.
                "unlabeled_path": "" if self.corpus.is_pair else str(self.corpus.unlabeled_path or ""),
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
        transfer = TransferConfig(**{**base.transfer.__dict__, "methods": list(base.transfer.methods)})
        return RunConfig(
            data=data,
            teacher=teacher,
            student=student,
            train=train,
            transfer=transfer,
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
            # A run queued again (after a crash, or resumed) keeps its checkpoints: it can be resumed later.
            self.refresh_from_db()
            return True
        if Run.objects.filter(pk=self.pk, status__in=self.ACTIVE_STATUSES).update(cancel_requested=True):
            self.refresh_from_db()
            return True
        self.refresh_from_db()
        return False

    def mark_stage(self, stage: str, info: dict[str, object] | None = None, *, attempt: int | None = None) -> None:
        """Record the engine's stage (and device when it says) unless the run already ended.

        Given an ``attempt``, only while the run is still that attempt's (see cldweb.jobs): a worker
        that lost its run must neither move it to another stage nor refresh its heartbeat.
        """
        if stage not in self.STAGE_STATUSES:
            return
        fields: dict[str, Any] = {"status": stage, "heartbeat_at": timezone.now(), "progress": {}}
        device = (info or {}).get("device")
        if device:
            fields["device"] = str(device)[:32]
            fields["device_name"] = str((info or {}).get("device_name") or "")[:200]
        rows = Run.objects.filter(pk=self.pk).exclude(status__in=self.TERMINAL_STATUSES)
        if attempt is not None:
            rows = rows.filter(attempt=attempt)
        rows.update(**fields)
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

    @property
    def is_pair(self) -> bool:
        """The run trains the pair task: its texts are pairs, joined by distill.tasks' separator inside the engine."""
        return self.task == "pair"

    @property
    def is_tagging(self) -> bool:
        """The run trains the tagging task (named entities): scores are entity-level, the student finds entities."""
        return self.task == "tagging"

    @property
    def task(self) -> str:
        """The engine task the run trains ("single", "pair" or "tagging"), as its resolved config says."""
        return ((self.config or {}).get("data") or {}).get("task") or "single"

    @property
    def student_display(self) -> str:
        return str(dict(STUDENT_CHOICES).get(self.student_architecture, self.student_architecture))

    @property
    def student_short_name(self) -> str:
        return str(STUDENT_SHORT_NAMES.get(self.student_architecture, self.student_architecture))

    @property
    def trains_on_labels_only(self) -> bool:
        """The no-distillation baseline (mode "hard"): the student never sees the teacher's outputs."""
        return (self.config.get("train") or {}).get("mode") == "hard"

    @property
    def mode_display(self) -> str:
        mode = (self.config.get("train") or {}).get("mode", "")
        return str(dict(MODE_CHOICES).get(mode, mode))

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

    # -- the queue (one for all users; workers take runs in this order: cldweb.jobs.claim) ----

    @classmethod
    def waiting(cls) -> QuerySet["Run"]:
        """Everyone's queued runs a worker may take, in the order workers take them."""
        return cls.objects.filter(status=cls.Status.QUEUED, cancel_requested=False).order_by("queue_order", "pk")

    def queue_position(self) -> int:
        """While queued: this run's place among everyone's queued runs (1 = the next one taken); else 0."""
        if self.status != self.Status.QUEUED:
            return 0
        earlier = Q(queue_order__lt=self.queue_order) | Q(queue_order=self.queue_order, pk__lt=self.pk)
        return Run.waiting().filter(earlier).exclude(pk=self.pk).count() + 1

    def runs_ahead(self) -> int:
        """While queued: how many runs (anyone's) a worker takes before this one, those running
        now and those earlier in the queue; 0 for any other run."""
        if self.status != self.Status.QUEUED:
            return 0
        return Run.objects.filter(status__in=self.STAGE_STATUSES).count() + self.queue_position() - 1

    @classmethod
    def queue_totals(cls) -> tuple[int, int]:
        """Everyone's runs running now and waiting in the queue: what the queue page counts but does not list."""
        return cls.objects.filter(status__in=cls.STAGE_STATUSES).count(), cls.waiting().count()

    @classmethod
    def queue_of(cls, owner) -> list[QueueEntry]:
        """``owner``'s running runs, then their queued ones in queue order with their place among everyone's.

        Other users' runs are counted, never listed. One read of the whole queue's ids (small: a queue of
        thousands is a few kilobytes) gives every position at once.
        """
        running = cls.objects.filter(owner=owner, status__in=cls.STAGE_STATUSES).select_related("corpus", "teacher")
        entries = [QueueEntry(run, 0) for run in running.order_by("started_at", "pk")]
        positions = {pk: place for place, (pk, owner_id) in
                     enumerate(cls.waiting().values_list("pk", "owner_id"), start=1) if owner_id == owner.pk}
        queued = cls.objects.filter(pk__in=positions).select_related("corpus", "teacher").in_bulk()
        own = [QueueEntry(queued[pk], place) for pk, place in sorted(positions.items(), key=lambda item: item[1])
               if pk in queued]
        for index, entry in enumerate(own):
            entry.can_move_up = index > 0
            entry.can_move_down = index < len(own) - 1
        return entries + own

    def move_in_queue(self, direction: str) -> "Run":
        """Swap places with the owner's queued run just before it ("up") or just after it ("down"); the other run.

        Only the owner's own runs trade places, so every other run keeps its position: nobody's wait
        grows because someone else moved. The owner's queued runs are locked while their places are
        read and swapped, so two moves at once (two tabs) cannot both read the old order.
        RunActionRefused when the run is no longer queued or has no such neighbour.
        """
        if direction not in ("up", "down"):
            raise ValueError(direction)
        with transaction.atomic():
            own = list(Run.waiting().filter(owner_id=self.owner_id).select_for_update())
            index = next((i for i, run in enumerate(own) if run.pk == self.pk), None)
            if index is None:
                raise RunActionRefused(messages.run_not_in_queue(self.pk))
            other_index = index - 1 if direction == "up" else index + 1
            if not 0 <= other_index < len(own):
                raise RunActionRefused(messages.run_at_queue_end(self.pk, direction))
            this, other = own[index], own[other_index]
            this_order, other_order = other.queue_order, this.queue_order
            if this_order == other_order:  # queued in the same microsecond (ordered by id): make the swap show
                this_order += -1 if direction == "up" else 1
            Run.objects.filter(pk=this.pk).update(queue_order=this_order)
            Run.objects.filter(pk=other.pk).update(queue_order=other_order)
        self.queue_order = this_order
        other.queue_order = other_order
        return other

    def status_message(self) -> dict[str, Any]:
        return {
            "type": "status",
            "status": self.status,
            "device": self.device,
            "device_name": self.device_name,
            "is_active": self.is_active,
            "cancel_requested": self.cancel_requested,
            "progress": self.current_progress,
            "runs_ahead": self.runs_ahead(),  # 0 unless queued: run.js words the queue line with it
            # The stage timeline and the whole run's bar (cldweb.timeline), as data: the status goes to every
            # viewer from the worker, so run_story.js words it in each page's language.
            "timeline": [{key: row[key] for key in ("stage", "state", "seconds")} for row in timeline.rows(self)],
            "overall": {key: value for key, value in timeline.overall(self).items() if key != "text"},
        }

    # -- results (worded for people by cldweb.presentation) ----------------------------

    @property
    def export_file(self) -> Path | None:
        if self.status != self.Status.DONE or not self.export_path:
            return None
        path = Path(self.export_path)
        return path if path.is_file() else None

    @property
    def download_name(self) -> str:
        return f"cld-run-{self.pk}-student.zip"


# Chinese keyboards type the full-width comma and the enumeration comma where English types ",".
TAG_SEPARATORS = re.compile(r"[,，、;；]")
MAX_TAG_CHARS = 40


def normalise_tags(typed: str) -> list[str]:
    """Tags as stored: whitespace collapsed, case folded (so "GPU" and "gpu" are one tag), no empties or repeats,
    in the order typed, each cut to MAX_TAG_CHARS, as many as fit Run.tags."""
    tags: list[str] = []
    for part in TAG_SEPARATORS.split(typed or ""):
        tag = " ".join(part.split()).casefold()[:MAX_TAG_CHARS].strip()
        if tag and tag not in tags and len(",".join([*tags, tag])) <= Run._meta.get_field("tags").max_length:
            tags.append(tag)
    return tags


class MetricPoint(models.Model):
    """One numbered event of a run, as the browser replays it: a training step, a dev evaluation, or a note.

    Notes (``on_message``) are points too, so they share the ``seq`` numbering, the replay after a
    reconnect and the live batches with the charts' points; their ``values`` are {"text": English,
    "code": one of distill.progress NOTE_CODES, "params": {...}}, said in the reader's language by
    cldweb/messages.py engine_note.
    """

    KIND_STEP = "step"
    KIND_EVAL = "eval"
    KIND_NOTE = "note"  # a sentence from the engine ("Teacher outputs read from the cache."); phase ""
    KIND_CHOICES = [(KIND_STEP, "step"), (KIND_EVAL, "eval"), (KIND_NOTE, "note")]
    # A note of this phase is a stage mark, not a sentence: the run entered a stage ({"stage": ...}, at
    # ``created_at``; a "queued" mark of a resumed run also says when it had stopped). The run page's
    # timeline reads them (cldweb.timeline); its notes list leaves them out.
    PHASE_STAGE = timeline.PHASE_STAGE

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="points")
    seq = models.PositiveIntegerField()  # 1, 2, 3... per run; browsers resume "after" the last one seen
    phase = models.CharField(max_length=16, blank=True)  # "teacher" (fine-tuning), "student" (distillation), "" (note)
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    step = models.IntegerField(default=0)  # optimizer step within the phase
    values = models.JSONField(default=dict)  # flat dict of named numbers (loss, dev_accuracy, lr, ...); a note's {"text"}
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="metricpoint_unique_run_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.phase}/{self.kind}"

    @staticmethod
    def stage_values(stage: str, *, stopped_at: Any = None) -> dict[str, Any]:
        values: dict[str, Any] = {"stage": stage, "text": "", "code": ""}
        if stopped_at is not None:
            values["stopped_at"] = stopped_at.isoformat()
        return values

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

"""Every sentence the web app builds in code for a user, in the active language.

Form labels and the pages' own text stay where Django wants them (forms.py, templates/); what is
said about a user's corpus, teacher, run or request lives here, so the wording and its Chinese
translation are found in one file. Sections: engine errors, corpus reports, uploads and archives,
teachers, runs (the English record of a failure, refusals, what changed), the prediction API, the
engine's notes, and the web's own answers to a request (not found, not allowed, a bad API token).

The engine raises ``DistillError`` subclasses with a stable ``code`` and the ``params`` needed to say
the message again (distill/errors.py). Here each code gets a translatable template; an unknown code
falls back to the engine's English message, so a new engine error is never hidden, only untranslated.

Server paths are never shown: corpus errors name the file the user uploaded, teacher errors name the
teacher as listed on the Teachers page. This file imports nothing of cldweb, so any module may use it.
The file is long because it holds every message; splitting it by page would scatter the wording again.
"""
from __future__ import annotations

from typing import Any, Mapping

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.utils.translation import ngettext

# -- engine errors ----------------------------------------------------------------------------

# Codes raised by distill.corpus for a corpus file (CorpusError) that name a line.
CORPUS_CODES = {
    "empty_file", "no_rows", "empty_text", "text_too_long", "bad_encoding", "binary_file",
    "unsupported_format", "malformed_row", "missing_column", "single_class", "unseen_labels", "corpus",
    "too_many_bad_rows", "line_too_long", "bad_label", "zip_archive", "zip_too_large", "excel_file",
    "missing_pair_column",
}


# distill.corpus.archives.KNOWN_BINARY_KINDS in words ("the file is a PNG image, not a CSV ...").
BINARY_KINDS = {
    "png_image": gettext_noop("a PNG image"), "jpeg_image": gettext_noop("a JPEG image"),
    "gif_image": gettext_noop("a GIF image"), "pdf_document": gettext_noop("a PDF document"),
    "gzip_archive": gettext_noop("a gzip archive"), "7z_archive": gettext_noop("a 7z archive"),
    "rar_archive": gettext_noop("a RAR archive"), "sqlite_database": gettext_noop("an SQLite database"),
}


def list_separator() -> str:
    """Between the items of a list in a sentence: ", " in English, "、" in Chinese (ASCII commas read as foreign there)."""
    return _(", ")


def corpus_problem(code: str, params: Mapping[str, Any], detail: str, *, plain_text: bool = False) -> str:
    # plain_text: the file was an unlabelled-text upload (one text per line), so "rows" and
    # "not a CSV, TSV or JSON Lines file" would name the wrong kind of file.
    if code in ("empty_file",):
        if plain_text:
            return _("the file is empty: it has no line of text")
        return _("the file is empty or has no rows")
    if code == "no_rows":
        return _("the file has a header but no rows")
    if code == "empty_text":
        return _("the “%(column)s” cell is empty") % {"column": params.get("column", "")}
    if code == "text_too_long":
        return _("the text has %(length)s characters, more than the limit of %(limit)s") % {
            "length": params.get("length", "?"), "limit": params.get("limit", "?")}
    if code == "bad_tags":
        return bad_tags_problem(params)
    if code == "bad_encoding":
        if params.get("encoding") == "utf-16":
            return _("the file is UTF-16; save it as UTF-8 and upload it again")
        return _("the file is neither UTF-8 nor GB18030 nor Big5 text; save it as UTF-8 and upload it again")
    if code == "binary_file":
        if params.get("reason") == "kind" and params.get("kind") in BINARY_KINDS:
            if plain_text:
                return _("the file is %(kind)s, not a plain text file with one text per line") % {
                    "kind": _(BINARY_KINDS[params["kind"]])}
            return _("the file is %(kind)s, not a CSV, TSV or JSON Lines file") % {"kind": _(BINARY_KINDS[params["kind"]])}
        if params.get("reason") in ("control", "garbled"):
            if plain_text:
                return _("the file is binary data, not a plain text file with one text per line")
            return _("the file is binary data, not text: it is not a CSV, TSV or JSON Lines file")
        return _("the file contains NUL bytes, so it is binary data rather than text")
    if code == "bad_label":
        return _("the “%(column)s” cell does not hold a label (a short class name) but %(length)s characters "
                 "of other content") % {"column": params.get("column", ""), "length": params.get("length", "?")}
    if code == "line_too_long":
        return _("the line is longer than %(limit)s characters, the most one cell may hold") % {
            "limit": f"{params.get('limit', 0):,}"}
    if code == "too_many_bad_rows":
        first = corpus_problem(str(params.get("first_code", "")), params.get("first_params") or {}, "")
        return _("%(bad)s of %(rows)s rows (%(share)s%%) cannot be used, more than the %(limit)s%% that may be "
                 "skipped, so the columns or the file are probably wrong. The first bad lines are %(lines)s "
                 "(%(first)s).") % {
            "bad": f"{params.get('bad', 0):,}", "rows": f"{params.get('rows', 0):,}", "share": params.get("share"),
            "limit": params.get("limit"), "lines": list_separator().join(map(str, params.get("lines") or [])), "first": first}
    if code == "zip_archive":
        if "count" in params:
            return _("the ZIP holds %(count)s CSV, TSV or JSON Lines files (%(names)s); upload the CSV inside "
                     "the ZIP") % {"count": params["count"], "names": list_separator().join(params.get("names") or []) or "—"}
        return _("the file is a ZIP archive that cannot be read; upload the CSV inside the ZIP")
    if code == "zip_too_large":
        return _("%(member)s inside the ZIP is larger than the upload limit of %(limit)s MB") % {
            "member": params.get("member", ""), "limit": f"{int(params.get('limit', 0)) / 1_048_576:.0f}"}
    if code == "excel_file":
        return _("the file is an Excel workbook; save it as “CSV UTF-8” in Excel and upload that")
    if code == "unsupported_format":
        return _("the file is one JSON array; save it as JSON Lines (one object per line)")
    if code == "malformed_row":
        if "cells" in params:
            return _("the row has %(cells)s cells but the header has %(expected)s (an unquoted comma inside the text?)") % {
                "cells": params["cells"], "expected": params.get("expected", "?")}
        if params.get("reason") == "not an object":
            return _("each line must be a JSON object like {\"text\": ..., \"label\": ...}")
        if "unterminated quote" in detail:
            return _("a quoted cell that starts here never closes (unterminated quote)")
        if "JSON" in detail:
            return _("the line is not valid JSON (%(reason)s)") % {"reason": params.get("reason", "")}
        return _("the row cannot be read (%(reason)s)") % {"reason": params.get("reason", detail)}
    if code == "missing_column":
        columns = "、".join(f"“{name}”" for name in params.get("columns") or []) or "—"
        return _("there is no column named “%(column)s”; the columns are: %(columns)s") % {
            "column": params.get("column", ""), "columns": columns}
    if code == "missing_pair_column":
        return _("a text-pair corpus needs the column of the second text; choose it under “Second text”")
    if code == "single_class":
        labels = params.get("labels") or []
        if not labels:
            return _("no row has a label, so there is nothing to learn classes from or to score against; "
                     "choose the column that holds the labels")
        return _("every labeled row has the label “%(label)s”; a classifier needs at least 2 classes") % {
            "label": labels[0]}
    if code == "unseen_labels":
        return _("the %(split)s rows use labels that never occur in training: %(labels)s") % {
            "split": params.get("split", ""), "labels": ", ".join(map(str, params.get("labels") or []))}
    return detail


def describe_corpus_error(code: str, params: Mapping[str, Any], detail: str, filename: str, *,
                          plain_text: bool = False) -> str:
    """“reviews.csv, line 12: the row has 3 cells but the header has 2 …” in the active language."""
    problem = corpus_problem(code, params, detail, plain_text=plain_text)
    line = params.get("line")
    if line is not None:
        return _("%(file)s, line %(line)s: %(problem)s") % {"file": filename, "line": line, "problem": problem}
    return _("%(file)s: %(problem)s") % {"file": filename, "problem": problem}


def describe_error(code: str, params: Mapping[str, Any], fallback: str, *,
                   corpus_filename: str = "", teacher_name: str = "") -> str:
    """A run's failure in the active language; ``fallback`` is the engine's English message."""
    if code in CORPUS_CODES and corpus_filename:
        return describe_corpus_error(code, params, str(params.get("detail") or fallback), corpus_filename)
    teacher = teacher_name or str(params.get("teacher") or "")
    if code == "teacher_unavailable":
        return _("The teacher “%(teacher)s” is not available: it is not on this computer and the Hugging Face hub "
                 "cannot be reached. Upload a ZIP of its save_pretrained folder on the Teachers page, or have "
                 "an administrator import a local copy with: python manage.py import_teacher PATH") % {
            "teacher": teacher}
    if code == "teacher_no_weights":
        return _("The teacher “%(teacher)s” has no model.safetensors weights.") % {"teacher": teacher}
    if code == "teacher_invalid":
        return _("The teacher “%(teacher)s” cannot be loaded; its files may be incomplete.") % {"teacher": teacher}
    if code in ("unsafe_checkpoint", "unsafe_checkpoint_pickle"):
        return _("The teacher holds only pickle weights, which can run code when loaded, so it was refused. "
                 "Convert it to model.safetensors and import it again.")
    if code == "unsafe_checkpoint_remote_code":
        return _("The teacher asks for custom Python code (auto_map); cld never runs remote code.")
    if code == "config_no_cuda":
        return _("A GPU was requested but none is available on the worker.")
    if code == "config_amp":
        return _("The mixed-precision setting “%(amp)s” is unknown; use auto, bf16, fp16 or off.") % {
            "amp": params.get("amp", "")}
    if code == "config_amp_cpu_lstm":
        if params.get("bf16_supported"):
            return _("Mixed precision “%(amp)s” cannot run an LSTM student on this worker's CPU; use bf16 or off, "
                     "or run on a GPU.") % {"amp": params.get("amp", "")}
        return _("Mixed precision “%(amp)s” cannot run an LSTM student on this worker's CPU; turn it off, "
                 "or run on a GPU.") % {"amp": params.get("amp", "")}
    if code == "config_pair_column":
        return _("A text-pair run needs the column of the second text. Choose it on the corpus's "
                 "“Preview and columns” page.")
    if code == "config_pair_unlabeled":
        return _("A file of unlabelled texts holds one text a line, not pairs, so it cannot be used with a "
                 "text-pair corpus. Start the run without it.")
    if code == "tagger_unsupported":
        return tagging_student_unsupported(str(params.get("architecture", "")))
    if code == "config_tagging_tokenizer":
        return _("A named-entity student reads one character at a time; choose the character tokenizer "
                 "(“char”), not “%(tokenizer)s”.") % {"tokenizer": params.get("tokenizer", "")}
    if code == "config_transfer_task" and params.get("task") == "tagging":
        return grow_for_tagging()
    if code == "config_transfer_task":
        return _("Growing the training set makes variants of single texts; it is not available for text pairs. "
                 "Switch it off for this corpus.")
    if code == "config_pair_separator":
        return _("The teacher's tokenizer has no [SEP] token to put between the two texts of a pair. Choose "
                 "another teacher or a character or word student tokenizer.")
    if code == "config_no_labels_for_teacher":
        return _("The teacher has no trained head for these labels and the corpus has no labeled rows to "
                 "fine-tune it on. Choose a label column when uploading the corpus.")
    if code == "export_onnx_differs":
        return _("The exported ONNX model of the %(architecture)s student gave different answers from the trained "
                 "one (up to %(difference)s in a probability, allowed %(tolerance)s), so no download was made. "
                 "Please report this with the run's settings.") % {
            "architecture": params.get("architecture", ""), "difference": f"{float(params.get('difference', 0)):.1e}",
            "tolerance": f"{float(params.get('tolerance', 0)):.0e}"}
    if code == "export_int8_disagrees":
        return _("The small int8 model of the %(architecture)s student picks the trained student's label on only "
                 "%(agreement)s of %(texts)s dev texts (at least %(required)s needed), so no download was made. "
                 "Please report this with the run's settings.") % {
            "architecture": params.get("architecture", ""), "agreement": f"{float(params.get('agreement', 0)):.1%}",
            "texts": f"{int(params.get('texts', 0)):,}", "required": f"{float(params.get('required', 0)):.0%}"}
    if code == "time_limit":
        return _("The run took longer than the time limit and was stopped; its last checkpoint is kept.")
    if code == "worker_lost":
        return _("The worker stopped %(attempts)s times while running this job (killed, out of memory or "
                 "restarted), so it was not started again.") % {"attempts": params.get("attempts", "?")}
    if code == "internal":
        return _("An unexpected error stopped the run. The details are in the worker log; "
                 "please report this run's number to the administrator.")
    return fallback


# -- corpus reports ---------------------------------------------------------------------------


def corpus_warnings(report: Mapping[str, Any]) -> list[str]:
    """The engine's corpus warnings (CorpusReport, distill/corpus/splits.py), said again from its numbers in the active language."""
    warnings: list[str] = []
    if not report or report.get("error"):
        return warnings
    rows = report.get("rows", 0)
    duplicates = report.get("duplicate_rows", 0)
    if duplicates:
        warnings.append(_("%(duplicates)s of %(rows)s rows repeat an earlier text; duplicates are removed before "
                          "splitting so scores do not measure memorisation.") % {
            "duplicates": f"{duplicates:,}", "rows": f"{rows:,}"})
    conflicting = report.get("conflicting_texts", 0)
    if conflicting:
        warnings.append(_("%(count)s texts appear with different labels; the most frequent label is kept "
                          "(ties are left unlabeled).") % {"count": f"{conflicting:,}"})
    for split, key in ((_("dev"), "dev_overlap_removed"), (_("test"), "test_overlap_removed")):
        removed = report.get(key, 0)
        if removed:
            warnings.append(_("%(count)s training texts also appear in the %(split)s set and were removed from "
                              "training, so its score is not inflated.") % {"count": f"{removed:,}", "split": split})
    counts = list((report.get("label_counts") or {}).values())
    if counts and min(counts) * 10 < max(counts):
        warnings.append(_("The classes are unbalanced (largest %(largest)s, smallest %(smallest)s texts); "
                          "accuracy alone may flatter the model.") % {
            "largest": f"{max(counts):,}", "smallest": f"{min(counts):,}"})
    skipped = report.get("skipped") or {}
    if skipped.get("total"):
        by_reason = skip_reasons(skipped.get("by_reason") or {}, _("; "))
        lines = list_separator().join(str(row["line"]) for row in (skipped.get("first") or [])[:5])
        warnings.append(_("%(count)s of %(rows)s rows were skipped and are not used (%(reasons)s); the first are on "
                          "lines %(lines)s.") % {"count": f"{skipped['total']:,}",
                                                  "rows": f"{rows + skipped['total']:,}", "reasons": by_reason,
                                                  "lines": lines})
    if "dev" in report and not report.get("dev"):
        warnings.append(_("There is no dev set, so early stopping and best-checkpoint choice cannot work."))
    return warnings


# Why the engine skipped a corpus row (distill.progress.SKIP_REASON_TEXTS), as "%(count)s with %(reason)s".
SKIP_REASONS = {"empty_text": gettext_noop("an empty text"), "text_too_long": gettext_noop("a text over the length limit"),
                "line_too_long": gettext_noop("a line over the length limit"),
                "bad_label": gettext_noop("an unreadable label"),
                "bad_tags": gettext_noop("entities or tags that do not fit the sentence")}


def bad_tags_problem(params: Mapping[str, Any]) -> str:
    """Why a sentence's entities or tags cannot be read (the engine's ``bad_tags``, by its ``problem``)."""
    problem, position = params.get("problem", ""), params.get("position", "?")
    if params.get("at_line"):  # a CoNLL sentence with a line that is not a character and its tag
        return _("line %(line)s is not a character and its tag") % {"line": params["at_line"]}
    if problem == "length":
        return _("the number of tags is not the number of characters of the sentence")
    if problem == "empty_span":
        return _("entity %(number)s holds no characters (its end must come after its start)") % {"number": position}
    if problem == "out_of_text":
        return _("entity %(number)s ends past the end of the sentence") % {"number": position}
    if problem == "overlap":
        return _("entity %(number)s overlaps another; nested or overlapping entities cannot be tagged") % {
            "number": position}
    if problem in ("unopened", "type_change", "unclosed", "scheme"):
        return _("tag %(number)s does not follow the one before it (an I- tag needs a B- tag of its type "
                 "first)") % {"number": position}
    return _("the entities are not a JSON list like [{\"start\": 0, \"end\": 2, \"label\": \"PER\"}] "
             "or a list of one tag per character")


def skip_reasons(counts: Mapping[str, int], separator: str) -> str:
    """{reason code: rows} in the active language, most first: "3 with an empty text; 1 with …"."""
    return separator.join(_("%(count)s with %(reason)s") % {
        "count": f"{count:,}", "reason": _(SKIP_REASONS[code]) if code in SKIP_REASONS else code}
        # Most first, ties by code, as the engine's English says it (a jsonb mapping keeps no order).
        for code, count in sorted(((str(c), int(n)) for c, n in counts.items()), key=lambda item: (-item[1], item[0])))


def student_larger_than_demo_teacher(student: str, student_parameters: int, teacher_parameters: int) -> str:
    """The run form's warning for a student choice that is larger than the demo teacher (forms.RunForm)."""
    return _("With the demo teacher, the student “%(student)s” would be larger than its teacher (about %(student_m)s "
             "million parameters against %(teacher_m)s million for a corpus of some 4,000 distinct characters), so "
             "slower, not faster: distillation would gain nothing. Pick a smaller student, or a larger teacher.") % {
        "student": student, "student_m": f"{student_parameters / 1e6:.1f}", "teacher_m": f"{teacher_parameters / 1e6:.1f}"}


def split_too_small(*, dev: int, test: int, percent: str, needed: int, largest: int) -> str:
    """Why the default split leaves dev or test without a row (Corpus.split_problem)."""
    return _(
        "This corpus is too small to hold back rows for checking: dev gets %(dev)s rows and test %(test)s. "
        "Dev and test each take %(percent)s%% of each label's distinct texts, so a label needs at least "
        "%(needed)s distinct labelled texts to give each of them one row (your largest label has %(largest)s). "
        "Without test rows the results show no accuracy, and without dev rows training cannot stop early."
    ) % {"dev": dev, "test": test, "percent": percent, "needed": needed, "largest": largest}


SKIPPED_CSV_TEXT_CHARS = 200  # the row's text in the download, cut so a spreadsheet row stays readable


def write_skipped_rows_csv(out: Any, rows: Any) -> None:
    """The skipped rows as CSV (line, problem in the active language, text) into a file-like ``out``."""
    import csv

    writer = csv.writer(out)
    writer.writerow([_("line"), _("problem"), _("text")])
    for row in rows:
        writer.writerow([row.line, corpus_problem(row.code, row.params, row.detail),
                         row.text[:SKIPPED_CSV_TEXT_CHARS]])


# -- uploads and archives ----------------------------------------------------------------------


def format_megabytes(limit: int) -> str:
    """A size limit in MB as the pages say it: "200", or "0.50" below one megabyte."""
    megabytes = limit / 1_048_576
    return f"{megabytes:.0f}" if megabytes >= 1 else f"{max(megabytes, 0.01):.2f}"


def file_too_large(filename: str, limit: int) -> str:
    """An upload that passed the limit while it was read: its name is known."""
    return _("%(file)s is larger than the limit of %(limit)s MB.") % {"file": filename, "limit": f"{limit / 1_048_576:.0f}"}


def upload_too_large(limit: int) -> str:
    # Generic on purpose: an upload refused by its declared size is never read, so its name is unknown.
    return _("The file is larger than the limit of %(limit)s MB.") % {"limit": format_megabytes(limit)}


def describe_archive_error(code: str, params: Mapping[str, Any], filename: str) -> str:
    """A cldweb.lib.archives.UnsafeArchive refusal in the active language, naming the user's file."""
    member = str(params.get("member", ""))
    if code == "zip_traversal":
        problem = _("the entry “%(member)s” points outside the archive's folder") % {"member": member}
    elif code == "zip_symlink":
        problem = _("the entry “%(member)s” is a symbolic link") % {"member": member}
    elif code == "zip_nested":
        problem = _("the entry “%(member)s” is an archive inside the archive") % {"member": member}
    elif code == "zip_too_many_members":
        problem = _("the archive holds %(members)s entries; at most %(limit)s are allowed") % {
            "members": params.get("members", "?"), "limit": params.get("limit", "?")}
    elif code == "zip_too_large":
        problem = _("the archive unpacks to more than %(limit)s MB") % {
            "limit": format_megabytes(int(params.get("limit") or 0))}
    else:
        problem = _("it is not a readable ZIP file")
    return _("%(file)s: %(problem)s") % {"file": filename, "problem": problem}


# -- teachers ----------------------------------------------------------------------------------


def teacher_not_downloaded(name: str) -> str:
    return _("“%(name)s” is not downloaded on this server and the Hugging Face hub cannot be reached. "
             "Upload it as a ZIP on the Teachers page, or ask an administrator to import a local "
             "copy.") % {"name": name}


def teacher_files_missing(name: str) -> str:
    return _("The files of “%(name)s” are missing from the server. Upload it again on the Teachers "
             "page.") % {"name": name}


def teacher_zip_without_config(filename: str) -> str:
    return _("%(file)s has no config.json: zip the folder written by save_pretrained().") % {"file": filename}


def teacher_added(name: str) -> str:
    return _("The teacher “%(name)s” was added; choose it when you start a run.") % {"name": name}


def teacher_added_unusable(name: str, problem: str) -> str:
    # Offline: "added" alone would promise a run that cannot start.
    return _("The teacher “%(name)s” was added, but it cannot be used yet: %(problem)s") % {
        "name": name, "problem": problem}


def teacher_upload_discarded(filename: str) -> str:
    return _("The upload “%(file)s” was discarded and its files removed.") % {"file": filename}


# -- runs --------------------------------------------------------------------------------------
#
# A failed run records an English message beside its code (Run.error_message, for the worker log
# and the admin); describe_error words the code for the reader.

INTERNAL_ERROR_RECORD = (
    "An unexpected error stopped the run. The details are in the worker log; please report this run's number."
)
TIME_LIMIT_RECORD = (
    "The run took longer than the time limit and was stopped; its last checkpoint is kept in the run's folder."
)


def worker_lost_record(attempts: int) -> str:
    return (f"The worker stopped {attempts} times while running this job "
            f"(killed, out of memory or restarted), so it was not started again.")


def run_still_going() -> str:
    return _("This run is still going: cancel it first, then delete it once it has stopped.")


def corpus_runs_still_going(count: int) -> str:
    return ngettext("%(count)s run on this corpus is still going: cancel it first.",
                    "%(count)s runs on this corpus are still going: cancel them first.", count) % {"count": count}


def run_cancelled_before_it_started() -> str:
    return _("The run was cancelled before it started.")


def run_not_in_queue(pk: int) -> str:
    return _("Run #%(pk)s is no longer queued: only a queued run can change places.") % {"pk": pk}


def run_at_queue_end(pk: int, direction: str) -> str:
    """Moving the first of a user's queued runs up, or the last one down: no run of theirs to swap with."""
    if direction == "up":
        return _("Run #%(pk)s is already the first of your queued runs.") % {"pk": pk}
    return _("Run #%(pk)s is already the last of your queued runs.") % {"pk": pk}


def run_moved(pk: int, other_pk: int, direction: str) -> str:
    if direction == "up":
        return _("Run #%(pk)s moved up: it now starts before run #%(other)s.") % {"pk": pk, "other": other_pk}
    return _("Run #%(pk)s moved down: it now starts after run #%(other)s.") % {"pk": pk, "other": other_pk}


def run_deleted(pk: int) -> str:
    return _("Run #%(pk)s was deleted.") % {"pk": pk}


def run_labels_saved(name: str) -> str:
    return _("Saved: the run is called “%(name)s”.") % {"name": name}


def compare_how_many(chosen: int, fewest: int, most: int) -> str:
    """Why the compare page was not shown: it takes from ``fewest`` to ``most`` runs."""
    return ngettext("Choose from %(fewest)s to %(most)s runs to compare; %(count)s was chosen.",
                    "Choose from %(fewest)s to %(most)s runs to compare; %(count)s were chosen.",
                    chosen) % {"fewest": fewest, "most": most, "count": chosen}


def corpus_deleted(name: str) -> str:
    return _("The corpus “%(name)s” and its runs were deleted.") % {"name": name}


def token_revoked(name: str) -> str:
    return _("The token “%(name)s” was revoked; requests that use it are now refused.") % {"name": name}


# -- the playground and the run API (cldweb.api) --------------------------------------------------
#
# The teacher column of the playground is empty when the run's teacher can no longer be loaded;
# the student still answers, and the page says why with one of these (by the engine's code).


def teacher_not_shown(code: str, teacher_name: str) -> str:
    params = {"name": teacher_name}
    if code == "run_teacher_gone":
        reason = _("the teacher this run fine-tuned is no longer in the teacher cache (it was deleted).")
    elif code == "run_teacher_changed":
        reason = _("the teacher “%(name)s” has changed since this run used it.") % params
    elif code == "run_teacher_corpus_gone":
        reason = _("the corpus its fine-tune is found by can no longer be read.")
    elif code == "run_teacher_not_recorded":
        reason = _("this run left no record of its teacher.")
    else:  # teacher_unavailable, teacher_invalid, an unsafe folder: the source teacher cannot be loaded
        reason = _("the teacher “%(name)s” cannot be loaded on this server.") % params
    return _("No teacher predictions: %(reason)s The student answers on its own.") % {"reason": reason}


def playground_time_formats() -> dict[str, str]:
    """How long the models took, with %(teacher)s / %(student)s milliseconds and %(count)s texts (also for playground.js)."""
    return {
        "both": _("%(count)s texts, one batch. Time on the server: teacher %(teacher)s ms, student %(student)s ms."),
        "student": _("%(count)s texts, one batch. Time on the server: student %(student)s ms."),
    }


def playground_time(count: int, student_ms: str, teacher_ms: str = "") -> str:
    formats = playground_time_formats()
    return (formats["both"] if teacher_ms else formats["student"]) % {
        "count": count, "teacher": teacher_ms, "student": student_ms}


# -- the prediction API (cldweb.api) ------------------------------------------------------------


def predict_body_not_json() -> str:
    return _("The request body is not valid JSON.")


def predict_body_not_an_object() -> str:
    return _("Send a JSON object such as {\"texts\": [\"…\"]}.")


def predict_texts_not_strings() -> str:
    return _("“texts” must be a list of strings.")


def predict_no_text() -> str:
    return _("Enter at least one text.")


def predict_too_many_texts(count: int, limit: int) -> str:
    return _("At most %(limit)s texts per request; you sent %(count)s.") % {"limit": limit, "count": count}


def predict_text_too_long(number: int, length: int, limit: int) -> str:
    return _("Text %(number)s has %(length)s characters, more than the limit of %(limit)s.") % {
        "number": number, "length": length, "limit": limit}


def predict_second_texts_not_strings() -> str:
    return _("“second_texts” must be a list of strings, or one string with a text per line.")


def predict_pair_for_single_student() -> str:
    return _("This run's student reads one text at a time; send “texts” without “second_texts”.")


def predict_single_for_pair_student() -> str:
    return _("This run's student reads text pairs; send the second texts too, as “second_texts”, one for "
             "each of “texts”.")


def predict_pairs_uneven(first: int, second: int) -> str:
    return _("%(first)s first texts but %(second)s second texts were sent; a pair needs one of each.") % {
        "first": first, "second": second}


def predict_no_student() -> str:
    return _("This run has no trained student yet.")


def predict_student_unloadable() -> str:
    return _("This run's student cannot be loaded.")


# -- notes from the engine (Reporter.on_message) -------------------------------------------
#
# The engine gives every note a code (distill/progress.py NOTE_TEXTS) and its params; here each code
# has one template, the engine's English wording with %(name)s for each of its fields (a test checks
# that every code is covered and that each template says what the engine says). A note with an unknown
# code, or stored before notes had codes, is shown as the engine wrote it.
ENGINE_NOTES = {
    "run_cancelled": gettext_noop(
        "Run cancelled; the last checkpoint is kept, rerun with the same output folder to resume."),
    "export_int8_left_out": gettext_noop(
        "The int8 model picked the trained student's label on only %(agreement_accuracy)s of %(texts)s dev texts "
        "(99 in 100 needed), so the download holds model.onnx without it."),
    "split_changed": gettext_noop(
        "The corpus or its train/dev/test split differs from the one this run folder was built with, "
        "so the teacher fine-tune and the student training start over."),
    "run_summary": gettext_noop(
        "Teacher test accuracy %(teacher_accuracy)s, student %(student_accuracy)s; student %(student_ms)s ms "
        "a text (batch 1, median) against the teacher's %(teacher_ms)s ms; %(student_parameters)s "
        "parameters against %(teacher_parameters)s on %(device)s."),
    "corpus_summary": gettext_noop(
        "Corpus: %(train)s train, %(dev)s dev, %(test)s test rows; %(duplicates)s duplicates removed; "
        "labels: %(labels)s."),
    "corpus_rows_skipped": gettext_noop(
        "%(count)s of %(rows)s rows were skipped and are not used: %(reasons)s; first on lines %(lines)s."),
    "corpus_dev_unlabeled": gettext_noop(
        "%(count)s dev rows have no label and were set aside, since they cannot be scored."),
    "corpus_test_unlabeled": gettext_noop(
        "%(count)s test rows have no label and were set aside, since they cannot be scored."),
    "corpus_duplicates": gettext_noop(
        "%(duplicates)s of %(rows)s rows repeat an earlier text; duplicates were removed before "
        "splitting so scores do not measure memorisation."),
    "corpus_conflicts": gettext_noop(
        "%(count)s texts appear with different labels; the most frequent label was kept."),
    "corpus_conflicts_ties": gettext_noop(
        "%(count)s texts appear with different labels; the most frequent label was kept, "
        "and %(ties)s ties were left unlabeled."),
    "corpus_dev_overlap": gettext_noop(
        "%(count)s training texts also appear in the dev file and were removed from training, "
        "so the dev score is not inflated by texts the model has seen."),
    "corpus_test_overlap": gettext_noop(
        "%(count)s training texts also appear in the test file and were removed from training, "
        "so the test score is not inflated by texts the model has seen."),
    "corpus_dev_test_shared": gettext_noop("%(count)s texts are in both the dev and the test file."),
    "corpus_unbalanced": gettext_noop(
        "The classes are unbalanced (largest %(largest)s, smallest %(smallest)s texts); "
        "accuracy alone may flatter the model."),
    "corpus_no_dev": gettext_noop(
        "There is no dev set, so early stopping and best-checkpoint choice cannot work."),
    "tagging_unlabeled_file": gettext_noop(
        "%(count)s sentences of the unlabelled text file joined training: the teacher tags them and the student "
        "learns from its tags (they are never scored)."),
    "tagging_unlabeled_file_hard": gettext_noop(
        "The %(count)s sentences of the unlabelled text file have no tags, and this mode trains on your tags only, "
        "so they are not used."),
    "demo_teacher_building": gettext_noop(
        "Building a demo teacher: a small BERT initialised at random, to be trained on this corpus."),
    "demo_teacher_pretraining": gettext_noop(
        "Building a demo teacher and teaching it the corpus's language first: %(epochs)s epochs of filling in masked "
        "characters of the training texts, before fine-tuning."),
    "demo_teacher_pretrained_reused": gettext_noop(
        "Reusing the demo teacher pre-trained earlier on the same training texts."),
    "teacher_finetune_first": gettext_noop(
        "The teacher has no trained head for these labels; fine-tuning it on the labeled rows first."),
    "teacher_finetune_first_demo": gettext_noop(
        "The teacher has no trained head for these labels; fine-tuning it on the labeled rows first "
        "(demo teacher: a small transformer trained from scratch, not pretrained)."),
    "teacher_finetune_slow_fp16": gettext_noop(
        "amp fp16 on a CPU is emulated: the teacher fine-tune will be many times slower than with amp "
        "off or bf16."),
    "teacher_finetune_reused": gettext_noop(
        "Reusing the teacher fine-tuned earlier on the same rows and settings."),
    # The folder is a server path: the web never shows one, so its note is the one without it.
    "teacher_finetune_reused_at": gettext_noop(
        "Reusing the teacher fine-tuned earlier on the same rows and settings."),
    "teacher_finetune_waiting": gettext_noop(
        "Another worker is fine-tuning this teacher on the same rows; waiting for it."),
    "teacher_finetune_resuming": gettext_noop("Resuming the teacher fine-tune from step %(step)s (epoch %(epoch)s)."),
    "teacher_finetune_stale": gettext_noop(
        "The teacher fine-tuning checkpoint was written for another teacher, labels, data or settings; "
        "fine-tuning from the start."),
    "teacher_labelling_waiting": gettext_noop(
        "Another worker is labelling these texts with this teacher; waiting for it."),
    "teacher_labelling_resuming": gettext_noop("Resuming teacher labelling at text %(done)s of %(total)s."),
    "teacher_outputs_cached": gettext_noop("Teacher outputs read from the cache."),
    "teacher_labelling_bf16": gettext_noop(
        "The teacher labels in bf16, a shorter number format this processor computes natively, at about twice the "
        "speed: of %(texts)s dev texts labelled both ways, %(changed)s got another top label than in full precision "
        "(float32), and no probability moved by more than 0.02."),
    "teacher_labelling_fp32_checked": gettext_noop(
        "The teacher labels in full precision (float32): in the faster bf16 format, %(changed)s of %(texts)s dev "
        "texts got another top label or a probability moved by more than 0.02."),
    "teacher_speed_reused": gettext_noop(
        "The teacher's speed was measured before on this machine with the same texts, threads and precision; that "
        "measurement is reused and only the student was timed now."),
    "teacher_labelled": gettext_noop("Teacher labelled %(count)s texts."),
    "transfer_mlm_no_head": gettext_noop(
        "The teacher has no masked-LM head, so teacher-MLM sampling was skipped; masking, POS replacement and "
        "n-gram sampling still work."),
    "transfer_generated": gettext_noop(
        "%(count)s new training rows were generated (%(mask)s by masking words, %(pos)s by replacing words with "
        "others of the same part of speech, %(ngram)s as windows of a text, %(mlm)s rewritten by the teacher's "
        "masked LM); the teacher labels them next."),
    "transfer_ran_out": gettext_noop(
        "Only %(count)s distinct variants could be made of the %(target)s asked for: the corpus is small or its "
        "texts short."),
    "student_from_teacher": gettext_noop("Student initialised from the teacher's weights."),
    "student_embeddings_from_teacher": gettext_noop(
        "Student embeddings initialised from the teacher's (%(known)s tokens known to the teacher)."),
    "student_resuming": gettext_noop("Resuming student training from step %(step)s (epoch %(epoch)s)."),
    "student_stale": gettext_noop(
        "The checkpoint in this folder was written for other settings; training from scratch."),
    "early_stopping": gettext_noop(
        "Early stopping: dev accuracy did not improve for %(evaluations)s evaluations."),
    "student_trained": gettext_noop("Student trained for %(steps)s steps."),
    "student_trained_stopped_early": gettext_noop("Student trained for %(steps)s steps (stopped early)."),
    "student_kept_closest_to_teacher": gettext_noop(
        "The student keeps its weights from epoch %(epoch)s of %(epochs)s, where it was closest to the teacher on "
        "the dev texts (dev accuracy %(dev_accuracy)s)."),
    "baseline_training": gettext_noop(
        "Training the same student on the labels only, with the same budget, to see what the teacher adds."),
    "baseline_no_labels": gettext_noop(
        "No training row has a label, so the student cannot be trained on labels only for comparison; the report "
        "compares it with the teacher alone."),
    "teacher_no_better_than_majority": gettext_noop(
        "The teacher is right on %(teacher_accuracy)s of the dev texts, no better than always giving the commonest "
        "label (%(majority_accuracy)s): the student can learn little from it. Bring a stronger teacher, or train "
        "in semi mode so the labels count too."),
}


def engine_note_param(name: str, value: Any) -> str:
    """One param of a note in the active language, by the engine's naming rule (distill/progress.py):
    ``*_accuracy`` a fraction shown as a percentage, ``*_ms`` milliseconds, any other number a count.

    Numbers are grouped by thousands with ",", which is how both English and Chinese write them
    (and what run.js's Intl.NumberFormat writes for the same note when it arrives live).
    """
    if value is None:
        return _("n/a")
    if isinstance(value, str):
        return engine_note_device(value) if name == "device" else value
    if isinstance(value, (list, tuple)):
        return list_separator().join(str(item) for item in value)
    if isinstance(value, Mapping):
        return skip_reasons(value, list_separator())
    if name.endswith("_accuracy"):
        return f"{value:.1%}"
    if name.endswith("_ms"):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def engine_note_device(device: str) -> str:
    """The device a note names ("cpu", "cuda"), as the run page names it."""
    return {"cpu": _("CPU"), "cuda": _("GPU")}.get(device, device)


def engine_note(values: Mapping[str, Any]) -> str:
    """A stored note ({"text", "code", "params"}) in the active language; as the engine wrote it when
    its code is unknown or the translation asks for a param the note lacks."""
    text = str(values.get("text", ""))
    template = ENGINE_NOTES.get(str(values.get("code", "")))
    if template is None:
        return text
    params = values.get("params") or {}
    try:
        return _(template) % {name: engine_note_param(name, value) for name, value in params.items()}
    except (KeyError, TypeError, ValueError):
        return text


def engine_note_templates() -> dict[str, str]:
    """Code -> the active language's template, for run.js, which fills in the notes that arrive live."""
    return {code: _(template) for code, template in ENGINE_NOTES.items()}


def engine_note_words() -> dict[str, Any]:
    """The words run.js writes into a note's params: an unmeasured score, the device, the list separator,
    and why corpus rows were skipped (a reason's phrase and "%(count)s with %(reason)s")."""
    return {"n/a": _("n/a"), "cpu": engine_note_device("cpu"), "cuda": engine_note_device("cuda"),
            "list_separator": list_separator(), "skip_reason": _("%(count)s with %(reason)s"),
            "skip_reasons": {code: _(phrase) for code, phrase in SKIP_REASONS.items()}}


# -- the web's own answers to a request, and what it writes on a user's rows ------------------------
# (cldweb/errors.py, cldweb/access.py, PendingTeacher.accept in cldweb/models.py)


def not_found() -> str:
    return _("Not found.")


def not_allowed() -> str:
    return _("Not allowed.")


def server_error() -> str:
    return _("Server error; the details are in the server log.")


def post_only() -> str:
    return _("Only POST is allowed here.")


def api_token_invalid() -> str:
    return _("The API token is invalid or has been revoked.")


def authentication_required() -> str:
    return _("Authentication required: send Authorization: Bearer <token>.")


def uploaded_teacher_description(filename: str) -> str:
    """The description an uploaded teacher gets, in the uploader's language (it is stored, not re-translated)."""
    return _("Uploaded from %(file)s") % {"file": filename}


# -- the evaluation report (cldweb.presentation.report) ---------------------------------------------
# Numbers come formatted: points and percentages with one decimal ("2.1", "97.8").

def report_model_names() -> dict[str, str]:
    """distill.result.REPORT_MODELS -> what the report calls each model."""
    return {
        "teacher": _("Teacher"),
        "student": _("Student (distilled)"),
        "baseline": _("Student on labels only"),
        "classical": _("Classical: character n-grams + logistic regression"),
        "majority": _("Always the most common label"),
    }


def report_stage_names() -> dict[str, str]:
    """RunResult.stage_seconds keys -> the stage as the report's time table names it."""
    return {
        "preparing": _("Loading the corpus"),
        "loading_teacher": _("Loading the teacher"),
        "finetuning_teacher": _("Fine-tuning the teacher"),
        "generating": _("Growing the training set"),
        "labelling": _("Teacher labelling"),
        "distilling": _("Distilling the student"),
        "baseline": _("Training the student on labels only"),
        "evaluating": _("Evaluating"),
        "exporting": _("Exporting"),
    }


REPORT_SUGGESTION = gettext_noop("Try a stronger teacher, more unlabeled text, or a longer run (more epochs).")


def report_not_better_than_baseline(student: str, baseline: str) -> str:
    return _("The distilled student is not better than the same student trained without the teacher "
             "(%(student)s%% against %(baseline)s%%): here the teacher did not help. %(suggestion)s") % {
        "student": student, "baseline": baseline, "suggestion": _(REPORT_SUGGESTION)}


def report_not_better_than_classical(student: str, classical: str) -> str:
    return _("The student is not better than a classical model that trains in seconds (character n-grams with "
             "logistic regression: %(student)s%% against %(classical)s%%), so it is not worth shipping yet. "
             "%(suggestion)s") % {"student": student, "classical": classical, "suggestion": _(REPORT_SUGGESTION)}


def report_not_better_than_majority(student: str, majority: str, label: str) -> str:
    return _("The student is no better than always answering “%(label)s”, the most common label (%(student)s%% "
             "against %(majority)s%%): it has learnt nothing usable. %(suggestion)s") % {
        "student": student, "majority": majority, "label": label, "suggestion": _(REPORT_SUGGESTION)}


def report_keeps(keeps: str) -> str:
    return _("The student keeps %(keeps)s%% of the teacher's accuracy.") % {"keeps": keeps}


def report_keeps_and_beats_baseline(keeps: str, points: str) -> str:
    return _("The student keeps %(keeps)s%% of the teacher's accuracy and is %(points)s points better than the "
             "same student trained without the teacher.") % {"keeps": keeps, "points": points}


def report_keeps_baseline_in_noise(keeps: str, points: str, size: str) -> str:
    return _("The student keeps %(keeps)s%% of the teacher's accuracy. It is %(points)s points above the same "
             "student trained without the teacher, but with %(size)s test texts that is inside the noise: it may "
             "be chance, not a gain from the teacher.") % {"keeps": keeps, "points": points, "size": size}


def report_beats_classical(points: str) -> str:
    return _("It is %(points)s points better than the classical model (character n-grams with logistic "
             "regression).") % {"points": points}


def report_classical_in_noise(points: str) -> str:
    return _("It is %(points)s points above the classical model (character n-grams with logistic regression), "
             "which is inside the noise.") % {"points": points}


def report_scored_on(split: str, size: str) -> str:
    if split == "dev":
        return _("Scored on %(size)s dev texts (the test rows have no labels); each accuracy comes with its 95%% "
                 "interval.") % {"size": size}
    return _("Scored on %(size)s test texts; each accuracy comes with its 95%% interval.") % {"size": size}


def report_tagging_scored_on(split: str, sentences: str, entities: str) -> str:
    if split == "dev":
        return _("Scored on %(sentences)s dev sentences holding %(entities)s entities (the test sentences have no "
                 "tags). An entity counts as found only when its start, end and type are all right.") % {
            "sentences": sentences, "entities": entities}
    return _("Scored on %(sentences)s test sentences holding %(entities)s entities. An entity counts as found only "
             "when its start, end and type are all right.") % {"sentences": sentences, "entities": entities}


def report_tagging_keeps(student: str, teacher: str, keeps: str) -> str:
    return _("The student's entity F1 is %(student)s%% against the teacher's %(teacher)s%%: it keeps %(keeps)s%% "
             "of it.") % {"student": student, "teacher": teacher, "keeps": keeps}


def report_tagging_not_better_than_baseline(student: str, baseline: str) -> str:
    return _("The distilled student finds entities no better than the same student trained without the teacher "
             "(entity F1 %(student)s%% against %(baseline)s%%): here the teacher did not help. %(suggestion)s") % {
        "student": student, "baseline": baseline, "suggestion": _(REPORT_SUGGESTION)}


def report_no_disagreements() -> str:
    return _("The student and the teacher agree on every dev text.")


# -- growing the training set and more unlabelled text (the run form, the run page, the corpus page) ----------

def grow_rows_without_growing() -> str:
    return _("Choose light or heavy under “Grow the training set”, or leave the number of generated rows empty.")


def grow_methods_without_growing() -> str:
    return _("Choose light or heavy under “Grow the training set”, or untick the ways to make new rows.")


def grow_in_hard_mode() -> str:
    return _("Generated rows have no label of your own, only the teacher's, and the mode “Your labels only” uses "
             "none of the teacher's: choose a soft or semi mode, or switch growing the training set off.")


def tagging_student_unsupported(architecture: str) -> str:
    """Why a student cannot be trained on a named-entity corpus (the engine's ``tagger_unsupported``)."""
    return _("The %(architecture)s student cannot tag named entities: it reads windows of characters and "
             "gives one answer per text. Choose a BiLSTM, BiGRU or transformer student.") % {
        "architecture": architecture}


def grow_for_tagging() -> str:
    return _("Growing the training set makes variants of single texts; it is not offered for a named-entity "
             "corpus.")


def grow_for_pairs() -> str:
    return _("Growing the training set makes variants of single texts; it is not offered for a text-pair corpus.")


def tagging_corpus_on_run_form(name: str, unlabeled: bool = False) -> str:
    """What the run form says about a named-entity corpus: which students tag, that growing is off, and what
    becomes of its file of unlabelled texts."""
    sentence = _("“%(name)s” holds named entities: choose a BiLSTM, BiGRU or transformer student (TextCNN cannot "
                 "tag entities); growing the training set is not offered for it. The report scores entity F1 per "
                 "type.") % {"name": name}
    if unlabeled:
        sentence += " " + tagging_unlabeled_file_used()
    return sentence


def tagging_unlabeled_file_used() -> str:
    """What a named-entity corpus's file of unlabelled texts is for (the corpus page and the run form)."""
    return _("Its file of unlabelled texts is used as sentences without tags: the teacher tags them and the "
             "student learns from its tags (not in the mode “Your labels only”, which has no teacher).")


def tagging_students_note() -> str:
    """The reason beside the students the run form greys out for a named-entity corpus."""
    return _("TextCNN gives one answer per text, so it cannot tag named entities: choose another student for a "
             "named-entity corpus.")


def pair_corpus_on_run_form(name: str, first: str, second: str, unlabeled: bool) -> str:
    """What the run form says about a text-pair corpus: what changes for its runs."""
    sentence = _("“%(name)s” holds text pairs (“%(first)s” and “%(second)s”): growing the training set is not "
                 "offered for it.") % {"name": name, "first": first, "second": second}
    if unlabeled:
        sentence += " " + _("Its file of unlabelled texts holds single texts, so it is not used.")
    return sentence


def pair_students_hint() -> str:
    return _("For text pairs, the BiLSTM and BiGRU read each text alone with one shared encoder and compare them "
             "(siamese); TextCNN and the transformer read the two texts joined. The demo teacher, trained from "
             "scratch, rarely learns to match two texts: bring a pretrained teacher for pairs, or train in semi "
             "mode so the labels count too.")


def grow_mlm_without_head(teacher: str) -> str:
    return _("“%(teacher)s” has no masked-LM head, so it cannot rewrite words: untick “The teacher rewriting words "
             "(masked-LM)”, or choose a pretrained teacher such as bert-base-chinese.") % {"teacher": teacher}


def grow_mlm_needs_head() -> str:
    return _("The teacher rewriting words (masked-LM) needs a teacher with a masked-LM head, such as "
             "bert-base-chinese. The demo teacher has none: with it this way is skipped, and the run page says so.")


def grow_estimate_formats() -> dict[str, str]:
    """The extra teacher time next to the run form's grow choice; %(time)s, %(rows)s, %(speed)s (also for run_form.js)."""
    return {
        "measured": _("Growing adds %(time)s of teacher time on this machine, to label %(rows)s generated rows at "
                      "the %(speed)s texts a second this teacher labelled in its last finished run here."),
        "guess_demo": _("Growing adds %(time)s of teacher time, to label %(rows)s generated rows. A rough guess: no "
                        "finished run of this teacher here recorded its speed, so %(speed)s texts a second is "
                        "assumed, about what a demo teacher labels on a CPU."),
        "guess_pretrained": _("Growing adds %(time)s of teacher time, to label %(rows)s generated rows. A rough guess: no "
                              "finished run of this teacher here recorded its speed, so %(speed)s texts a second "
                              "is assumed, about what a BERT-base-sized teacher labels on a CPU (a GPU is many "
                              "times faster)."),
        "mlm": _("The teacher rewriting words also runs the teacher on each text it rewrites, which adds up to as "
                 "much time again for those rows."),
        "under_a_minute": _("less than a minute"),
        "minute": ngettext("about %(count)s minute", "about %(count)s minutes", 1),
        "minutes": ngettext("about %(count)s minute", "about %(count)s minutes", 2),
        "hour": ngettext("about %(count)s hour", "about %(count)s hours", 1),
        "hours": ngettext("about %(count)s hour", "about %(count)s hours", 2),
    }


def grow_duration(seconds: float) -> str:
    """A teacher time as the estimate says it: "less than a minute", "about 4 minutes", "about 3 hours" (from 90 minutes)."""
    formats = grow_estimate_formats()
    if seconds < 60:
        return formats["under_a_minute"]
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("about %(count)s minute", "about %(count)s minutes", minutes) % {"count": f"{minutes:,}"}
    hours = round(seconds / 3600)
    return ngettext("about %(count)s hour", "about %(count)s hours", hours) % {"count": f"{hours:,}"}


def training_row_kinds() -> dict[str, str]:
    """RunResult.transfer["rows"] keys in words, for the run page's "Training rows" table."""
    return {
        "labelled": _("Corpus rows with a label"),
        "unlabelled": _("Corpus rows without a label"),
        "unlabelled_file": _("Texts from the unlabelled texts file"),
    }


def grow_setting(preset: str, rows: int, methods: list[str]) -> str:
    """A run's growing choice as its page lists it: "Light: 20,000 generated rows wanted (Masking words, …)"."""
    names = grow_method_names()
    preset_name = {"light": _("Light"), "heavy": _("Heavy")}.get(preset, preset)
    return _("%(preset)s: %(rows)s generated rows wanted (%(methods)s)") % {
        "preset": preset_name, "rows": f"{rows:,}",
        "methods": list_separator().join(names.get(method, method) for method in methods)}


def grow_generated_kind(method: str) -> str:
    return _("Generated: %(method)s") % {"method": method}


def grow_method_names() -> dict[str, str]:
    """distill TRANSFER_METHODS in words (the run form's checkboxes and the run page's tables)."""
    return {
        "mask": _("Masking words"),
        "pos": _("Replacing words by others of the same part of speech"),
        "ngram": _("Keeping a window of the text"),
        "mlm": _("The teacher rewriting words (masked-LM)"),
    }


# Why the engine left a way of growing out (RunResult.transfer["methods_skipped"]), for the codes the web knows
# before the engine's note does; a code with an engine note is said as that note, any other by its code.
GROW_SKIP_REASONS = {
    "transfer_mlm_no_head": gettext_noop("the teacher has no masked-LM head (the demo teacher has none)"),
}


def grow_method_skipped(method: str, code: str) -> str:
    """Why a way of growing was left out: the web's short reason where it has one, else the engine's note."""
    name = grow_method_names().get(method, method)
    if code in GROW_SKIP_REASONS:
        return _("“%(method)s” was not used: %(reason)s.") % {"method": name, "reason": _(GROW_SKIP_REASONS[code])}
    if code in ENGINE_NOTES:
        return engine_note({"code": code, "params": {}, "text": _("“%(method)s” was not used: %(reason)s.") % {
            "method": name, "reason": code}})
    return _("“%(method)s” was not used: %(reason)s.") % {"method": name, "reason": code}


def grow_rows_short(made: int, target: int, attempts: int) -> str:
    return _("%(made)s of the %(target)s generated rows asked for were made: after %(attempts)s tries the corpus "
             "gave no more different variants.") % {
        "made": f"{made:,}", "target": f"{target:,}", "attempts": f"{attempts:,}"}


def grow_rows_total(total: int, generated: int) -> str:
    if generated:
        return _("The student learnt from %(total)s rows, %(generated)s of them generated.") % {
            "total": f"{total:,}", "generated": f"{generated:,}"}
    return _("The student learnt from %(total)s rows.") % {"total": f"{total:,}"}


def virtual_labels_share(passed: int, candidates: int, threshold: float) -> str:
    share = passed / candidates * 100 if candidates else 0.0
    return _("%(passed)s of %(candidates)s unlabelled rows (%(share)s%%) passed the %(threshold)s confidence "
             "threshold and were used as labels.") % {
        "passed": f"{passed:,}", "candidates": f"{candidates:,}", "share": f"{share:.1f}",
        "threshold": f"{threshold:.2f}"}


def unlabeled_attached(filename: str, lines: int) -> str:
    return ngettext("%(file)s: %(count)s text attached.", "%(file)s: %(count)s texts attached.", lines) % {
        "file": filename, "count": f"{lines:,}"}


def unlabeled_removed(filename: str) -> str:
    return _("%(file)s was removed from the corpus.") % {"file": filename}


def unlabeled_runs_still_going(filename: str, count: int) -> str:
    return ngettext("%(file)s cannot be changed while %(count)s run on this corpus is queued or running: it reads "
                    "the file. Wait for it to end, or cancel it.",
                    "%(file)s cannot be changed while %(count)s runs on this corpus are queued or running: they "
                    "read the file. Wait for them to end, or cancel them.", count) % {
        "file": filename, "count": f"{count:,}"}


def api_run_body_invalid() -> str:
    return _("The request body must be a JSON object such as {\"corpus\": 1, \"teacher\": 1}.")


def api_run_unknown_fields(names: list[str]) -> str:
    return _("Unknown fields: %(names)s.") % {"names": list_separator().join(names)}


def api_run_invalid() -> str:
    return _("The run settings are not valid; see “fields” for what to change.")


# -- run actions: clone, retry, resume ------------------------------------------------------------

def run_not_retryable() -> str:
    return _("Only a failed run can be retried.")


def run_not_resumable_status() -> str:
    return _("Only a cancelled or failed run can be resumed.")


def run_no_checkpoint(pk: int) -> str:
    return _("Run #%(pk)s has no checkpoint to resume from: it stopped before its training saved one, or its "
             "folder was deleted. Retry it or clone it to start again with the same settings.") % {"pk": pk}


def run_resumed(pk: int) -> str:
    return _("Run #%(pk)s is queued again and continues from its last checkpoint.") % {"pk": pk}


def run_retried(pk: int) -> str:
    return _("A new run with the same settings was started, retrying run #%(pk)s.") % {"pk": pk}


def run_cloned_from(pk: int) -> str:
    return _("The settings of run #%(pk)s are filled in: change what you want and start a new run. Settings this "
             "form does not show are taken from that run as they were.") % {"pk": pk}


def run_clone_gone() -> str:
    return _("The run to copy the settings from no longer exists; the form shows the usual settings.")


# -- a run's story on its page (cldweb.timeline) ------------------------------------------------------

def stage_queued_name() -> str:
    return _("Waiting in the queue")


def duration_formats() -> dict[str, str]:
    """How a stage's time is written (the report's stage times write it the same way); run.js ticks with them."""
    return {"seconds": _("%(seconds)s s"), "minutes": _("%(minutes)s min %(seconds)s s")}


def duration(seconds: float) -> str:
    formats = duration_formats()
    if seconds < 60:
        return formats["seconds"] % {"seconds": f"{seconds:.1f}"}
    minutes, rest = divmod(round(seconds), 60)
    return formats["minutes"] % {"minutes": f"{minutes:,}", "seconds": rest}


def stage_state_formats() -> dict[str, str]:
    """A timeline line's time by its state; "%(time)s" is a duration."""
    return {"current": _("%(time)s so far"), "skipped": _("not needed"), "pending": "",
            "stopped": _("%(time)s, stopped here"), "done": "%(time)s"}


def stage_state_time(state: str, seconds: float | None) -> str:
    template = stage_state_formats()[state]
    return template % {"time": duration(seconds or 0.0)} if "%(time)s" in template else template


def overall_formats() -> dict[str, str]:
    """The whole run's progress line; "%(percent)s" comes formatted ("42%")."""
    return {"estimating": _("%(percent)s of the whole run; estimating the time left…"),
            "minutes": _("%(percent)s of the whole run, about %(minutes)s min left"),
            "under_a_minute": _("%(percent)s of the whole run, less than a minute left"),
            "done": _("The whole run is done.")}


def overall_progress(fraction: float, eta_s: float | None) -> str:
    formats = overall_formats()
    values = {"percent": f"{fraction * 100:.0f}%"}
    if eta_s is None:
        return formats["estimating"] % values
    if eta_s < 60:
        return formats["under_a_minute"] % values
    return formats["minutes"] % {**values, "minutes": f"{round(eta_s / 60):,}"}


def overall_done() -> str:
    return overall_formats()["done"]


# Engine notes that warn (something the user may want to fix or know before trusting the scores); the run
# page marks them as warnings. Every other note reports what happened.
WARNING_NOTE_CODES = frozenset({
    "export_int8_left_out", "split_changed", "corpus_rows_skipped", "corpus_dev_unlabeled", "corpus_test_unlabeled",
    "corpus_conflicts", "corpus_conflicts_ties", "corpus_dev_overlap", "corpus_test_overlap", "corpus_dev_test_shared",
    "corpus_unbalanced", "corpus_no_dev", "tagging_unlabeled_file_hard", "teacher_finetune_slow_fp16",
    "teacher_finetune_stale", "transfer_mlm_no_head", "transfer_ran_out", "student_stale", "baseline_no_labels",
    "teacher_no_better_than_majority",
})


def is_warning_note(values: Mapping[str, Any]) -> bool:
    return values.get("code") in WARNING_NOTE_CODES


def warning_label() -> str:
    """What precedes a warning note, its separating space included: Chinese writes none after its full-width colon."""
    label = _("Warning:")
    return label if label.endswith("：") else label + " "

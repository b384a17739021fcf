"""Thin views: fetch through cldweb.access, call a model method, render or redirect.

Their sentences come from cldweb.messages, a run's results in words from cldweb.presentation;
what stays here is each page's own text (confirmation pages, the run page's chart labels for run.js).
One file over 500 lines: every page of the app, each view a few lines.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from cldweb.access import (get_owned_corpus_or_404, get_owned_run_or_404, get_owned_runs_or_404, get_owned_token_or_404,
                           token_or_login_required)
from cldweb.errors import post_only
from cldweb.forms import (
    ApiTokenForm, CorpusColumnsForm, CorpusEncodingForm, CorpusUploadForm, RunFilterForm, RunForm, RunLabelForm,
    TeacherHubForm, TeacherUploadForm, UnlabeledTextsForm,
)
from cldweb import comparing, growing, listing, presentation, timeline
from cldweb import report as report_views
from cldweb.lib.hub import cached_locally, hub_reachable
from cldweb.messages import (
    WARNING_NOTE_CODES, compare_how_many, corpus_deleted, corpus_runs_still_going, describe_corpus_error,
    describe_error, duration_formats, engine_note, engine_note_templates, engine_note_words, format_megabytes,
    grow_mlm_needs_head, is_warning_note, overall_formats, run_cancelled_before_it_started, run_clone_gone,
    run_cloned_from, run_deleted, run_labels_saved, run_moved, run_no_checkpoint, run_not_retryable, run_resumed, run_retried,
    run_still_going, stage_state_formats, unlabeled_attached, unlabeled_removed, unlabeled_runs_still_going,
    warning_label,
    teacher_added, teacher_added_unusable, teacher_upload_discarded, token_revoked, upload_too_large,
    write_skipped_rows_csv,
)
from cldweb.models import (
    ApiToken, Corpus, CorpusRejected, MetricPoint, PendingTeacher, Run, RunActionRefused, RunStillActive, Teacher,
    TeacherRejected,
)
from cldweb.playground import playground_context
from cldweb.reporting import WebReporter, send_queue_positions
from cldweb.uploads import capped_upload, upload_refused
from distill import CorpusError


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    runs = Run.objects.filter(owner=request.user).select_related("corpus", "teacher")[:50]
    corpora = Corpus.objects.filter(owner=request.user)[:50]
    return render(request, "cldweb/dashboard.html", {"runs": runs, "corpora": corpora,
                                                     "owner_runs": owner_runs_settings()})


# -- corpora ---------------------------------------------------------------------------


def corpus_upload_page(request: HttpRequest, form: CorpusUploadForm, status: int = 200, error: str = "") -> HttpResponse:
    context = {"form": form, "error": error, "max_mb": format_megabytes(settings.CLD_MAX_UPLOAD_BYTES)}
    return render(request, "cldweb/corpus_upload.html", context, status=status)


def corpus_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    return corpus_upload_page(request, CorpusUploadForm(), status=413, error=upload_too_large(limit))


@login_required
@capped_upload("CLD_MAX_UPLOAD_BYTES", refuse=corpus_too_large)
def corpus_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and upload_refused(request):
        return corpus_too_large(request, settings.CLD_MAX_UPLOAD_BYTES)
    form = CorpusUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            corpus = Corpus.create_from_upload(
                owner=request.user, upload=form.cleaned_data["file"], name=form.cleaned_data["name"]
            )
        except CorpusRejected as rejected:
            form.add_error("file", rejected.message)
        else:
            return redirect("corpus-preview", pk=corpus.pk)
    return corpus_upload_page(request, form, status=400 if form.errors else 200)


@login_required
def corpus_preview(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = get_owned_corpus_or_404(request, pk)
    form = CorpusColumnsForm(request.POST or None, corpus=corpus)
    if request.method == "POST" and form.is_valid():
        try:
            corpus.analyse(form.cleaned_data["text_column"], form.cleaned_data["label_column"],
                           text_pair_column=form.cleaned_data["text_pair_column"],
                           tagging=form.cleaned_data["tagging"])
        except CorpusError as error:
            form.add_error(None, describe_corpus_error(error.code, error.params, error.detail, corpus.original_filename))
        else:
            corpus.name_labels(form.label_names_for(corpus))
            corpus.save()
            if "continue" in request.POST and corpus.is_usable:
                return redirect("corpus-detail", pk=corpus.pk)
            return redirect("corpus-preview", pk=corpus.pk)
    preview = corpus.preview()
    rows = [[row.get(column, "") for column in preview.columns] for row in preview.rows]
    return render(request, "cldweb/corpus_preview.html", {
        "corpus": corpus, "form": form, "preview": preview, "rows": rows,
        "encoding_form": CorpusEncodingForm(initial={"encoding": corpus.encoding}),
    })


@login_required
@post_only("corpus-preview", with_pk=True)
def corpus_encoding(request: HttpRequest, pk: int) -> HttpResponse:
    """Read the file again with the encoding the user picked (or detect it again)."""
    corpus = get_owned_corpus_or_404(request, pk)
    form = CorpusEncodingForm(request.POST)
    if form.is_valid():
        try:
            corpus.analyse(corpus.text_column, corpus.label_column, encoding=form.cleaned_data["encoding"])
        except CorpusError as error:
            messages.error(request, describe_corpus_error(error.code, error.params, error.detail,
                                                          corpus.original_filename))
        else:
            corpus.save()
    return redirect("corpus-preview", pk=corpus.pk)


@login_required
@require_GET
def corpus_skipped(request: HttpRequest, pk: int) -> HttpResponse:
    """Every skipped row as a CSV: line, problem (in the user's language) and the row's text, cut."""
    corpus = get_owned_corpus_or_404(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="skipped-rows-{corpus.pk}.csv"'
    response.write("\ufeff")  # Excel reads a UTF-8 CSV as such only with the BOM
    write_skipped_rows_csv(response, corpus.all_skipped_rows())
    return response


@login_required
def corpus_detail(request: HttpRequest, pk: int, unlabeled_form: UnlabeledTextsForm | None = None,
                  status: int = 200, unlabeled_error: str = "") -> HttpResponse:
    corpus = get_owned_corpus_or_404(request, pk)
    runs = corpus.runs.filter(owner=request.user).select_related("teacher")
    return render(request, "cldweb/corpus_detail.html", {
        "corpus": corpus, "runs": runs, "unlabeled_form": unlabeled_form or UnlabeledTextsForm(),
        "unlabeled_error": unlabeled_error, "max_mb": format_megabytes(settings.CLD_MAX_UPLOAD_BYTES),
    }, status=status)


def unlabeled_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    pk = request.resolver_match.kwargs["pk"]
    return corpus_detail(request, pk, status=413, unlabeled_error=upload_too_large(limit))


@login_required
@post_only("corpus-detail", with_pk=True)
@capped_upload("CLD_MAX_UPLOAD_BYTES", refuse=unlabeled_too_large)
def corpus_unlabeled(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach (or replace) the corpus's file of unlabelled texts, one per line."""
    corpus = get_owned_corpus_or_404(request, pk)
    if upload_refused(request):
        return unlabeled_too_large(request, settings.CLD_MAX_UPLOAD_BYTES)
    form = UnlabeledTextsForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            corpus.attach_unlabeled(upload)
        except CorpusRejected as rejected:
            form.add_error("file", rejected.message)
        except RunStillActive as still:
            form.add_error("file", unlabeled_runs_still_going(corpus.unlabeled_filename or upload.name,
                                                              len(still.run_ids)))
        else:
            messages.success(request, unlabeled_attached(corpus.unlabeled_filename, corpus.unlabeled_lines))
            return redirect("corpus-detail", pk=corpus.pk)
    return corpus_detail(request, pk, unlabeled_form=form, status=400)


@login_required
@post_only("corpus-detail", with_pk=True)
def corpus_unlabeled_remove(request: HttpRequest, pk: int) -> HttpResponse:
    corpus = get_owned_corpus_or_404(request, pk)
    filename = corpus.unlabeled_filename
    if corpus.unlabeled_file:
        try:
            corpus.remove_unlabeled()
        except RunStillActive as still:
            messages.error(request, unlabeled_runs_still_going(filename, len(still.run_ids)))
        else:
            messages.info(request, unlabeled_removed(filename))
    return redirect("corpus-detail", pk=corpus.pk)


@login_required
def corpus_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting takes with it; POST: delete the corpus, its file, its runs and their folders."""
    corpus = get_owned_corpus_or_404(request, pk)
    runs = list(corpus.runs.all())
    active = [run for run in runs if run.is_active]
    if request.method == "POST" and not active:
        try:
            corpus.delete()
        except RunStillActive:  # a run was started between the check and the delete
            pass
        else:
            messages.info(request, corpus_deleted(corpus.name))
            return redirect("dashboard")
        active = [run for run in corpus.runs.all() if run.is_active]
    consequences = [
        _("The uploaded file %(file)s is deleted.") % {"file": corpus.original_filename},
        ngettext("%(count)s run on this corpus is deleted with it, with its checkpoints and its trained student.",
                 "%(count)s runs on this corpus are deleted with it, with their checkpoints and trained students.",
                 len(runs)) % {"count": len(runs)},
        _("Teacher outputs cached for the corpus are kept: other runs over the same texts reuse them."),
    ]
    return render(request, "cldweb/confirm.html", {
        "title": _("Delete the corpus “%(name)s”?") % {"name": corpus.name},
        "consequences": consequences,
        "blocked": corpus_runs_still_going(len(active)) if active else "",
        "action": request.path, "button": _("Delete the corpus"), "danger": True,
        "back": reverse("corpus-detail", args=[corpus.pk]),
    }, status=409 if request.method == "POST" else 200)


# -- teachers --------------------------------------------------------------------------


def teachers_page(request: HttpRequest, form: TeacherUploadForm, status: int = 200, error: str = "",
                  hub_form: TeacherHubForm | None = None) -> HttpResponse:
    rows = [
        {"teacher": teacher, "cached": teacher.kind == Teacher.KIND_HUB and cached_locally(teacher.hub_id)}
        for teacher in Teacher.objects.available_to(request.user)
    ]
    return render(request, "cldweb/teachers.html", {
        "rows": rows, "hub_reachable": hub_reachable(), "form": form, "error": error,
        "hub_form": hub_form or TeacherHubForm(),
        "max_mb": format_megabytes(settings.CLD_MAX_CHECKPOINT_BYTES),
    }, status=status)


@login_required
def teachers(request: HttpRequest) -> HttpResponse:
    return teachers_page(request, TeacherUploadForm())


@login_required
@post_only("teachers")
def teacher_add_hub(request: HttpRequest) -> HttpResponse:
    form = TeacherHubForm(request.POST)
    if not form.is_valid():
        return teachers_page(request, TeacherUploadForm(), status=400, hub_form=form)
    teacher = Teacher.add_hub_model(owner=request.user, hub_id=form.cleaned_data["hub_id"])
    problem = teacher.unavailable_reason
    if problem:
        messages.warning(request, teacher_added_unusable(teacher.name, problem))
    else:
        messages.success(request, teacher_added(teacher.name))
    return redirect("teachers")


def teacher_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    return teachers_page(request, TeacherUploadForm(), status=413, error=upload_too_large(limit))


@login_required
@post_only("teachers")
@capped_upload("CLD_MAX_CHECKPOINT_BYTES", refuse=teacher_too_large)
def teacher_upload(request: HttpRequest) -> HttpResponse:
    if upload_refused(request):
        return teacher_too_large(request, settings.CLD_MAX_CHECKPOINT_BYTES)
    form = TeacherUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            pending = Teacher.stage_upload(
                owner=request.user, upload=form.cleaned_data["file"], name=form.cleaned_data["name"])
        except TeacherRejected as rejected:
            form.add_error("file", rejected.message)
        else:
            return redirect("teacher-upload-confirm", token=pending.token)
    return teachers_page(request, form, status=400)


@login_required
def teacher_upload_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """What was found in the uploaded ZIP; the user accepts it as a teacher or discards it."""
    pending = PendingTeacher.get(token, request.user)
    if pending is None:
        raise Http404(_("This upload was already accepted or discarded."))
    if request.method == "POST":
        if "accept" in request.POST:
            teacher = pending.accept()
            messages.success(request, teacher_added(teacher.name))
        else:
            pending.discard()
            messages.info(request, teacher_upload_discarded(pending.original_filename))
        return redirect("teachers")
    return render(request, "cldweb/teacher_confirm.html", {"pending": pending, "summary": pending.summary})


# -- runs ------------------------------------------------------------------------------


@login_required
def run_create(request: HttpRequest) -> HttpResponse:
    """The new-run form; ``?clone=<run>`` fills it in with that run's settings ("Clone" on a run's page)."""
    initial = {}
    cloned = None
    if "clone" in request.GET:
        cloned = Run.objects.filter(pk=request.GET["clone"], owner=request.user).first() \
            if request.GET["clone"].isdigit() else None
        if cloned is None:
            messages.warning(request, run_clone_gone())
    if cloned is not None:
        initial = RunForm.initial_from(cloned)
    elif "corpus" in request.GET:
        initial["corpus"] = request.GET["corpus"]
    elif (latest := Corpus.latest_usable(request.user)) is not None:
        initial["corpus"] = latest.pk  # from the menu: the corpus the user most likely just uploaded
    demo = Teacher.objects.filter(owner=None, kind=Teacher.KIND_DEMO).first()
    if demo is not None:
        initial.setdefault("teacher", demo.pk)  # works offline; the hub teachers may need importing first
    form = RunForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        run = Run.create(owner=request.user, **form.run_options())
        return redirect("run-detail", pk=run.pk)
    return render(request, "cldweb/run_create.html", {
        "form": form, "grow_settings": growing.form_settings(form), "grow_estimate": growing.initial_estimate(form),
        "mlm_needs_head": grow_mlm_needs_head(),
        "cloned_from": run_cloned_from(cloned.pk) if cloned is not None else "",
    })


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    """The user's runs, filtered by the GET form, a page at a time; ticked runs go to the compare page."""
    form = RunFilterForm(request.GET or None, user=request.user, tags=listing.users_tags(request.user))
    filters = form.filters()
    page = listing.page_of(listing.filtered(request.user, filters), request.GET.get("page"))
    return render(request, "cldweb/run_list.html", {
        "form": form, "filtered": bool(filters), "page": page, "rows": [listing.row(run) for run in page],
        "max_compared": comparing.MAX_RUNS, "owner_runs": owner_runs_settings(),
    })


@login_required
@require_GET
def run_queue(request: HttpRequest) -> HttpResponse:
    """The user's running and queued runs, each queued one with its place among everyone's (others' only counted)."""
    running, waiting = Run.queue_totals()
    return render(request, "cldweb/run_queue.html", {
        "entries": Run.queue_of(request.user), "running_total": running, "waiting_total": waiting,
        "owner_runs": owner_runs_settings(),
    })


@login_required
@post_only("run-queue")
def run_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Swap a queued run with the user's own queued run just before or after it, then back to the queue page."""
    run = get_owned_run_or_404(request, pk)
    direction = request.POST.get("direction", "")
    if direction not in ("up", "down"):
        return HttpResponseBadRequest()
    try:
        other = run.move_in_queue(direction)
    except RunActionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, run_moved(run.pk, other.pk, direction))
        send_queue_positions()  # both runs' pages and the owner's other tabs show their new places
    return redirect(f"{reverse('run-queue')}#queue-run-{run.pk}")


def owner_runs_settings() -> dict:
    """What static/cld/owner_runs.js needs to follow the user's runs live (ws/runs/) and say when one ends."""
    return {
        "websocket_path": "/ws/runs/",
        "status_labels": {value: str(label) for value, label in Run.Status.choices},
        "terminal_statuses": list(Run.TERMINAL_STATUSES),
        "run_number": _("Run #%(pk)s"),
        "ended": {"done": _("%(name)s is done."), "failed": _("%(name)s failed."),
                  "cancelled": _("%(name)s was cancelled.")},
        "titles": {"done": _("✓ %(name)s done"), "failed": _("✗ %(name)s failed"),
                   "cancelled": _("%(name)s cancelled")},
        "open": _("Open the run"),
        "dismiss": _("Dismiss"),
        # The runs list's queue cell and the queue page's position, as cldweb.presentation words them.
        "queue_formats": {"next": _("next"),
                          "one": ngettext("%(count)s run ahead", "%(count)s runs ahead", 1),
                          "many": ngettext("%(count)s run ahead", "%(count)s runs ahead", 2)},
        "running": _("running"),
    }


@login_required
@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    ids = comparing.parse_ids(request.GET.getlist("ids"))
    if not comparing.MIN_RUNS <= len(ids) <= comparing.MAX_RUNS:
        messages.warning(request, compare_how_many(len(ids), comparing.MIN_RUNS, comparing.MAX_RUNS))
        return redirect("run-list")
    runs = get_owned_runs_or_404(request, ids)
    return render(request, "cldweb/run_compare.html", {
        **comparing.context(runs), "only_differences": request.GET.get("only_differences") == "1",
        "ids": ",".join(str(pk) for pk in ids),
    })


@login_required
@post_only("run-detail", with_pk=True)
def run_label(request: HttpRequest, pk: int) -> HttpResponse:
    """Name and tag a run (its page's form), then back to the page, so a reload sends nothing again."""
    run = get_owned_run_or_404(request, pk)
    form = RunLabelForm(request.POST)
    if not form.is_valid():
        return run_detail(request, pk, label_form=form, status=400)
    run.rename(form.cleaned_data["name"], form.cleaned_data["tags"])
    messages.success(request, run_labels_saved(run.display_name))
    return redirect("run-detail", pk=run.pk)


@login_required
def run_detail(request: HttpRequest, pk: int, playground: dict | None = None, status: int = 200,
               label_form: RunLabelForm | None = None) -> HttpResponse:
    """The run page; ``playground`` holds the playground's answer when its form was sent without JavaScript,
    ``label_form`` the name and tags form when what was sent needs correcting."""
    run = get_owned_run_or_404(request, pk)
    error = ""
    if run.status == Run.Status.FAILED:
        error = describe_error(run.error_code, run.error_params, run.error_message,
                               corpus_filename=run.corpus.original_filename, teacher_name=run.teacher.display_name)
    return render(request, "cldweb/run_detail.html", {
        "run": run,
        "error": error,
        "device": presentation.run_device(run),
        "results": presentation.results(run) if run.status == Run.Status.DONE else None,
        "report": report_views.report(run) if run.status == Run.Status.DONE else None,
        "training_rows": growing.training_rows(run.result) if run.status == Run.Status.DONE else None,
        "grow_setting": growing.grow_setting(run.config),
        "runs_ahead": run.runs_ahead(),
        "playground": playground or playground_context(run),
        "points": run.points_after(0),
        "notes": [{"seq": note.seq, "text": engine_note(note.values), "warning": is_warning_note(note.values)}
                  for note in run.points.filter(kind=MetricPoint.KIND_NOTE).exclude(phase=MetricPoint.PHASE_STAGE)
                  .order_by("seq")],
        "warning_label": warning_label(),
        "no_checkpoint": run_no_checkpoint(run.pk),
        "timeline": timeline.rows(run),
        "overall": timeline.overall(run),
        "run_page": run_page_settings(run),
        "owner_runs": {**owner_runs_settings(), "current_run": {"pk": run.pk, "name": run.name, "status": run.status}},
        "label_form": label_form or RunLabelForm(initial={"name": run.name, "tags": ", ".join(run.tag_list)}),
    }, status=status)


def run_page_settings(run: Run) -> dict:
    """What static/cld/run.js needs besides the points: where to connect and the words to show."""
    return {
        "websocket_path": f"/ws/runs/{run.pk}/",
        "status": run.status,
        "progress": run.current_progress,
        "active_statuses": list(Run.ACTIVE_STATUSES),
        "status_labels": {value: str(label) for value, label in Run.Status.choices},
        # The queue line as the page words it (run_detail.html), for run.js to count down live.
        "queue_formats": {"next": _("Next in the queue: it starts as soon as a worker is free."),
                          "one": ngettext("Waiting for %(count)s run ahead of it.",
                                          "Waiting for %(count)s runs ahead of it.", 1),
                          "many": ngettext("Waiting for %(count)s run ahead of it.",
                                           "Waiting for %(count)s runs ahead of it.", 2)},
        # A labels-only run's student learns from the labels as the teacher did: its loss shares their axis.
        "student_on_labels_only": run.trains_on_labels_only,
        # A tagger's dev score is entity F1 (distill.training.tagging), not an accuracy: the chart draws that.
        "eval_key": "dev_f1" if run.is_tagging else "dev_accuracy",
        # The status message names the device by type; run.js words it like presentation.device_in_words.
        "device_labels": {"cpu": _("CPU"), "cuda": _("GPU"), "cuda_named": _("GPU: %(name)s")},
        "labels": {
            "teacher": _("Teacher fine-tuning"),
            # A labels-only baseline run learns nothing from the teacher: calling it distillation would mislead.
            "student": _("Student on labels only") if run.trains_on_labels_only else _("Student distillation"),
            "baseline": _("Student on labels only"),  # the no-distillation baseline trained beside it
            "step": _("Step within the stage"),
            # The loss chart's axes, named for every curve on them: the teacher's fine-tuning and the
            # labels-only student minimise cross-entropy on the labels (left), the distilled student
            # its distillation loss, often ten times smaller (right, an axis of its own).
            "labels_loss": _("Loss on the labels (cross-entropy)"),
            "distillation_loss": _("Distillation loss"),
            "accuracy": _("Dev entity F1") if run.is_tagging else _("Dev accuracy"),
            "reconnecting": _("Connection lost; reconnecting…"),
        },
        # How far a long stage without training steps is; %(stage)s is the stage's status label.
        "progress_formats": {
            "no_eta": _("%(stage)s: %(done)s of %(total)s texts"),
            "minutes": _("%(stage)s: %(done)s of %(total)s texts, about %(minutes)s min left"),
            "under_a_minute": _("%(stage)s: %(done)s of %(total)s texts, less than a minute left"),
        },
        # Teacher fine-tuning and student distillation report training steps, not texts.
        "step_stages": [Run.Status.FINETUNING_TEACHER.value, Run.Status.DISTILLING.value, Run.Status.BASELINE.value],
        # The engine's notes arrive with a code and params: run.js fills the code's template in.
        "note_templates": engine_note_templates(),
        "note_words": engine_note_words(),
        "warning_notes": sorted(WARNING_NOTE_CODES),
        "warning_label": warning_label(),
        # The stage timeline and the whole run's bar, as run_story.js words the status messages' data.
        "story": {"stage_names": timeline.stage_names(), "durations": duration_formats(),
                  "states": stage_state_formats(), "overall": overall_formats()},
        "story_current_seconds": next((row["seconds"] for row in timeline.rows(run) if row["state"] == "current"), None),
        "step_progress_formats": {
            "no_eta": _("%(stage)s: %(done)s of %(total)s steps"),
            "minutes": _("%(stage)s: %(done)s of %(total)s steps, about %(minutes)s min left"),
            "under_a_minute": _("%(stage)s: %(done)s of %(total)s steps, less than a minute left"),
        },
    }


@login_required
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: ask to confirm (works without JavaScript); POST: cancel. ``?from=queue``: back to the queue page."""
    run = get_owned_run_or_404(request, pk)
    back = reverse("run-queue") if request.GET.get("from") == "queue" else reverse("run-detail", args=[run.pk])
    if request.method == "POST":
        # No flash message for a running run: it would outlive the cancel and sit beside "Cancelled".
        # The run page says "Cancelling" itself while the worker stops, and run.js removes it then.
        if run.request_cancel() and run.status == Run.Status.CANCELLED:  # it was still queued: stopped at once
            messages.info(request, run_cancelled_before_it_started())
            WebReporter(run.pk).send_status()  # the owner's other tabs; and the runs queued behind it moved up
        return redirect(back)
    if not run.is_active or run.cancel_requested:
        return redirect(back)
    return render(request, "cldweb/confirm.html", {
        "title": _("Cancel run #%(pk)s?") % {"pk": run.pk},
        "consequences": [
            _("The run stops at its next step; its last checkpoint is kept, so it can be resumed later."),
            _("Its charts and record stay; delete the run to free the disk its checkpoints use."),
        ],
        "action": request.get_full_path(), "button": _("Cancel the run"), "danger": True,
        "back": back, "back_label": _("Keep it running"),
    })


@login_required
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: ask to confirm; POST: a new run with exactly this failed run's settings."""
    run = get_owned_run_or_404(request, pk)
    if request.method == "POST":
        try:
            retried = run.retry()
        except RunActionRefused as refused:
            messages.error(request, refused.message)
            return redirect("run-detail", pk=run.pk)
        messages.success(request, run_retried(run.pk))
        return redirect("run-detail", pk=retried.pk)
    return render(request, "cldweb/confirm.html", {
        "title": _("Retry run #%(pk)s?") % {"pk": run.pk},
        "consequences": [
            _("A new run starts from the beginning with exactly the same corpus, teacher, student and settings."),
            _("This run stays as it is, with its error, so the two can be compared."),
        ],
        "blocked": "" if run.status == Run.Status.FAILED else run_not_retryable(),
        "action": request.path, "button": _("Retry the run"),
        "back": reverse("run-detail", args=[run.pk]), "back_label": _("Back"),
    })


@login_required
@post_only("run-detail", with_pk=True)
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue this cancelled or failed run again in its own folder: the engine continues from its checkpoint."""
    run = get_owned_run_or_404(request, pk)
    try:
        run.resume()
    except RunActionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, run_resumed(run.pk))
        send_queue_positions()
    return redirect("run-detail", pk=run.pk)


@login_required
def run_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting removes; POST: delete the run and its folder. A run still going is refused
    (its worker would go on writing the folder): the page asks to cancel it first."""
    run = get_owned_run_or_404(request, pk)
    blocked = run_still_going() if run.is_active else ""
    if request.method == "POST" and not blocked:
        try:
            run.delete()
        except RunStillActive:
            blocked = run_still_going()
        else:
            messages.info(request, run_deleted(pk))
            return redirect("dashboard")
    return render(request, "cldweb/confirm.html", {
        "title": _("Delete run #%(pk)s?") % {"pk": run.pk},
        "consequences": [
            _("Its record, charts, checkpoints and trained student are deleted; the student can no longer be downloaded."),
            _("Teacher outputs cached for the corpus are kept: other runs over the same texts reuse them."),
        ],
        "blocked": blocked, "action": request.path, "button": _("Delete the run"), "danger": True,
        "back": reverse("run-detail", args=[run.pk]),
    }, status=409 if request.method == "POST" else 200)


@token_or_login_required
@require_GET
def run_download(request: HttpRequest, pk: int) -> FileResponse:
    run = get_owned_run_or_404(request, pk)
    path = run.export_file
    if path is None:
        raise Http404(_("This run has no trained student to download."))
    return FileResponse(path.open("rb"), as_attachment=True, filename=run.download_name,
                        content_type="application/zip")


@login_required
@require_GET
def run_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The evaluation report as one standalone HTML file (CSS, Plotly and report.js inline): printable
    here, and with ?download=1 saved as a file that opens anywhere, offline."""
    run = get_owned_run_or_404(request, pk)
    context = report_views.standalone_context(run)
    if context is None:
        raise Http404(_("This run has no evaluation report yet."))
    response = render(request, "cldweb/run_report.html", {**context, "device": presentation.run_device(run),
                                                          "training_rows": growing.training_rows(run.result)})
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="cld-run-{run.pk}-report.html"'
    return response


@token_or_login_required
@require_GET
def run_points(request: HttpRequest, pk: int) -> JsonResponse:
    """Points after ?after=N plus the status, for clients without WebSockets (session or API token)."""
    run = get_owned_run_or_404(request, pk)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    return JsonResponse({"points": run.points_after(after), "status": run.status_message()})


# -- API tokens ------------------------------------------------------------------------


NEW_TOKEN_SESSION_KEY = "cld-new-api-token"


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens and create one (POST, then a redirect, so a reload creates no second one).

    The new token rides in the session to the page the redirect leads to, which shows it once.
    """
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _row, token = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
        request.session[NEW_TOKEN_SESSION_KEY] = token
        return redirect("tokens")
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, "") if request.method == "GET" else ""
    rows = ApiToken.objects.filter(user=request.user)
    response = render(request, "cldweb/tokens.html", {
        "form": form, "tokens": rows, "new_token": new_token,
        "header_example": "Authorization: Bearer <token>",
    }, status=400 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the page may hold a token in clear
    return response


@login_required
@post_only("tokens")
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_owned_token_or_404(request, pk)
    token.revoke()
    messages.info(request, token_revoked(token.name))
    return redirect("tokens")

"""JSON endpoints usable with an API token (or a browser session), and the playground's form.

* ``GET /api/runs/`` the user's runs; ``POST /api/runs/`` starts one, with the run form's settings and checks;
  ``GET /api/runs/<id>/`` one run: status, settings, metrics, efficiency, training rows.
* ``POST /api/runs/<id>/predict/`` the student's (and with ``teacher`` the teacher's) probabilities
  (a text-pair run, ``"task": "pair"``, takes ``texts`` and ``second_texts``),
  with the time each model took on the server (cldweb.playground).
* ``GET /api/runs/<id>/download/`` the student zip.
* ``POST /runs/<id>/predict/``, the older address: the student's predictions as JSON for API clients,
  and the playground's form without JavaScript (the run page again, with the results).

Errors are ``{"error": {"code", "message"}}`` (cldweb.errors.json_error).
"""
from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from cldweb import messages
from cldweb.access import get_owned_run_or_404, token_or_login_required
from cldweb.errors import is_api_request, json_error, post_only
from cldweb.forms import RunForm
from cldweb.models import Corpus, Run, Teacher
from cldweb.playground import (PredictRequestError, both_models, inputs_for, playground_context, request_body,
                               student_of, timed_predictions, wants_teacher)
from cldweb.views import run_detail

# ModelReport fields that say how big and fast a model is; the others say how good it is.
EFFICIENCY_FIELDS = ("parameters", "size_bytes", "latency_p50_ms", "latency_p95_ms", "samples_per_second")
# Config fields naming server folders and files: of no use to a client, and not its business.
SERVER_PATH_FIELDS = {"output_dir", "cache_dir"}
SERVER_DATA_PATH_FIELDS = {"train_path", "dev_path", "test_path", "unlabeled_path"}
# POST /api/runs/: the JSON body's fields -> the run form's (cldweb.forms.RunForm), whose checks decide.
CREATE_FIELDS = {"corpus": "corpus", "teacher": "teacher", "student": "student_architecture", "mode": "mode",
                 "epochs": "epochs", "max_length": "max_length", "baseline": "baseline",
                 "virtual_label_threshold": "virtual_label_threshold", "start_without_scores": "start_without_scores"}
CREATE_TRANSFER_FIELDS = {"preset": "grow", "target_rows": "grow_rows", "methods": "grow_methods"}
FORM_DEFAULTS = {"student_architecture": "bilstm", "mode": "soft", "epochs": 5, "max_length": 128, "baseline": True}


@token_or_login_required
@post_only("run-detail", with_pk=True)
def run_predict(request: HttpRequest, pk: int) -> HttpResponse:
    """JSON clients: the student's predictions (``{"run", "predictions"}``, as before the playground).
    A browser form: the run page again, the playground filled with both models' answers."""
    run = get_owned_run_or_404(request, pk)
    if is_api_request(request):
        try:
            student = student_of(run)
            texts = inputs_for(student, request_body(request))
            return JsonResponse({"run": run.pk, "predictions": timed_predictions(student, texts)["predictions"]})
        except PredictRequestError as problem:
            return problem.response()
    text, text_pair = request.POST.get("text", ""), request.POST.get("second_text", "")
    try:
        answer = both_models(run, inputs_for(student_of(run), request.POST.dict()), with_teacher=True)
    except PredictRequestError as problem:
        return run_detail(request, pk, playground=playground_context(run, text, error=problem.message,
                                                                     text_pair=text_pair), status=400)
    return run_detail(request, pk, playground=playground_context(run, text, answer, text_pair=text_pair))


# -- /api/ --------------------------------------------------------------------------------------


@token_or_login_required(anonymous="401")
@require_http_methods(["GET", "POST"])
def api_runs(request: HttpRequest) -> JsonResponse:
    """GET: the user's runs, newest first (at most 200). POST: start a run (``create_run``)."""
    if request.method == "POST":
        return create_run(request)
    runs = Run.objects.filter(owner=request.user).select_related("corpus", "teacher")[:200]
    return JsonResponse({"runs": [
        {
            "id": run.pk,
            "name": run.name,  # "" when the user gave none (the pages say "Run #<id>")
            "tags": run.tag_list,
            "status": run.status,
            "corpus": run.corpus.name,
            "teacher": run.teacher.display_name,
            "student": run.student_architecture,
            "task": run.task,  # "pair": predict takes texts and second_texts
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "student_accuracy": ((run.result or {}).get("student") or {}).get("test_accuracy"),  # a tagger's: token accuracy
            # A tagger is judged by entities: its entity F1 (micro, over all entities); None for other runs.
            "student_entity_f1": (((run.result or {}).get("metrics") or {}).get("student") or {}).get("f1")
            if run.is_tagging else None,
            "corpus_skipped_rows": run.corpus.skipped_rows.get("total", 0),  # rows of its corpus left out
            "labels": (run.result or {}).get("labels") or [],  # the names given at column mapping, if any
            "url": request.build_absolute_uri(reverse("run-detail", args=[run.pk])),
            "api_url": request.build_absolute_uri(reverse("api-run", args=[run.pk])),
            "points_url": request.build_absolute_uri(reverse("run-points", args=[run.pk])),
            "predict_url": request.build_absolute_uri(reverse("api-run-predict", args=[run.pk])),
        }
        for run in runs
    ]})


def create_run(request: HttpRequest) -> JsonResponse:
    """A run from a JSON body, made exactly as the run form makes one (RunForm's checks, Run.create): 201 with
    its id and addresses; 400 with ``fields`` for settings the form refuses; 404 for a corpus or teacher the
    user cannot see (as for any other user's object, never saying whether it exists)."""
    try:
        body = request_body(request)
    except PredictRequestError as problem:
        return problem.response()
    if request.content_type != "application/json":
        return json_error("body_not_json", messages.api_run_body_invalid(), 400)
    transfer = body.get("transfer") or {}
    if not isinstance(transfer, dict):
        return json_error("invalid", messages.api_run_invalid(), 400,
                          fields={"transfer": [messages.api_run_body_invalid()]})
    unknown = sorted(set(body) - set(CREATE_FIELDS) - {"transfer"}) + sorted(
        f"transfer.{key}" for key in set(transfer) - set(CREATE_TRANSFER_FIELDS))
    if unknown:
        return json_error("unknown_fields", messages.api_run_unknown_fields(unknown), 400)
    if not _visible(Corpus.objects.filter(owner=request.user), body.get("corpus")) or not _visible(
            Teacher.objects.available_to(request.user), body.get("teacher")):
        return json_error("not_found", messages.not_found(), 404)
    data: dict[str, Any] = dict(FORM_DEFAULTS)
    data.update({CREATE_FIELDS[key]: value for key, value in body.items() if key in CREATE_FIELDS})
    data.update({CREATE_TRANSFER_FIELDS[key]: value for key, value in transfer.items()})
    data = {key: value for key, value in data.items() if value is not None}
    data.setdefault("grow", "off")
    if data.get("baseline") is False:
        data.pop("baseline")  # an unticked box is an absent one
    form = RunForm(data, user=request.user)
    if not form.is_valid():
        names = {form_name: api_name for api_name, form_name in CREATE_FIELDS.items()}
        names.update({form_name: f"transfer.{api_name}" for api_name, form_name in CREATE_TRANSFER_FIELDS.items()})
        fields = {names.get(name, name or "settings"): [str(error) for error in errors]
                  for name, errors in form.errors.items()}
        return json_error("invalid", messages.api_run_invalid(), 400,
                          fields={("settings" if key == "__all__" else key): value for key, value in fields.items()})
    run = Run.create(owner=request.user, **form.run_options())
    return JsonResponse({
        "id": run.pk,
        "status": run.status,
        "task": run.task,
        "settings": client_settings(run.config or {}),
        "urls": {
            "page": request.build_absolute_uri(reverse("run-detail", args=[run.pk])),
            "api": request.build_absolute_uri(reverse("api-run", args=[run.pk])),
            "points": request.build_absolute_uri(reverse("run-points", args=[run.pk])),
        },
    }, status=201)


def _visible(rows, pk: Any) -> bool:
    """Whether the id names a row the user may use; a missing id is left to the form ("this field is required")."""
    if pk is None:
        return True
    if isinstance(pk, str) and pk.isdigit():
        pk = int(pk)
    return isinstance(pk, int) and not isinstance(pk, bool) and rows.filter(pk=pk).exists()


def skipped_rows(corpus: Corpus) -> dict[str, Any]:
    """The corpus's rows the engine leaves out: how many, why ({code: rows}) and the first ones (line, code,
    the problem in the client's language, the row's text), as the corpus page lists them."""
    skipped = corpus.skipped_rows
    first = [{"line": row["line"], "code": row["code"], "text": row["text"],
              "problem": messages.corpus_problem(row["code"], row.get("params") or {}, row.get("detail", ""))}
             for row in skipped.get("first") or []]  # not the row's "path": a server path
    return {"total": skipped.get("total", 0), "by_reason": skipped.get("by_reason") or {}, "first": first}


def client_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The run's resolved config without the server's own folders and file paths (whether an unlabelled
    texts file is read is said as ``data.unlabeled_file``, true or false)."""
    settings_out = {key: value for key, value in config.items() if key not in SERVER_PATH_FIELDS}
    if isinstance(settings_out.get("data"), dict):
        data = settings_out["data"]
        settings_out["data"] = {key: value for key, value in data.items() if key not in SERVER_DATA_PATH_FIELDS}
        settings_out["data"]["unlabeled_file"] = bool(data.get("unlabeled_path"))
    return settings_out


def model_reports(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each model the result scores (teacher, student, and any baseline a later release adds), by name."""
    return {name: report for name, report in result.items() if isinstance(report, dict) and "test_accuracy" in report}


def run_numbers(run: Run) -> dict[str, Any]:
    """``metrics`` (how good each model is) and ``efficiency`` (how big and fast), from the stored result."""
    result = run.result or {}
    reports = model_reports(result)
    metrics = {name: {key: value for key, value in report.items() if key not in EFFICIENCY_FIELDS}
               for name, report in reports.items()}
    efficiency: dict[str, Any] = {name: {key: report.get(key) for key in EFFICIENCY_FIELDS}
                                  for name, report in reports.items()}
    teacher, student = reports.get("teacher") or {}, reports.get("student") or {}
    if teacher.get("latency_p50_ms") and student.get("latency_p50_ms"):
        efficiency["speedup_p50"] = round(teacher["latency_p50_ms"] / student["latency_p50_ms"], 3)
    if teacher.get("parameters") and student.get("parameters"):
        efficiency["compression"] = round(teacher["parameters"] / student["parameters"], 3)
    if run.is_tagging:
        # test_accuracy above is token accuracy; the entity scores (per type too) are what a tagger is judged by.
        for name, scores in (result.get("metrics") or {}).items():
            if name in metrics:
                metrics[name]["entity_scores"] = scores
    efficiency["stage_seconds"] = result.get("stage_seconds") or {}
    efficiency["device"] = run.device or result.get("device") or ""
    efficiency["environment"] = result.get("environment") or {}
    return {"labels": result.get("labels") or [], "metrics": metrics, "efficiency": efficiency}


@token_or_login_required(anonymous="401")
@require_GET
def api_run(request: HttpRequest, pk: int) -> JsonResponse:
    """One run: status, its settings (the resolved config), metrics and efficiency once it is done."""
    run = get_owned_run_or_404(request, pk)
    error = None
    if run.status == Run.Status.FAILED:
        error = {"code": run.error_code, "message": messages.describe_error(
            run.error_code, run.error_params, run.error_message,
            corpus_filename=run.corpus.original_filename, teacher_name=run.teacher.display_name)}
    return JsonResponse({
        "id": run.pk,
        "name": run.name,
        "tags": run.tag_list,
        "status": run.status,
        "status_label": run.get_status_display(),
        "corpus": run.corpus.name,
        "corpus_skipped_rows": skipped_rows(run.corpus),
        "teacher": run.teacher.display_name,
        "student": run.student_architecture,
        "task": run.task,  # "pair": predict takes texts and second_texts
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": error,
        "settings": client_settings(run.config or {}),
        **run_numbers(run),
        # What the student learnt from, by kind of row, and ten generated rows (RunResult.transfer); {} without.
        "transfer": (run.result or {}).get("transfer") or {},
        "urls": {
            "page": request.build_absolute_uri(reverse("run-detail", args=[run.pk])),
            "points": request.build_absolute_uri(reverse("run-points", args=[run.pk])),
            "predict": request.build_absolute_uri(reverse("api-run-predict", args=[run.pk])),
            "download": request.build_absolute_uri(reverse("api-run-download", args=[run.pk]))
            if run.export_file else None,
        },
    })


@token_or_login_required(anonymous="401")
@post_only("run-detail", with_pk=True)
def api_run_predict(request: HttpRequest, pk: int) -> JsonResponse:
    """Texts in (a pair run's: ``texts`` and ``second_texts``, paired by position); the student's probabilities
    (and the teacher's, when asked) and each model's time out."""
    run = get_owned_run_or_404(request, pk)
    try:
        body = request_body(request)
        texts = inputs_for(student_of(run), body)
        return JsonResponse(both_models(run, texts, with_teacher=wants_teacher(request, body)))
    except PredictRequestError as problem:
        return problem.response()


@token_or_login_required(anonymous="401")
@require_GET
def api_run_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The student zip, as the run page's download link gives it."""
    run = get_owned_run_or_404(request, pk)
    path = run.export_file
    if path is None:
        return json_error("no_student", messages.predict_no_student(), 409)
    return FileResponse(path.open("rb"), as_attachment=True, filename=run.download_name,
                        content_type="application/zip")

"""JSON endpoints usable with an API token: the user's runs, and predictions from a run's student.

``POST /runs/<id>/predict/`` also serves the "Try the student" form on the run page (HTML back
for a browser form, JSON for everyone else). Loaded students are kept in a small per-process
LRU cache keyed by the export file's path, size and modification time.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cldweb import messages
from cldweb.access import get_owned_run_or_404, is_api_request, token_or_login_required
from cldweb.errors import post_only
from cldweb.models import Run
from distill import DistillError, load_student

if TYPE_CHECKING:
    from distill import Predictor

_predictors: OrderedDict[tuple[str, int, int], Predictor] = OrderedDict()
_predictors_lock = threading.Lock()


def cached_predictor(path: Path) -> Predictor:
    """The student in the export zip at ``path``, loaded once per process (least recently used evicted)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _predictors_lock:
        if key in _predictors:
            _predictors.move_to_end(key)
            return _predictors[key]
    predictor = load_student(path)  # outside the lock: loading takes a moment
    with _predictors_lock:
        _predictors[key] = predictor
        _predictors.move_to_end(key)
        while len(_predictors) > settings.CLD_PREDICTOR_CACHE_SIZE:
            _predictors.popitem(last=False)
    return predictor


class PredictRequestError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def texts_from_request(request: HttpRequest) -> list[str]:
    """``{"texts": [...]}`` or ``{"text": "..."}`` as JSON, or a form ``text`` field; one text per line."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise PredictRequestError(messages.predict_body_not_json()) from None
        if not isinstance(body, dict):
            raise PredictRequestError(messages.predict_body_not_an_object())
        raw = body.get("texts", body.get("text", ""))
        if isinstance(raw, str):
            lines = raw.splitlines()
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            lines = raw
        else:
            raise PredictRequestError(messages.predict_texts_not_strings())
    else:
        lines = request.POST.get("text", "").splitlines()
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise PredictRequestError(messages.predict_no_text())
    limit = settings.CLD_PREDICT_MAX_TEXTS
    if len(texts) > limit:
        raise PredictRequestError(messages.predict_too_many_texts(len(texts), limit))
    max_chars = settings.CLD_MAX_TEXT_CHARS
    for number, text in enumerate(texts, start=1):
        if len(text) > max_chars:
            raise PredictRequestError(messages.predict_text_too_long(number, len(text), max_chars))
    return texts


def predict_texts(run: Run, texts: list[str]) -> list[dict]:
    """Label, its probability and every label's probability per text, from the run's exported student."""
    path = run.export_file
    if path is None:
        raise PredictRequestError(messages.predict_no_student(), status=409)
    try:
        predictor = cached_predictor(path)
    except DistillError:
        raise PredictRequestError(messages.predict_student_unloadable(), status=409) from None
    probabilities = predictor.probabilities(texts)  # (N, C)
    results = []
    for text, row in zip(texts, probabilities):
        best = int(row.argmax())
        results.append({
            "text": text,
            "label": predictor.labels[best],
            "probability": round(float(row[best]), 6),
            "probabilities": {label: round(float(p), 6) for label, p in zip(predictor.labels, row)},
        })
    return results


@token_or_login_required
@post_only("run-detail", with_pk=True)
def run_predict(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_owned_run_or_404(request, pk)
    error, predictions = "", []
    try:
        predictions = predict_texts(run, texts_from_request(request))
    except PredictRequestError as problem:
        if is_api_request(request):
            return JsonResponse({"error": problem.message}, status=problem.status)
        error = problem.message
    if is_api_request(request):
        return JsonResponse({"run": run.pk, "predictions": predictions})
    return render(request, "cldweb/run_predict.html",
                  {"run": run, "predictions": predictions, "error": error, "text": request.POST.get("text", "")},
                  status=400 if error else 200)


@token_or_login_required(anonymous="401")
@require_GET
def api_runs(request: HttpRequest) -> JsonResponse:
    """The user's runs, newest first (at most 200)."""
    runs = Run.objects.filter(owner=request.user).select_related("corpus", "teacher")[:200]
    return JsonResponse({"runs": [
        {
            "id": run.pk,
            "status": run.status,
            "corpus": run.corpus.name,
            "teacher": run.teacher.display_name,
            "student": run.student_architecture,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "student_accuracy": ((run.result or {}).get("student") or {}).get("test_accuracy"),
            "labels": (run.result or {}).get("labels") or [],  # the names given at column mapping, if any
            "url": request.build_absolute_uri(reverse("run-detail", args=[run.pk])),
            "points_url": request.build_absolute_uri(reverse("run-points", args=[run.pk])),
            "predict_url": request.build_absolute_uri(reverse("run-predict", args=[run.pk])),
        }
        for run in runs
    ]})

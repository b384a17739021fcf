"""Predicting for people and programs: a run's student and teacher label texts, each one timed.

Used by the run page's playground (templates/cldweb/_run_playground.html, static/cld/playground.js)
and the prediction endpoints in cldweb.api. Loaded models are kept in small per-process LRU caches:
students by the export file's path, size and modification time; teachers by run (they are large:
``CLD_TEACHER_CACHE_SIZE``, 2 by default). Request problems are ``PredictRequestError``s with a
stable code and a translated message.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from cldweb import messages
from cldweb.entities import highlighted
from cldweb.errors import json_error
from cldweb.models import Run
from distill import PAIR_SEPARATOR, DistillError, join_pair, load_run_teacher, load_student, split_pair

if TYPE_CHECKING:
    from distill import Predictor, TeacherPredictor

# How long a teacher found missing stays missing before it is looked for again: finding out can
# mean reading the corpus again, which a user clicking "Predict" twice should not pay twice.
TEACHER_MISSING_RECHECK_S = 60.0


class LoadedModels:
    """At most ``capacity()`` loaded models, least recently used evicted first; thread-safe."""

    def __init__(self, capacity: Callable[[], int]) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        value = load()  # outside the lock: loading takes a moment, and other keys need not wait for it
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.capacity():
                self.entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


students = LoadedModels(lambda: settings.CLD_PREDICTOR_CACHE_SIZE)
teachers = LoadedModels(lambda: settings.CLD_TEACHER_CACHE_SIZE)


def warmed_up(predictor: Any) -> Any:
    """``predictor`` after one untimed call: a model's first forward pass in a process pays for lazy
    set-up (thread pools, kernels: 431 ms measured for a tiny BiLSTM, then 1.5 ms for the same call),
    and the playground's times should say how fast the model answers, not how fast it started."""
    if getattr(predictor, "task", None) == "tagging":
        predictor.entities(["预热"])  # a tagger has no probabilities per text
    else:
        predictor.probabilities(["预热"])
    return predictor


def cached_predictor(path: Path) -> Predictor:
    """The student in the export zip at ``path``, loaded once per process."""
    stat = path.stat()
    return students.get((str(path), stat.st_size, stat.st_mtime_ns), lambda: warmed_up(load_student(path)))


class TeacherMissing:
    """A run's teacher that could not be loaded: the engine's code, remembered for a minute."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.until = time.monotonic() + TEACHER_MISSING_RECHECK_S


def cached_teacher(run: Run) -> TeacherPredictor | TeacherMissing:
    """The teacher the run used, loaded once per process; a TeacherMissing when it cannot be had."""
    result_file = run.output_dir / "result.json"
    key = (str(run.output_dir), result_file.stat().st_mtime_ns if result_file.is_file() else 0)

    def load() -> TeacherPredictor | TeacherMissing:
        try:
            return warmed_up(load_run_teacher(run.output_dir))
        except DistillError as error:
            return TeacherMissing(error.code)

    found = teachers.get(key, load)
    if isinstance(found, TeacherMissing) and time.monotonic() > found.until:
        with teachers.lock:
            teachers.entries.pop(key, None)
        found = teachers.get(key, load)
    return found


class PredictRequestError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def response(self) -> JsonResponse:
        return json_error(self.code, self.message, self.status)


def request_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object sent, or the form fields; {} for a form without fields."""
    if request.content_type != "application/json":
        return request.POST.dict()
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise PredictRequestError("body_not_json", messages.predict_body_not_json()) from None
    if not isinstance(body, dict):
        raise PredictRequestError("body_not_an_object", messages.predict_body_not_an_object())
    return body


def _lines(raw: Any, refused: PredictRequestError) -> list[str]:
    """A list of strings, or one string with a text per line, each stripped (blank ones kept, as ""); else ``refused``.

    The engine's pair separator in a sent text becomes a space, as the corpus reader makes it: typed into
    one text it would otherwise cut it into a pair.
    """
    if isinstance(raw, str):
        items = raw.splitlines()
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = raw
    else:
        raise refused
    return [item.replace(PAIR_SEPARATOR, " ").strip() for item in items]


def _checked(texts: list[str], lengths: list[list[int]]) -> list[str]:
    """``texts`` once their count and each one's length (``lengths``: the characters of each part) are within limits."""
    if not texts:
        raise PredictRequestError("no_text", messages.predict_no_text())
    limit = settings.CLD_PREDICT_MAX_TEXTS
    if len(texts) > limit:
        raise PredictRequestError("too_many_texts", messages.predict_too_many_texts(len(texts), limit))
    max_chars = settings.CLD_MAX_TEXT_CHARS
    for number, parts in enumerate(lengths, start=1):
        for length in parts:
            if length > max_chars:
                raise PredictRequestError("text_too_long", messages.predict_text_too_long(number, length, max_chars))
    return texts


def _second_texts(body: dict[str, Any]) -> Any:
    # "second_texts" from JSON clients, "second_text" from the playground's form without JavaScript.
    return body.get("second_texts", body.get("second_text"))


def texts_from_body(body: dict[str, Any]) -> list[str]:
    """``texts`` (a list, or one string with a text per line) or ``text``; blank lines dropped, limits checked."""
    lines = _lines(body.get("texts", body.get("text", "")),
                   PredictRequestError("texts_not_strings", messages.predict_texts_not_strings()))
    texts = [line for line in lines if line]
    return _checked(texts, [[len(text)] for text in texts])


def pairs_from_body(body: dict[str, Any]) -> list[str]:
    """``texts`` and ``second_texts`` paired by position, each pair joined as the engine joins them (distill.tasks).

    The playground's two boxes pair line by line, so a blank line is dropped only where both sides are
    blank; a pair with one side missing is refused rather than paired with the next line's text.
    """
    refused = PredictRequestError("texts_not_strings", messages.predict_texts_not_strings())
    firsts = _lines(body.get("texts", body.get("text", "")), refused)
    seconds = _lines(_second_texts(body) or "",
                     PredictRequestError("second_texts_not_strings", messages.predict_second_texts_not_strings()))
    while firsts and not firsts[-1]:
        firsts.pop()
    while seconds and not seconds[-1]:
        seconds.pop()
    if not seconds and firsts:
        raise PredictRequestError("second_texts_missing", messages.predict_single_for_pair_student())
    if len(firsts) != len(seconds) or any(bool(first) != bool(second) for first, second in zip(firsts, seconds)):
        raise PredictRequestError("pairs_uneven", messages.predict_pairs_uneven(
            sum(1 for text in firsts if text), sum(1 for text in seconds if text)))
    pairs = [(first, second) for first, second in zip(firsts, seconds) if first]
    return _checked([join_pair(first, second) for first, second in pairs],
                    [[len(first), len(second)] for first, second in pairs])


def student_reads_pairs(predictor: Any) -> bool:
    """Whether a loaded student was trained on text pairs (its exported config says the task)."""
    return (getattr(getattr(predictor, "model", None), "config", None) or {}).get("task") == "pair"


def student_finds_entities(predictor: Any) -> bool:
    """Whether a loaded model is a tagger (its exported config says the task "tagging")."""
    return getattr(predictor, "task", None) == "tagging"


def inputs_for(student: Any, body: dict[str, Any]) -> list[str]:
    """What the student is asked about: single texts, or joined pairs for a pair student; a request of the
    other kind is refused with a sentence saying which kind this student reads."""
    if student_reads_pairs(student):
        return pairs_from_body(body)
    second = _second_texts(body)
    if second and any(_lines(second, PredictRequestError("second_texts_not_strings",
                                                         messages.predict_second_texts_not_strings()))):
        raise PredictRequestError("pair_for_single_student", messages.predict_pair_for_single_student())
    return texts_from_body(body)


def wants_teacher(request: HttpRequest, body: dict[str, Any]) -> bool:
    """``?teacher=1`` or ``"teacher": true`` in the body (a form sends "1" or "on")."""
    flag = request.GET.get("teacher", body.get("teacher", False))
    return flag is True or str(flag).lower() in ("1", "true", "yes", "on")


def student_of(run: Run) -> Predictor:
    path = run.export_file
    if path is None:
        raise PredictRequestError("no_student", messages.predict_no_student(), status=409)
    try:
        return cached_predictor(path)
    except DistillError:
        raise PredictRequestError("student_unloadable", messages.predict_student_unloadable(), status=409) from None


def timed_predictions(predictor: Predictor | TeacherPredictor, texts: list[str]) -> dict[str, Any]:
    """Label, its probability and every label's probability per text, and the milliseconds the model took.

    The clock runs around the model's call only (tokenizing and the forward pass, one batch),
    not around loading it or writing the answer.
    """
    start = time.perf_counter()
    if student_finds_entities(predictor):
        found = predictor.entities(texts)  # a tagger has no probability per text: its entities per text
        milliseconds = (time.perf_counter() - start) * 1000
        return {"milliseconds": round(milliseconds, 3),
                "predictions": [{"text": text, "entities": entities} for text, entities in zip(texts, found)]}
    probabilities = predictor.probabilities(texts)  # (N, C)
    milliseconds = (time.perf_counter() - start) * 1000
    predictions = []
    for text, row in zip(texts, probabilities):
        best = int(row.argmax())
        first, second = split_pair(text)  # a pair's two texts go back apart: the separator is the engine's own
        predictions.append({
            "text": first,
            **({} if second is None else {"text_pair": second}),
            "label": predictor.labels[best],
            "probability": round(float(row[best]), 6),
            "probabilities": {label: round(float(p), 6) for label, p in zip(predictor.labels, row)},
        })
    return {"milliseconds": round(milliseconds, 3), "predictions": predictions}


def both_models(run: Run, texts: list[str], *, with_teacher: bool) -> dict[str, Any]:
    """What the playground and POST /api/runs/<id>/predict/ answer: each model's predictions and time.

    The student answers first; a teacher that cannot be loaded any more leaves ``teacher`` an
    error (code and sentence) and the student's answer stands.
    """
    student = student_of(run)
    answer: dict[str, Any] = {"run": run.pk, "labels": list(student.labels),
                              "student": timed_predictions(student, texts)}
    # A tagging run's teacher is not offered: the run's teacher predictor labels whole texts, not characters.
    if with_teacher and not student_finds_entities(student):
        teacher = cached_teacher(run)
        if isinstance(teacher, TeacherMissing):
            answer["teacher"] = {"error": {"code": teacher.code,
                                           "message": messages.teacher_not_shown(teacher.code, run.teacher.display_name)}}
        else:
            answer["teacher"] = timed_predictions(teacher, texts)
    return answer


# -- the run page's playground --------------------------------------------------------------------


def playground_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per text for the page: each model's label, its probability and the runners-up, in words.

    The same wording static/cld/playground.js builds from the JSON answer.
    """
    teacher = answer.get("teacher") or {}
    by_model = {"student": answer["student"]["predictions"], "teacher": teacher.get("predictions")}
    rows = []
    for index, student in enumerate(by_model["student"]):
        cells = []  # teacher, then student: the table's column order
        for predictions in (by_model["teacher"], by_model["student"]):
            if predictions is None:
                cells.append(None)
                continue
            ranked = sorted(predictions[index]["probabilities"].items(), key=lambda item: -item[1])
            cells.append({"label": ranked[0][0], "probability": percent(ranked[0][1]),
                          "others": [{"label": label, "probability": percent(p)} for label, p in ranked[1:3]]})
        rows.append({"text": student["text"], "text_pair": student.get("text_pair"), "cells": cells})
    return rows


def tagged_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per sentence for a tagging run's playground: the sentence with the student's entities marked."""
    return [{"text": row["text"], "highlighted": highlighted(row["text"], row["entities"]),
             "entities": row["entities"]} for row in answer["student"]["predictions"]]


def percent(probability: float) -> str:
    return f"{probability * 100:.1f}%"


def playground_context(run: Run, text: str = "", answer: dict[str, Any] | None = None, error: str = "",
                       text_pair: str = "") -> dict:
    """What templates/cldweb/_run_playground.html shows: the texts typed (a pair run's second texts in
    ``text_pair``), the results, or why there are none."""
    teacher = (answer or {}).get("teacher") or {}
    time_taken = ""
    if answer:
        time_taken = messages.playground_time(len(answer["student"]["predictions"]), f"{answer['student']['milliseconds']:.1f}",
                                        f"{teacher['milliseconds']:.1f}" if "milliseconds" in teacher else "")
    return {
        "text": text,
        "text_pair": text_pair,
        "pairs": run.is_pair,  # two boxes, first and second texts, paired line by line
        "error": error,
        "tagging": run.is_tagging,  # the student's entities highlighted in each sentence, no probabilities
        "rows": (tagged_rows(answer) if run.is_tagging else playground_rows(answer)) if answer else [],
        "time": time_taken,
        "teacher_missing": teacher.get("error", {}).get("message", ""),
        "api_url": reverse("api-run-predict", args=[run.pk]) + "?teacher=1",
        "time_formats": messages.playground_time_formats(),
    }

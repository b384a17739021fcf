"""The evaluation report of a finished run, in words and numbers: what ``_run_report.html`` and the
downloadable ``run_report.html`` show, and the data ``static/cld/report.js`` draws.

Built from ``Run.result`` (distill.result.RunResult.to_dict()): the quality of every model with its
95% interval, per-class scores, confusion matrices, where student and teacher disagree, the stage
times and the efficiency numbers of cldweb.presentation. The verdict says first, plainly, when the
student does not beat the baseline or a floor, and calls a gain inside the noise what it is.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.utils.translation import gettext

from cldweb import messages
from cldweb.entities import highlighted
from cldweb.models import Run
from cldweb.presentation import comparison, measurement, speedup, wilson_interval
from distill import shown_text, split_pair

Z_95 = 1.96  # two-sided 95%: the intervals shown and the test of whether a difference is more than noise


def report(run: Run) -> dict[str, Any] | None:
    """Everything the report shows; None for a run without the report's metrics (older releases)."""
    result = run.result or {}
    metrics: dict[str, dict[str, Any]] = result.get("metrics") or {}
    if "student" not in metrics:
        return None
    if run.is_tagging:
        return tagging_report(run)
    names = messages.report_model_names()
    size = int(metrics["student"]["size"])
    models = [_model_row(key, names.get(key, key), metrics[key]) for key in names if key in metrics]
    warnings, summary = verdict(metrics, size)
    return {
        "split": result.get("metrics_split") or "test",
        "size": size,
        "scored_on": messages.report_scored_on(result.get("metrics_split") or "test", f"{size:,}"),
        "warnings": warnings,
        "summary": summary,
        "models": models,
        "disagreements": [disagreement(row) for row in result.get("disagreements") or []],
        "pairs": run.is_pair,  # each disagreement is a pair of texts: the table says so in its heading
        "no_disagreements": messages.report_no_disagreements() if not result.get("disagreements") else "",
        "stage_times": stage_times(result.get("stage_seconds") or {}),
        "efficiency": efficiency(run),
        # For report.js: one heatmap per model, axes in label names.
        "charts": {"labels": list(result.get("labels") or []),
                   "axes": {"predicted": gettext("Predicted"), "gold": gettext("True label")},
                   "models": [{"key": row["key"], "name": row["name"], "confusion": metrics[row["key"]]["confusion"]}
                              for row in models]},
    }


def tagging_report(run: Run) -> dict[str, Any]:
    """A named-entity run's report: entity precision/recall/F1 per type and overall, token accuracy, and the
    sentences with the most entity errors, gold and predicted entities highlighted. No confusion matrices:
    a tagger's classes are B-/I- tags, whose matrix says little about entities."""
    result = run.result or {}
    metrics: dict[str, dict[str, Any]] = result["metrics"]
    names = messages.report_model_names()
    models = []
    for key in ("teacher", "student", "baseline"):
        if key not in metrics:
            continue
        scores = metrics[key]
        rows = [_entity_row(kind, row) for kind, row in scores.get("per_type", {}).items()]
        rows.append(_entity_row("", {**scores, "support": scores.get("entities", 0)}))
        models.append({"key": key, "name": names.get(key, key), "rows": rows,
                       "macro_f1": _pct(scores.get("macro_f1")), "token_accuracy": _pct(scores.get("token_accuracy")),
                       "dev_f1": _pct(scores.get("dev_f1"))})
    student = metrics["student"]
    sentences = int(student.get("sentences", 0))
    return {
        "tagging": True,
        "split": result.get("metrics_split") or "test",
        "size": sentences,
        "scored_on": messages.report_tagging_scored_on(result.get("metrics_split") or "test", f"{sentences:,}",
                                                       f"{int(student.get('entities', 0)):,}"),
        "warnings": tagging_warnings(metrics),
        "summary": tagging_summary(metrics),
        "models": models,
        "worst": [{"gold": highlighted(row["text"], row["gold"]), "predicted": highlighted(row["text"], row["predicted"]),
                   "missed": row["missed"], "spurious": row["spurious"]} for row in result.get("disagreements") or []],
        "stage_times": stage_times(result.get("stage_seconds") or {}),
        "efficiency": efficiency(run),
        "charts": {"labels": [], "axes": {}, "models": []},  # report.js draws nothing for a tagger
    }


def _entity_row(kind: str, scores: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "precision": _pct(scores["precision"]), "recall": _pct(scores["recall"]),
            "f1": _pct(scores["f1"]), "support": f"{int(scores['support']):,}"}


def tagging_warnings(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """Where the student finds entities no better than the same tagger trained on the gold tags alone."""
    baseline = metrics.get("baseline")
    student = metrics["student"]["f1"]
    if baseline is not None and student <= baseline["f1"]:
        return [messages.report_tagging_not_better_than_baseline(_one(student), _one(baseline["f1"]))]
    return []


def tagging_summary(metrics: dict[str, dict[str, Any]]) -> list[str]:
    teacher = (metrics.get("teacher") or {}).get("f1")
    student = metrics["student"]["f1"]
    if teacher:
        return [messages.report_tagging_keeps(_one(student), _one(teacher), _one(student / teacher))]
    return []


def disagreement(row: dict[str, Any]) -> dict[str, Any]:
    """One disagreement row for the table: probabilities in percent, and the texts as a person reads them.

    A pair's second text arrives as ``text_pair`` (distill.evaluate.disagreements); a joined pair in ``text``
    (a result written otherwise) is split here, so the engine's separator never reaches a page.
    """
    first, joined_second = split_pair(str(row.get("text", "")))
    second = row.get("text_pair", joined_second)
    return {**row, "text": shown_text(first), "text_pair": None if second is None else shown_text(str(second)),
            "teacher_probability": _pct(row["teacher_probability"]),
            "student_probability": _pct(row["student_probability"]), "distance": f"{row['distance']:.2f}"}


def verdict(metrics: dict[str, dict[str, Any]], size: int) -> tuple[list[str], list[str]]:
    """(warnings, summary): warnings, shown first, say where the student does not beat the baseline or a
    floor and what to try; the summary says how much of the teacher it keeps and what it gained."""
    student = metrics["student"]["accuracy"]
    warnings: list[str] = []
    summary: list[str] = []

    def accuracy(key: str) -> float | None:
        return (metrics.get(key) or {}).get("accuracy")

    baseline, classical, majority = accuracy("baseline"), accuracy("classical"), accuracy("majority")
    if majority is not None and student <= majority:
        label = _majority_label(metrics["majority"])
        warnings.append(messages.report_not_better_than_majority(_one(student), _one(majority), label))
    elif classical is not None and student <= classical:
        warnings.append(messages.report_not_better_than_classical(_one(student), _one(classical)))
    if baseline is not None and student <= baseline:
        warnings.append(messages.report_not_better_than_baseline(_one(student), _one(baseline)))

    teacher = accuracy("teacher")
    if teacher:
        keeps = _one(student / teacher)
        if baseline is None or student <= baseline:
            summary.append(messages.report_keeps(keeps))
        elif beyond_noise(student, baseline, size):
            summary.append(messages.report_keeps_and_beats_baseline(keeps, _points(student - baseline)))
        else:
            summary.append(messages.report_keeps_baseline_in_noise(keeps, _points(student - baseline), f"{size:,}"))
    if classical is not None and student > classical and (majority is None or student > majority):
        summary.append(messages.report_beats_classical(_points(student - classical))
                       if beyond_noise(student, classical, size) else
                       messages.report_classical_in_noise(_points(student - classical)))
    return warnings, summary


def beyond_noise(first: float, second: float, size: int) -> bool:
    """Whether two accuracies on the same ``size`` texts differ by more than chance would (95%, the
    two-proportion z-test; for two models on one test set it errs towards calling a gain noise)."""
    spread = math.sqrt((first * (1 - first) + second * (1 - second)) / size) if size else 0.0
    return abs(first - second) > Z_95 * spread if spread else first != second


def stage_times(seconds: dict[str, float]) -> list[dict[str, str]]:
    """The stages that ran, in run order, with their wall time in words, and the total last."""
    names = messages.report_stage_names()
    rows = [{"stage": name, "time": _duration(seconds[key])} for key, name in names.items() if key in seconds]
    if rows:
        rows.append({"stage": gettext("Total"), "time": _duration(sum(seconds[key] for key in names if key in seconds)),
                     "total": "1"})
    return rows


def efficiency(run: Run) -> dict[str, Any]:
    """The speed table of teacher and student (presentation.comparison) with the student's ratios."""
    result = run.result or {}
    teacher, student = result.get("teacher") or {}, result.get("student") or {}
    ratios = {}
    if teacher.get("latency_p50_ms") and student.get("latency_p50_ms"):
        ratios["speedup"] = f"{teacher['latency_p50_ms'] / student['latency_p50_ms']:.1f}×"
    if teacher.get("samples_per_second") and student.get("samples_per_second"):
        ratios["throughput"] = f"{student['samples_per_second'] / teacher['samples_per_second']:.1f}×"
    if teacher.get("parameters") and student.get("parameters"):
        ratios["compression"] = f"{teacher['parameters'] / student['parameters']:.1f}×"
    if teacher.get("size_bytes") and student.get("size_bytes"):
        ratios["size"] = f"{teacher['size_bytes'] / student['size_bytes']:.1f}×"
    return {"rows": comparison(run), "ratios": ratios, "speedup": speedup(run), "measurement": measurement(run)}


def _model_row(key: str, name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    size = int(metrics["size"])
    low, high = wilson_interval(metrics["accuracy"], size)
    return {
        "key": key, "name": name,
        "accuracy": _pct(metrics["accuracy"]),
        "interval": f"{low * 100:.1f}–{high * 100:.1f}%",
        "macro_f1": f"{metrics['macro_f1']:.3f}",
        "dev_accuracy": _pct(metrics.get("dev_accuracy")),
        "size": f"{size:,}",
        "per_class": [{**row, "precision": f"{row['precision']:.3f}", "recall": f"{row['recall']:.3f}",
                       "f1": f"{row['f1']:.3f}", "support": f"{row['support']:,}"} for row in metrics["per_class"]],
    }


def _majority_label(metrics: dict[str, Any]) -> str:
    """The label the majority floor always answers: the only column of its confusion matrix with counts."""
    columns = [sum(row[i] for row in metrics["confusion"]) for i in range(len(metrics["per_class"]))]
    return metrics["per_class"][columns.index(max(columns))]["label"]


def _one(share: float) -> str:
    return f"{share * 100:.1f}"


def _points(difference: float) -> str:
    return f"{abs(difference) * 100:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float) -> str:
    return messages.duration(seconds)


def standalone_context(run: Run) -> dict[str, Any] | None:
    """What templates/cldweb/run_report.html needs: the report, and the page's CSS and scripts inline."""
    built = report(run) if run.status == Run.Status.DONE else None
    if built is None:
        return None
    return {"run": run, "report": built, "stylesheet": _static_text("cld/style.css"),
            "plotly_js": _static_text("plotly/plotly.min.js"), "report_js": _static_text("cld/report.js")}


@lru_cache(maxsize=None)
def _static_text(name: str) -> str:
    """A static file's text for inlining; "</script" and "</style" are escaped so no string in it can end the
    element early (only inside strings can they occur, where "<\\/" means the same)."""
    path = finders.find(name)
    if not path:
        raise FileNotFoundError(f"static file {name} not found")
    text = Path(path).read_text(encoding="utf-8")
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)

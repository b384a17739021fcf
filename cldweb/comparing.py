"""Runs compared (``runs/compare/?ids=3,5``): their curves overlaid, their scores and their settings side by side.

The curves are the metric points each run page draws (static/cld/compare.js draws them with the run
page's code, static/cld/charts.js); the scores are the report's (Run.result); the settings are the
resolved RunConfig saved with each run, flattened to dotted keys, the rows that differ marked.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from cldweb import presentation
from cldweb.models import MetricPoint, Run

MIN_RUNS, MAX_RUNS = 2, 6

# One colour per run, the same in both charts and in the tables' headings (distinct for colour-blind readers
# as far as six can be: Okabe-Ito's palette without its yellow, which vanishes on white).
RUN_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#56b4e9", "#e69f00"]

# Settings that differ between any two runs whatever was chosen: where the server keeps the run, its caches and
# the corpus file (the corpus is named in the table's heading). Shown, they would mark every comparison "differs".
MACHINE_SETTINGS = ("output_dir", "cache_dir", "data.train_path")


def parse_ids(values: list[str]) -> list[int]:
    """Run ids from ``?ids=3,5`` or ``?ids=3&ids=5`` (the list's checkboxes), in order, without repeats;
    anything that is not a number is left out."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.isdigit() and int(part) not in ids:
                ids.append(int(part))
    return ids


def context(runs: list[Run]) -> dict[str, Any]:
    """What run_compare.html shows and compare.js draws, for runs in the order chosen."""
    columns = [{"run": run, "color": RUN_COLORS[i % len(RUN_COLORS)]} for i, run in enumerate(runs)]
    settings = settings_rows(runs)
    return {
        "columns": columns,
        "metrics": metric_rows(runs),
        "settings": settings,
        "differences": sum(1 for row in settings if row["differs"]),
        "charts": chart_data(runs, [column["color"] for column in columns]),
    }


# -- curves -----------------------------------------------------------------------------------


def chart_data(runs: list[Run], colors: list[str]) -> dict[str, Any]:
    """Each run's stored steps and dev evaluations (notes left out) with its name and colour, and the chart words."""
    tagging = {run.is_tagging for run in runs}
    accuracy = (gettext("Dev entity F1") if tagging == {True} else gettext("Dev accuracy") if tagging == {False}
                else gettext("Dev accuracy or entity F1"))
    return {
        "runs": [{"id": run.pk, "name": run.display_name, "color": color,
                  "eval_key": "dev_f1" if run.is_tagging else "dev_accuracy",
                  "points": [point.to_message() for point in
                             run.points.exclude(kind=MetricPoint.KIND_NOTE).order_by("seq")]}
                 for run, color in zip(runs, colors)],
        "labels": {"step": gettext("Step within the stage"), "epoch": gettext("Epoch"),
                   "loss": gettext("Training loss"), "accuracy": accuracy},
    }


# -- scores -----------------------------------------------------------------------------------


def _quality(run: Run, model: str) -> float | None:
    """A model's headline score on the report's split: accuracy, or entity F1 for a tagger."""
    result = run.result or {}
    metrics = (result.get("metrics") or {}).get(model) or {}
    if run.is_tagging:
        return metrics.get("f1")
    if "accuracy" in metrics:
        return metrics["accuracy"]
    return (result.get(model) or {}).get("test_accuracy")  # a run finished before the report's metrics


def _measured(model: str, key: str) -> Callable[[Run], float | None]:
    return lambda run: ((run.result or {}).get(model) or {}).get(key) or None


def _speedup(run: Run) -> float | None:
    teacher, student = _measured("teacher", "latency_p50_ms")(run), _measured("student", "latency_p50_ms")(run)
    return teacher / student if teacher and student else None


def _macro_f1(run: Run) -> float | None:
    return (((run.result or {}).get("metrics") or {}).get("student") or {}).get("macro_f1")


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def metric_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per number, one cell per run ("—" where it has none); the best cell of a row where runs differ
    is marked: the higher score, the smaller and faster student."""
    rows = [
        (gettext("Scored by"), None, None, None),
        (gettext("Teacher"), lambda run: _quality(run, "teacher"), _percent, max),
        (gettext("Student"), lambda run: _quality(run, "student"), _percent, max),
        (gettext("Student on labels only"), lambda run: _quality(run, "baseline"), _percent, max),
        (gettext("Student macro-F1"), _macro_f1, lambda value: f"{value:.3f}", max),
        (gettext("Student parameters"), _measured("student", "parameters"), lambda value: f"{int(value):,}", min),
        (gettext("Student size"), _measured("student", "size_bytes"), filesizeformat, min),
        (gettext("Student latency p50 (ms, 1 text)"), _measured("student", "latency_p50_ms"),
         presentation.milliseconds, min),
        (gettext("Speed-up over the teacher"), _speedup, lambda value: f"{value:.1f}×", max),
    ]
    table = []
    for label, read, shown, best in rows:
        if read is None:  # what the quality rows measure, per run
            table.append({"label": label, "cells": [
                {"text": gettext("entity F1") if run.is_tagging else gettext("accuracy"), "best": False}
                for run in runs]})
            continue
        values = [read(run) if run.status == Run.Status.DONE else None for run in runs]
        known = [value for value in values if value is not None]
        winner = best(known) if len(known) > 1 and len(set(known)) > 1 else None
        table.append({"label": label, "cells": [
            {"text": "—" if value is None else shown(value), "best": value is not None and value == winner}
            for value in values]})
    return table


# -- settings ---------------------------------------------------------------------------------


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 5}} -> {"train.epochs": 5}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def shown_setting(value: Any) -> str:
    """A setting as it is written in config.json, a text without quotes; "—" for one a run does not have."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def settings_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """Every dotted setting any of the runs has, sorted, with each run's value and whether they differ."""
    flats = [flatten(run.config or {}) for run in runs]
    keys = sorted({key for flat in flats for key in flat} - set(MACHINE_SETTINGS))
    rows = []
    for key in keys:
        values = [json.dumps(flat.get(key), sort_keys=True) if key in flat else None for flat in flats]
        rows.append({"key": key, "values": [shown_setting(flat.get(key)) for flat in flats],
                     "differs": len(set(values)) > 1})
    return rows

"""A Run's results and device in words and numbers for people: what the run page, the dashboard and the runs
list show.

The models keep the engine's numbers (``Run.result`` is RunResult.to_dict()); these functions
format them in the active language. Views put them in the template context; the dashboard
uses the ``run_device`` filter of cldweb.templatetags.presentation.
"""
from __future__ import annotations

import math
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, ngettext

from cldweb.messages import corpus_warnings
from cldweb.models import Run

# Below this many test texts one text moves the accuracy by a point or more: say the scores decide nothing.
FEW_TEST_TEXTS = 100


def results(run: Run) -> dict[str, Any]:
    """Everything the results card of a finished run shows."""
    return {
        "comparison": comparison(run),
        "speedup": speedup(run),
        # A tagger's accuracy is over characters, not the test set's sentences: no per-text interval for it.
        "tagging": run.is_tagging,
        "test_noise": None if run.is_tagging else test_noise(run),
        "measurement": measurement(run),
        "corpus_warnings": corpus_warnings((run.result or {}).get("corpus") or {}),
    }


def run_device(run: Run) -> str:
    """The device the run trained on, in words ("" before the engine said)."""
    return device_in_words(run.device, run.device_name)


def comparison(run: Run) -> list[dict[str, Any]]:
    """Teacher and student side by side, formatted for the results table."""
    rows = []
    for key, label in (("teacher", gettext("Teacher")), ("student", gettext("Student"))):
        report = (run.result or {}).get(key) or {}
        rows.append({
            "model": label,
            "dev_accuracy": _percent(report.get("dev_accuracy")),
            "test_accuracy": _percent(report.get("test_accuracy")),
            "parameters": f"{report.get('parameters') or 0:,}",
            "size_bytes": report.get("size_bytes") or 0,
            "latency_p50_ms": milliseconds(report.get("latency_p50_ms")),
            "latency_p95_ms": milliseconds(report.get("latency_p95_ms")),
            "samples_per_second": f"{round(report.get('samples_per_second') or 0.0):,}",
        })
    return rows


def test_noise(run: Run) -> dict[str, Any] | None:
    """How far chance alone moves each test accuracy (95% Wilson intervals), so a user does not read
    noise as a gain; None before a test set was scored."""
    result = run.result or {}
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
    if size < FEW_TEST_TEXTS:
        warning = gettext("Only %(size)s texts were held back for testing, too few to tell a good model from a poor "
                          "one. Add more labelled rows to the corpus before deciding.") % {"size": f"{size:,}"}
    return {"size": size, "sentence": sentence, "warning": warning}


def speedup(run: Run) -> dict[str, Any] | None:
    """How much faster (batch 1, median) and smaller the student is than its teacher, in sentences.

    ``summary`` holds what is true; ``warnings`` say plainly when the student is slower or larger
    than its teacher, since then distillation has not delivered what it is for. None until both
    are measured (a run finished by an older release has no latency).
    """
    teacher = (run.result or {}).get("teacher") or {}
    student = (run.result or {}).get("student") or {}
    if not (teacher.get("parameters") and student.get("parameters")
            and teacher.get("latency_p50_ms") and student.get("latency_p50_ms")):
        return None
    faster = teacher["latency_p50_ms"] / student["latency_p50_ms"]
    smaller = teacher["parameters"] / student["parameters"]
    params = {"faster": _ratio(faster), "smaller": _ratio(smaller),
              "student_ms": milliseconds(student["latency_p50_ms"]),
              "teacher_ms": milliseconds(teacher["latency_p50_ms"]),
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


def measurement(run: Run) -> dict[str, Any] | None:
    """Where and how the results were measured (device, threads, precision, steps), for the results."""
    environment = (run.result or {}).get("environment") or {}
    training = (run.result or {}).get("training") or {}
    if not environment:
        return None  # a run finished by an older release did not record it
    device_type = run.device or (run.result or {}).get("device") or ""
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


def device_in_words(device: str, name: str = "") -> str:
    """"CPU" or "GPU: NVIDIA H200" for the engine's torch device type ("cpu", "cuda") and the GPU's name."""
    if device == "cpu":
        return gettext("CPU")
    if device == "cuda":
        return gettext("GPU: %(name)s") % {"name": name} if name else gettext("GPU")
    return device  # another torch backend ("mps"): its own name says it


def key_metric(run: Run) -> dict[str, str] | None:
    """The one number a list of runs shows: the student's test accuracy, a tagger's entity F1 (the report's
    headline; its accuracy is over characters, mostly outside any entity). None before the run is scored."""
    result = run.result or {}
    if run.is_tagging:
        f1 = ((result.get("metrics") or {}).get("student") or {}).get("f1")
        return None if f1 is None else {"value": f"{f1 * 100:.1f}%", "name": gettext("entity F1")}
    accuracy = (result.get("student") or {}).get("test_accuracy")
    return None if accuracy is None else {"value": _percent(accuracy), "name": gettext("test accuracy")}


def run_duration(run: Run, now=None) -> str:
    """How long the run has worked: from its start to its end, or until now while it runs ("" before it starts)."""
    if run.started_at is None or (run.is_finished and run.finished_at is None):
        return ""
    end = run.finished_at or (now or timezone.now())
    return duration_in_words(max(0.0, (end - run.started_at).total_seconds()))


def duration_in_words(seconds: float) -> str:
    """"42.0 s", "3 min 5 s", "2 h 7 min": the report's stage times, with hours for long runs."""
    if seconds < 60:
        return gettext("%(seconds)s s") % {"seconds": f"{seconds:.1f}"}
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return gettext("%(minutes)s min %(seconds)s s") % {"minutes": f"{minutes:,}", "seconds": rest}
    hours, rest = divmod(round(seconds), 3600)
    return gettext("%(hours)s h %(minutes)s min") % {"hours": f"{hours:,}", "minutes": rest // 60}


def queue_position(run: Run) -> str:
    """A queued run's place in words, from Run.runs_ahead (as the run page counts it); "" for any other run."""
    if run.status != Run.Status.QUEUED:
        return ""
    ahead = run.runs_ahead()
    if not ahead:
        return gettext("next")
    return ngettext("%(count)s run ahead", "%(count)s runs ahead", ahead) % {"count": f"{ahead:,}"}


def wilson_interval(share: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion: unlike share ± z·se it stays inside 0–1 and does not
    shrink to nothing at 0% or 100% (2 of 2 right is no proof of a perfect model)."""
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    spread = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def milliseconds(value: float | None) -> str:
    """A latency for people: 0.37, 4.9, 120 (two decimals below 1 ms, one below 10 ms, whole above)."""
    if not value:
        return "—"
    return f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _ratio(value: float) -> str:
    """A ratio above 1 as people say it ("4.2", "12"), below 1 as how many times the other way round."""
    value = value if value >= 1 else 1 / value
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"

"""A finished run's result.json as the engine writes it, with chosen accuracies: for the report's web tests."""
from __future__ import annotations

from typing import Any

LABELS = ["差评", "好评"]


def model_metrics(correct: int, size: int, *, dev_accuracy: float | None = None,
                  always: int | None = None) -> dict[str, Any]:
    """Metrics of a two-class model that gets ``correct`` of ``size`` test texts right (half of each class
    is gold 差评); ``always`` = the class a majority floor always answers."""
    half = size // 2
    if always is not None:
        confusion = [[half, 0], [size - half, 0]] if always == 0 else [[0, half], [0, size - half]]
    else:
        wrong = size - correct
        confusion = [[half - wrong // 2, wrong // 2], [wrong - wrong // 2, size - half - (wrong - wrong // 2)]]
    accuracy = (confusion[0][0] + confusion[1][1]) / size
    per_class = []
    for i, label in enumerate(LABELS):
        predicted = confusion[0][i] + confusion[1][i]
        precision = confusion[i][i] / predicted if predicted else 0.0
        recall = confusion[i][i] / sum(confusion[i])
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"label": label, "precision": precision, "recall": recall, "f1": f1,
                          "support": sum(confusion[i])})
    return {"size": size, "accuracy": accuracy, "macro_f1": sum(row["f1"] for row in per_class) / 2,
            "per_class": per_class, "confusion": confusion,
            "dev_accuracy": accuracy if dev_accuracy is None else dev_accuracy}


def finished_result(*, size: int = 1000, teacher: int = 900, student: int = 880, baseline: int | None = 859,
                    classical: int = 800) -> dict[str, Any]:
    """RunResult.to_dict() of a done run; accuracies as texts right out of ``size``."""
    metrics = {"teacher": model_metrics(teacher, size), "student": model_metrics(student, size)}
    if baseline is not None:
        metrics["baseline"] = model_metrics(baseline, size)
    metrics["classical"] = model_metrics(classical, size)
    metrics["majority"] = model_metrics(size // 2, size, always=1)
    return {
        "status": "done", "labels": LABELS, "device": "cpu",
        "teacher": {"dev_accuracy": 0.9, "test_accuracy": teacher / size, "parameters": 10_000_000,
                    "size_bytes": 40_000_000, "latency_p50_ms": 20.0, "latency_p95_ms": 25.0,
                    "samples_per_second": 100.0},
        "student": {"dev_accuracy": 0.88, "test_accuracy": student / size, "parameters": 500_000,
                    "size_bytes": 2_000_000, "latency_p50_ms": 1.0, "latency_p95_ms": 1.5,
                    "samples_per_second": 2000.0},
        "corpus": {"train": 8000, "dev": 1000, "test": size},
        "stage_seconds": {"preparing": 1.5, "finetuning_teacher": 125.0, "labelling": 30.2, "distilling": 61.0,
                          "baseline": 59.0, "evaluating": 4.0, "exporting": 0.8},
        "training": {"steps": 500}, "baseline_training": {"steps": 500} if baseline is not None else {},
        "environment": {"device_name": "test CPU", "threads": 2, "precision": "float32", "torch": "2"},
        "metrics": metrics, "metrics_split": "test",
        "disagreements": [
            {"text": "物流很快，但是东西一般。", "gold": "差评", "teacher": "差评", "teacher_probability": 0.91,
             "student": "好评", "student_probability": 0.8, "distance": 0.71},
            {"text": "还行吧。", "gold": "好评", "teacher": "好评", "teacher_probability": 0.6,
             "student": "差评", "student_probability": 0.55, "distance": 0.15},
        ],
    }

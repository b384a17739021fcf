"""Scoring and speed: accuracy, logits, the report's metrics and disagreements, latency and throughput, sizes.

Where a model runs and under which autocast is decided once, in ``training.precision``;
the final report runs models through it like the training loop does.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .tasks.pair import split_pair
from .training.precision import autocast

# A batch as the student and evaluation code see it: (input_ids, attention_mask, labels).
# labels is -100 where a row has no label, the convention CrossEntropyLoss ignores.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def predict_logits(model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batches: Iterable[Batch],
                   device: torch.device, amp: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Run ``model_fn(input_ids, attention_mask) -> logits`` over batches; returns (logits (N, C) float32, labels (N,))."""
    all_logits: list[np.ndarray] = []
    all_labels: list[np.ndarray] = []
    with torch.inference_mode(), autocast(device, amp):
        for input_ids, attention_mask, labels in batches:
            logits = model_fn(input_ids.to(device), attention_mask.to(device))  # (B, C)
            all_logits.append(logits.float().cpu().numpy())
            all_labels.append(labels.cpu().numpy())
    if not all_logits:
        return np.zeros((0, 0), dtype=np.float32), np.zeros((0,), dtype=np.int64)
    return np.concatenate(all_logits), np.concatenate(all_labels)


def accuracy_from_logits(logits: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of labeled rows (label >= 0) whose argmax is right; None when no row is labeled."""
    mask = labels >= 0
    if not mask.any():
        return None
    return float((logits[mask].argmax(axis=-1) == labels[mask]).mean())


def cross_entropy_from_logits(logits: np.ndarray, labels: np.ndarray) -> float | None:
    mask = labels >= 0
    if not mask.any():
        return None
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits[mask]).float(), torch.from_numpy(labels[mask]).long())
    return float(loss)


def accuracy(model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batches: Iterable[Batch],
             device: torch.device | None = None, amp: str = "auto") -> float | None:
    logits, labels = predict_logits(model_fn, batches, device or torch.device("cpu"), amp)
    return accuracy_from_logits(logits, labels)


SPEED_BATCH_SIZE = 32  # ModelReport.samples_per_second is measured at this batch size
SPEED_TEXTS = 32  # texts timed one at a time (latency) and as one batch of 32 (throughput): seconds, not a minute
SPEED_ROUNDS = 3  # interleaved rounds: teacher, student, teacher, student...; noise hits both alike
SPEED_WARMUP = 4  # calls per model before timing: kernels, caches and the allocator settle
# Rounds after the first only while the measurement has taken less than this: a bert-base teacher on a
# CPU takes tens of seconds a round and gets one (32 latencies are enough for a p95); small models get all.
SPEED_BUDGET_S = 10.0


@dataclass
class Speed:
    """How fast a model answers as a person would use it, on one device and thread count."""

    latency_p50_ms: float  # one text at a time (batch 1): the median wait
    latency_p95_ms: float  # one text at a time: 95 of 100 answers come at least this fast
    samples_per_second: float  # throughput in batches of SPEED_BATCH_SIZE


# One model's inputs for measure_speeds: the callable and the same texts, encoded for it
# as single texts [(ids (1, T), mask (1, T))] and as batches [(ids (B, T), mask (B, T))].
Timed = tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], Sequence[tuple[torch.Tensor, torch.Tensor]],
              Sequence[tuple[torch.Tensor, torch.Tensor]]]


def measure_speeds(models: dict[str, Timed], device: torch.device, amp: str = "auto",
                   rounds: int = SPEED_ROUNDS, budget_s: float = SPEED_BUDGET_S) -> dict[str, Speed]:
    """Latency at batch 1 (p50, p95) and throughput at batch 32 of every model, measured interleaved.

    Every model runs a round in turn (teacher, student, teacher, student...) in this one process and
    thread count, after a warm-up, so a burst of other work on a shared machine slows all of them
    alike and their ratio holds even when the absolute numbers do not. Rounds after the first run only
    while less than ``budget_s`` has passed, so a slow teacher costs one round, not three.
    """
    latencies: dict[str, list[float]] = {name: [] for name in models}
    throughputs: dict[str, list[float]] = {name: [] for name in models}
    moved = {name: (fn, [(i.to(device), m.to(device)) for i, m in singles], [(i.to(device), m.to(device)) for i, m in batches])
             for name, (fn, singles, batches) in models.items()}
    with torch.inference_mode(), autocast(device, amp):
        for fn, singles, batches in moved.values():
            for ids, mask in (list(singles) + list(batches))[:SPEED_WARMUP]:
                fn(ids, mask)
        _synchronize(device)
        started = time.perf_counter()
        for round_index in range(rounds):
            if round_index and time.perf_counter() - started > budget_s:
                break
            for name, (fn, singles, batches) in moved.items():
                for ids, mask in singles:
                    start = time.perf_counter()
                    fn(ids, mask)
                    _synchronize(device)
                    latencies[name].append(time.perf_counter() - start)
                start, samples = time.perf_counter(), 0
                for ids, mask in batches:
                    fn(ids, mask)
                    samples += ids.shape[0]
                _synchronize(device)
                throughputs[name].append(samples / max(time.perf_counter() - start, 1e-9))
    return {name: Speed(latency_p50_ms=float(np.percentile(latencies[name], 50)) * 1000 if latencies[name] else 0.0,
                        latency_p95_ms=float(np.percentile(latencies[name], 95)) * 1000 if latencies[name] else 0.0,
                        samples_per_second=float(np.median(throughputs[name])) if throughputs[name] else 0.0)
            for name in models}


def measure_throughput(model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batches: Sequence[Batch],
                       device: torch.device, amp: str = "auto", warmup: int = 2, min_seconds: float = 0.5) -> float:
    """Inference samples per second over ``batches``, after ``warmup`` batches (kernels, caches, allocator).

    Loops over the batches until ``min_seconds`` have passed so small models are not timed on noise.
    """
    if not batches:
        return 0.0
    batches = [(ids.to(device), mask.to(device), labels) for ids, mask, labels in batches]
    with torch.inference_mode(), autocast(device, amp):
        for ids, mask, _ in batches[:warmup]:
            model_fn(ids, mask)
        _synchronize(device)
        samples = 0
        start = time.perf_counter()
        while True:
            for ids, mask, _ in batches:
                model_fn(ids, mask)
                samples += ids.shape[0]
            _synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                return samples / elapsed


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def safetensors_size(path: str | Path) -> int:
    """Bytes of the safetensors weights in a file or a folder (sharded checkpoints sum up)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def classification_metrics(scores: np.ndarray, labels: np.ndarray, label_names: Sequence[str]) -> dict | None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix of the labeled rows.

    ``scores`` (N, C) are logits or probabilities (only their argmax counts); ``labels`` (N,) class
    indices, < 0 where a row has no label. The confusion matrix is [gold][predicted] in label order.
    None when no row is labeled. Macro-F1 averages over every label, so a class the model never
    predicts counts as 0 there instead of vanishing from the mean.
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    mask = labels >= 0
    if not mask.any():
        return None
    gold = labels[mask]
    predicted = np.asarray(scores)[mask].argmax(axis=-1)
    classes = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, labels=classes, zero_division=0)
    return {
        "size": int(mask.sum()),
        "accuracy": float((predicted == gold).mean()),
        "macro_f1": float(f1_score(gold, predicted, labels=classes, average="macro", zero_division=0)),
        "per_class": [{"label": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(label_names, precision, recall, f1, support)],
        "confusion": confusion_matrix(gold, predicted, labels=classes).tolist(),
    }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities (N, C) from logits, in float64 so large logits do not overflow."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


DISAGREEMENTS_SHOWN = 20  # dev texts listed where student and teacher disagree most
DISAGREEMENT_TEXT_CHARS = 300  # a listed text is cut to this many characters: enough to read, small in result.json


def disagreements(teacher_logits: np.ndarray, student_logits: np.ndarray, labels: np.ndarray,
                  texts: Sequence[str], label_names: Sequence[str], count: int = DISAGREEMENTS_SHOWN) -> list[dict]:
    """The ``count`` texts whose teacher and student probabilities differ most (total variation,
    ½·Σ|p_t − p_s|, between 0 and 1), largest first, with both predictions and the gold label by name.

    Total variation rather than KL: it is bounded and symmetric, so one near-zero probability does
    not put a text at the top that both models in fact call the same.
    """
    if not len(texts):
        return []
    teacher_p, student_p = softmax(teacher_logits), softmax(student_logits)  # (N, C) each
    distance = 0.5 * np.abs(teacher_p - student_p).sum(axis=-1)  # (N,)
    order = np.argsort(-distance, kind="stable")[:count]
    rows = []
    for i in order.tolist():
        teacher_class, student_class = int(teacher_p[i].argmax()), int(student_p[i].argmax())
        first, second = split_pair(texts[i])
        rows.append({
            "text": first[:DISAGREEMENT_TEXT_CHARS],
            **({} if second is None else {"text_pair": second[:DISAGREEMENT_TEXT_CHARS]}),  # the pair task's second text
            "gold": label_names[int(labels[i])] if labels[i] >= 0 else "",
            "teacher": label_names[teacher_class], "teacher_probability": float(teacher_p[i, teacher_class]),
            "student": label_names[student_class], "student_probability": float(student_p[i, student_class]),
            "distance": float(distance[i]),
        })
    return rows

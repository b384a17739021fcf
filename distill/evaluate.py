"""Scoring and speed: accuracy, logits, latency and throughput, sizes; plus the device/AMP helpers every loop shares.

Teachers (fine-tuning, labelling), the distiller and the final report all run
models the same way, so where a model runs and under which autocast is decided
here once.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

# A batch as the student and evaluation code see it: (input_ids, attention_mask, labels).
# labels is -100 where a row has no label, the convention CrossEntropyLoss ignores.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without one is a config error, not a crash."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA GPU is available", code="config_no_cuda")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r} (use auto, cpu or cuda)", code="config_device", device=name)
    return torch.device(name)


AMP_MODES = ("auto", "bf16", "fp16", "off")


def amp_dtype(device: torch.device, amp: str) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or None for plain float32.

    "auto" means bf16 on a CUDA GPU that supports it and float32 on the CPU. On a
    CPU the gain hangs on the chip and does not pay for changing the numbers: on an
    AVX512-BF16 EPYC, bf16 trained the small students 1.1-2.4x faster (inference
    1.3-3x), but CPUs without native bf16 have to emulate it, fp16 ran 10-30x
    slower than float32, and float32 is what keeps CPU runs bit-reproducible (the
    reference the tests and benchmarks compare against). An explicit "bf16" or
    "fp16" is honoured on the CPU too, so the mixed-precision paths (autocast, fp16
    loss scaling, the scaler in checkpoints) run and are tested without a GPU.
    """
    if amp not in AMP_MODES:
        raise ConfigError(f"unknown amp {amp!r} (use {', '.join(AMP_MODES)})", code="config_amp", amp=amp)
    if amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def check_amp_supported(model: torch.nn.Module, device: torch.device, amp: str) -> None:
    """Refuse, with a ConfigError, an autocast dtype this CPU cannot run ``model`` in.

    Under CPU autocast PyTorch sends an LSTM to oneDNN in the autocast dtype
    whenever every row of a batch has the same length (packing does not stop it),
    without asking whether oneDNN has a kernel for that dtype. Without native fp16
    it has no fp16 LSTM (seen on an AVX512-BF16 EPYC), and where oneDNN reports no
    bf16 support (CPUs without AVX-512) no bf16 one is to be expected either: the
    run would die with "could not create a primitive descriptor" at whichever
    batch first happens to have equal lengths. fp16 is refused on every CPU:
    wherever both run bf16 is the better CPU choice, and an fp16 oneDNN LSTM
    (forward and backward) could not be tried.
    """
    dtype = amp_dtype(device, amp)
    if device.type != "cpu" or dtype is None:
        return
    if not any(isinstance(module, torch.nn.LSTM) for module in model.modules()):
        return
    bf16_ok = _onednn_has_bf16()
    if dtype == torch.float16 or not bf16_ok:
        instead = "'bf16' or 'off'" if bf16_ok else "'off'"
        raise ConfigError(f"amp {amp!r} cannot run an LSTM student on this CPU; use amp {instead}, or a CUDA GPU",
                          code="config_amp_cpu_lstm", amp=amp, bf16_supported=bf16_ok)


def _onednn_has_bf16() -> bool:
    # The check PyTorch's own tests use; it is private, so a torch without it counts as "no".
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """Loss scaling, enabled only for fp16: its gradients underflow without it; bf16 has float32's range."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(device, amp) == torch.float16)


def scaled_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                parameters: Iterable[torch.nn.Parameter], max_grad_norm: float) -> None:
    """One optimizer step from ``loss``: backward (scaled), clip the true gradients, step, update the scale."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    scaler.step(optimizer)
    scaler.update()


def autocast(device: torch.device, amp: str = "auto") -> contextlib.AbstractContextManager:
    dtype = amp_dtype(device, amp)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


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
SPEED_TEXTS = 64  # texts timed one at a time (latency) and in batches (throughput): seconds, not a minute
SPEED_ROUNDS = 3  # interleaved rounds: teacher, student, teacher, student...; noise hits both alike
SPEED_WARMUP = 4  # calls per model before timing: kernels, caches and the allocator settle


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
                   rounds: int = SPEED_ROUNDS) -> dict[str, Speed]:
    """Latency at batch 1 (p50, p95) and throughput at batch 32 of every model, measured interleaved.

    Every model runs a round in turn (teacher, student, teacher, student...) in this one process and
    thread count, after a warm-up, so a burst of other work on a shared machine slows all of them
    alike and their ratio holds even when the absolute numbers do not.
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
        for _ in range(rounds):
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

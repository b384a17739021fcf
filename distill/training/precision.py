"""Where a model runs and in which precision: the device, autocast, the fp16 loss scaler, one optimizer step.

Every loop shares these: the training loop (student and teacher), teacher labelling and the
final report run models the same way, so the device and the autocast dtype are decided here once.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

from ..errors import ConfigError


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

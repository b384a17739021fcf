"""What the training loop writes to resume exactly: the checkpoint payload, every RNG's state, the best weights.

A checkpoint holds tensors and primitives only, so it loads with ``weights_only=True`` and
nothing in it can run code. Both files are written atomically (``distill.atomic``): a kill
mid-write leaves the previous checkpoint, never a torn one.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path

CHECKPOINT_NAME = "last.pt"  # model, optimizer, scheduler, scaler, RNG, position, best score
BEST_NAME = "best.safetensors"  # the best-dev weights so far
# Every payload the loop writes has these keys (plus one per extra module it trains beside the model);
# a checkpoint without all of them was written by an older loop and is not resumed.
CHECKPOINT_KEYS = frozenset({
    "model", "optimizer", "scheduler", "scaler", "rng", "step", "epoch", "position", "best_score", "bad_evals",
    "finished", "signature", "config",
})
# Written by the loop but younger than some checkpoints that must still resume: read with .get.
LATER_CHECKPOINT_KEYS = frozenset({"best_metrics"})


def set_seed(seed: int) -> None:
    """Seed every RNG a training touches: Python's, NumPy's global one and torch's (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG the loop touches, as tensors and primitives only (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    # weights_only=True: the checkpoint holds only tensors and primitives, so nothing in it can run code.
    return torch.load(path, map_location="cpu", weights_only=True)


def resumable(payload: dict[str, Any], signature: dict[str, Any]) -> bool:
    """True when ``payload`` was written by this loop for the same settings (``signature``) as this run."""
    return CHECKPOINT_KEYS <= payload.keys() and payload["signature"] == signature


def save_best_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_model

    with atomic_path(path) as tmp:
        save_model(model, str(tmp))  # save_model, not save_file: it copes with tied weights (BERT's decoder)


def load_best_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_model

    load_model(model, str(path), device=str(next(model.parameters()).device))

"""Can hub teachers be downloaded from here? A cheap TCP probe, remembered for a few minutes."""
from __future__ import annotations

import os
import socket
import time

from django.conf import settings

_CACHE_SECONDS = 300.0
_cached: tuple[float, bool] | None = None


def hub_reachable() -> bool:
    global _cached
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < _CACHE_SECONDS:
        return _cached[1]
    try:
        with socket.create_connection((settings.CLD_HUB_HOST, 443), timeout=1.5):
            reachable = True
    except OSError:
        reachable = False
    _cached = (now, reachable)
    return reachable


def cached_locally(hub_id: str) -> bool:
    """True when the hub model's config, safetensors weights and tokenizer are in the local Hugging Face
    cache, so it loads offline. Only file lookups: no network, nothing loaded."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False

    def cached(filename: str) -> bool:
        try:
            return isinstance(try_to_load_from_cache(hub_id, filename), str)
        except Exception:  # malformed id or unreadable cache: treat as not cached
            return False

    # load_teacher asks for safetensors only, so a cache holding just pytorch_model.bin cannot load.
    return (cached("config.json")
            and (cached("model.safetensors") or cached("model.safetensors.index.json"))
            and any(cached(name) for name in ("tokenizer.json", "vocab.txt", "vocab.json")))

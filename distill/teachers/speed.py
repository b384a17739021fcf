"""The teacher's measured speed, kept per teacher and machine so a run times a large teacher once, not every time.

Timing a bert-base teacher on a CPU costs tens of seconds per run (issue 14 measured 37-66 s, most
of a run whose teacher outputs were all cached), and the answer only changes when the teacher, the
texts timed, the machine, the device, the threads, the precision or the libraries change. All of
those are the key; the student, which costs milliseconds, is still timed in every run.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomically
from .labelling import texts_digest

TEACHER_SPEEDS = "teacher-speeds"  # under cache_dir: one JSON file per speed_key
SPEED_FORMAT = 1  # part of the key: bump it when the way speeds are measured changes


def speed_key(fingerprint: str, texts: Sequence[str], max_length: int, environment: Mapping[str, Any],
              protocol: Mapping[str, int]) -> str:
    """What a teacher's timing depends on. ``environment`` is the run's (device name, threads, precision,
    library versions); ``protocol`` the measurement's own settings (texts, batch size, rounds, warm-up)."""
    parts = {"format": SPEED_FORMAT, "teacher": fingerprint, "texts": texts_digest(texts), "max_length": max_length,
             "environment": {name: environment.get(name) for name in
                             ("device_name", "threads", "precision", "torch", "transformers")},
             "protocol": dict(protocol)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def read_teacher_speed(cache_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The stored measurement (latency_p50_ms, latency_p95_ms, samples_per_second, parameters, size_bytes,
    measured_at), or None when this teacher was never timed so here, or the file cannot be read."""
    path = Path(cache_dir) / TEACHER_SPEEDS / f"{key}.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    needed = ("latency_p50_ms", "latency_p95_ms", "samples_per_second", "parameters", "size_bytes")
    return stored if isinstance(stored, dict) and all(name in stored for name in needed) else None


def write_teacher_speed(cache_dir: str | Path, key: str, speed: Mapping[str, float], size: Mapping[str, int]) -> None:
    stored = {**speed, **size, "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_text_atomically(Path(cache_dir) / TEACHER_SPEEDS / f"{key}.json", json.dumps(stored, indent=1))

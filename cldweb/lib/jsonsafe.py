"""Values made storable in a JSONField (PostgreSQL jsonb rejects NaN) and sendable to browsers."""
from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """NaN/inf become None; tuples become lists; numpy/torch scalars become floats; the rest str()."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:  # numpy / torch scalars
        return json_safe(float(value))
    except (TypeError, ValueError):
        return str(value)

"""Named entities drawn inside their sentence: ``<mark>`` spans with the entity type, every piece escaped.

Used by the tagging report's worst sentences and the playground of a tagging run; the spans are the
engine's ``{"start", "end" (exclusive), "label"}`` dicts (distill.tasks.tagging_metrics, Predictor.entities).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def highlighted(text: str, entities: Iterable[Mapping[str, Any]]) -> SafeString:
    """``text`` as HTML with each entity in ``<mark class="entity" data-type="T">…<sup>T</sup></mark>``.

    Spans outside the text or overlapping an earlier one are left unmarked rather than trusted: BIO
    decoding never makes them, so one would mean a result written otherwise.
    """
    pieces: list[str] = []
    at = 0
    for entity in sorted(entities, key=lambda item: (int(item["start"]), int(item["end"]))):
        start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        if start < at or end > len(text) or end <= start:
            continue
        pieces.append(escape(text[at:start]))
        pieces.append(f'<mark class="entity" data-type="{escape(label)}">{escape(text[start:end])}'
                      f"<sup>{escape(label)}</sup></mark>")
        at = end
    pieces.append(escape(text[at:]))
    return mark_safe("".join(pieces))  # every piece of text and every label went through escape()

"""``{{ corpus.encoding|encoding_name }}``: a codec as people write it (Big5, not BIG5 or big5)."""
from __future__ import annotations

from django import template

register = template.Library()

# The engine's codec names (distill.corpus.encoding.ENCODING_CHOICES) as the standards spell them.
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "gb18030": "GB18030", "big5": "Big5",
                  "big5hkscs": "Big5-HKSCS", "utf-16": "UTF-16"}


@register.filter
def encoding_name(codec: str | None) -> str:
    return ENCODING_NAMES.get((codec or "").lower(), (codec or "").upper())

"""``{{ corpus.encoding|encoding_name }}``: a codec as people write it (Big5, not BIG5 or big5)."""
from __future__ import annotations

from django import template
from django.utils.translation import gettext

register = template.Library()

# The engine's codec names (distill.corpus.encoding.ENCODING_CHOICES) as the standards spell them.
ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030", "big5": "Big5", "big5hkscs": "Big5-HKSCS",
                  "utf-16": "UTF-16"}


@register.filter
def encoding_name(codec: str | None) -> str:
    if (codec or "").lower() == "utf-8-sig":  # "BOM" means nothing to most people; the encoding menu's words do
        return gettext("UTF-8 with BOM (saved by Excel)")
    return ENCODING_NAMES.get((codec or "").lower(), (codec or "").upper())

"""``{{ n|grouped }}``: 35,123, in both languages.

Django's zh-Hans format has no thousands separator (35123), but the sentences cldweb builds in
code (cldweb/messages.py) group by three with commas in both languages, as GB/T 15835 allows; the
tables use the same so one page never shows a number two ways.
"""
from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def grouped(value: object) -> str:
    try:
        return f"{int(value):,}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if value is None else str(value)

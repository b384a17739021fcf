"""Template filters over cldweb.presentation, for pages that list many runs (``{% load presentation %}``)."""
from __future__ import annotations

from django import template

from cldweb import presentation
from cldweb.models import Run

register = template.Library()


@register.filter
def run_device(run: Run) -> str:
    """``{{ run|run_device }}``: "CPU", "GPU: NVIDIA H200", or "" before the engine said."""
    return presentation.run_device(run)

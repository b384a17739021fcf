"""Fetch rows the requesting user may see; anything else is a 404 (never a 403 that confirms it exists)."""
from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from cldweb.models import Corpus, Run


def get_owned_run_or_404(request: HttpRequest, pk: int) -> Run:
    return get_object_or_404(Run.objects.select_related("corpus", "teacher"), pk=pk, owner=request.user)


def get_owned_corpus_or_404(request: HttpRequest, pk: int) -> Corpus:
    return get_object_or_404(Corpus, pk=pk, owner=request.user)

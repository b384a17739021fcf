"""The runs list (``runs/``): a user's runs filtered, searched and paged, each one row in words.

The filters arrive as cldweb.forms.RunFilterForm's cleaned values; the words of each row come from
cldweb.presentation, as on the run page, so a run reads the same in the list and on its own page.
"""
from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from cldweb import presentation
from cldweb.models import Run, normalise_tags

RUNS_PER_PAGE = 25


def users_runs(user) -> QuerySet[Run]:
    return Run.objects.filter(owner=user).select_related("corpus", "teacher")


def with_tag(tag: str) -> Q:
    """Runs carrying ``tag`` exactly (Run.tags is "a,b,c": "gpu" must not match "gpu-big")."""
    return Q(tags=tag) | Q(tags__startswith=f"{tag},") | Q(tags__endswith=f",{tag}") | Q(tags__contains=f",{tag},")


def search(runs: QuerySet[Run], query: str) -> QuerySet[Run]:
    """Runs whose name holds ``query``; "12" or "#12" also finds run 12, which may have no name."""
    query = query.strip()
    if not query:
        return runs
    matches = Q(name__icontains=query)
    number = query.removeprefix("#")
    if number.isdigit():
        matches |= Q(pk=int(number))
    return runs.filter(matches)


def filtered(user, filters: dict[str, Any]) -> QuerySet[Run]:
    """The user's runs that pass RunFilterForm.filters(), newest first."""
    runs = users_runs(user)
    if "status" in filters:
        runs = runs.filter(status=filters["status"])
    if "corpus" in filters:
        runs = runs.filter(corpus=filters["corpus"])
    if "teacher" in filters:
        runs = runs.filter(teacher=filters["teacher"])
    if "student" in filters:
        runs = runs.filter(student_architecture=filters["student"])
    if "tag" in filters:
        tags = normalise_tags(filters["tag"])
        if tags:
            runs = runs.filter(with_tag(tags[0]))
    return search(runs, filters.get("q", ""))


def users_tags(user) -> list[str]:
    """Every tag on the user's runs, sorted: the tag filter's choices."""
    tags: set[str] = set()
    for joined in Run.objects.filter(owner=user).exclude(tags="").values_list("tags", flat=True):
        tags.update(tag for tag in joined.split(",") if tag)
    return sorted(tags)


def page_of(runs: QuerySet[Run], number: str | None) -> Page:
    return Paginator(runs, RUNS_PER_PAGE).get_page(number)


def row(run: Run) -> dict[str, Any]:
    return {
        "run": run,
        "metric": presentation.key_metric(run) if run.status == Run.Status.DONE else None,
        "duration": presentation.run_duration(run),
        "device": presentation.run_device(run),
        "queue": presentation.queue_position(run),
    }

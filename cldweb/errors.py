"""The app's own 403/404/500 answers (used whenever DEBUG is off, as under `./cld start`).

A JSON client (an API token, a JSON body, ``Accept: application/json``, or a URL that only
ever answers JSON) gets ``{"error": {"code": "...", "message": "..."}}`` with the status (``json_error``):
a stable code to branch on and a translated sentence to show; a browser gets a translated page.
Neither says whether another user's object exists: theirs and a missing one read the same.
"""
from __future__ import annotations

from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from cldweb import messages

# Views that answer JSON whatever the client asks for (the /api/ ones are known by their path).
JSON_URL_NAMES = {"run-points"}


def json_error(code: str, message: str, status: int, headers: dict[str, str] | None = None,
               fields: dict[str, list[str]] | None = None) -> JsonResponse:
    """Every JSON error of the app: ``code`` never changes with the language, ``message`` is translated;
    ``fields`` (a request's settings that were refused: name -> what to change) only where there are some."""
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return JsonResponse({"error": error}, status=status, headers=headers)


def is_api_request(request: HttpRequest) -> bool:
    """Whether the client wants JSON back (a token, a JSON body, or Accept: application/json)."""
    return (
        getattr(request, "api_token", None) is not None
        or request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
    )


def wants_json(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return (
        is_api_request(request)
        or request.path.startswith("/api/")
        or (match is not None and match.url_name in JSON_URL_NAMES)
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return json_error("not_found", messages.not_found(), 404)
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return json_error("forbidden", messages.not_allowed(), 403)
    return render(request, "403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return json_error("server_error", messages.server_error(), 500)
    # No context processors: the error may have come from one of them.
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)


def post_only(back_to: str, *, with_pk: bool = False):
    """Like ``require_POST``, but a browser that opens the URL (a language switch or a reload
    re-opens the page a form answered on) is sent back to the page the form lives on, not to
    a blank 405. Nothing is done on such a GET; a JSON client gets a JSON 405."""
    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                return view(request, *args, **kwargs)
            if request.method in ("GET", "HEAD") and not wants_json(request):
                return redirect(back_to, pk=kwargs["pk"]) if with_pk else redirect(back_to)
            return json_error("method_not_allowed", messages.post_only(), 405, headers={"Allow": "POST"})
        return wrapper
    return decorator

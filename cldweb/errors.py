"""The app's own 403/404/500 answers (used whenever DEBUG is off, as under `./cld start`).

A JSON client (an API token, a JSON body, ``Accept: application/json``, or a URL that only
ever answers JSON) gets ``{"error": "..."}`` with the status; a browser gets a translated page.
Neither says whether another user's object exists: theirs and a missing one read the same.
"""
from __future__ import annotations

from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from cldweb import messages
from cldweb.access import is_api_request

# Views that answer JSON whatever the client asks for.
JSON_URL_NAMES = {"run-points", "api-runs"}


def wants_json(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return (
        is_api_request(request)
        or request.path.startswith("/api/")
        or (match is not None and match.url_name in JSON_URL_NAMES)
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": messages.not_found()}, status=404)
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": messages.not_allowed()}, status=403)
    return render(request, "403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": messages.server_error()}, status=500)
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
            response = JsonResponse({"error": messages.post_only()}, status=405)
            response["Allow"] = "POST"
            return response
        return wrapper
    return decorator

"""Fetch rows the requesting user may see; anything else is a 404 (never a 403 that confirms it exists).

Also who the requester is on the JSON endpoints: a session (browser) or an API token
(``Authorization: Bearer <token>``).
"""
from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from cldweb import messages
from cldweb.errors import json_error
from cldweb.models import ApiToken, Corpus, Run


def get_owned_run_or_404(request: HttpRequest, pk: int) -> Run:
    return get_object_or_404(Run.objects.select_related("corpus", "teacher"), pk=pk, owner=request.user)


def get_owned_runs_or_404(request: HttpRequest, ids: list[int]) -> list[Run]:
    """The runs ``ids`` in that order, all the user's; one that is not (or does not exist) makes it a 404."""
    runs = Run.objects.select_related("corpus", "teacher").filter(pk__in=ids, owner=request.user).in_bulk()
    if len(runs) != len(set(ids)):
        raise Http404
    return [runs[pk] for pk in ids]


def get_owned_corpus_or_404(request: HttpRequest, pk: int) -> Corpus:
    return get_object_or_404(Corpus, pk=pk, owner=request.user)


def get_owned_token_or_404(request: HttpRequest, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=pk, user=request.user)


def unauthorized(code: str, message: str) -> JsonResponse:
    return json_error(code, message, 401, headers={"WWW-Authenticate": 'Bearer realm="cld"'})


def bearer_token(request: HttpRequest) -> str | None:
    """The token in ``Authorization: Bearer <token>``; "" for another or malformed scheme; None without the header."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _space, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def token_or_login_required(view=None, *, anonymous: str = "login"):
    """Let a view be used with an API token or a browser session.

    With an ``Authorization`` header the token decides: a valid one acts as its user (no CSRF
    check: no cookie is involved), a revoked, unknown or malformed one is a 401. Without it the
    view is an ordinary browser view: logged-in and CSRF-checked; anonymous visitors are sent to
    sign in (``anonymous="login"``) or get a 401 (``anonymous="401"``, for API-only URLs).
    """

    def decorator(view):
        browser_view = csrf_protect(login_required(view))

        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token = bearer_token(request)
            if token is not None:
                row = ApiToken.authenticate(token) if token else None
                if row is None:
                    return unauthorized("token_invalid", messages.api_token_invalid())
                request.user = row.user
                request.api_token = row
                return view(request, *args, **kwargs)
            if anonymous == "401" and not request.user.is_authenticated:
                return unauthorized("token_required", messages.authentication_required())
            return browser_view(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


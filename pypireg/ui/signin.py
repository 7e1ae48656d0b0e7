"""The sign-in and sign-out pages (``/users/sign_in``, ``/users/sign_out``, GitLab's
paths), as plain functions like the other pages; sessions.py keeps the sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.exceptions import NotFound
from werkzeug.utils import redirect

from .sessions import FORM, SIGNED_IN, check_origin, local_target

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from ..protocols import URLAdapter
    from .app import UI

VIEWS = ("sign_in", "sign_out")
POSTS = VIEWS  # the pages that take a POST
LONGEST_SECRET = 1024  # characters of a token: more is no token


def sign_in(ui: UI, request: Request, urls: URLAdapter) -> Response:
    """The form (GET), and signing in with the personal access token it sends (POST)."""
    wanted = request.values.get("redirect", "/")
    if not ui.sessions.available:
        if ui.sign_in_url is None:
            raise NotFound("signing in here needs an auth provider that keeps sessions")
        return redirect(ui.sign_in_url, 303)
    problem = ""
    if request.method == "POST":
        ui.sessions.check_form(request)
        secret = request.form.get("token", "")
        subject = (ui.registry.auth.sign_in(secret)  # type: ignore[attr-defined]
                   if 0 < len(secret) <= LONGEST_SECRET else None)
        if subject is not None:
            response = redirect(local_target(request, wanted), 303)
            ui.sessions.start(response, request, subject)
            response.delete_cookie(FORM, path=request.script_root + "/")
            return response
        problem = ("That token does not sign you in: it is not a personal access token of"
                   " this registry, or it was revoked or has expired.")
    seed, fresh = ui.sessions.form_seed(request)
    response = ui.page(request, urls, "sign_in.html", status=403 if problem else 200,
                       problem=problem, wanted=wanted, csrf=ui.sessions.form_token(seed))
    response.headers["Cache-Control"] = "no-store"
    if fresh:
        ui.sessions.keep_seed(response, request, seed)
    return response


def sign_out(ui: UI, request: Request, urls: URLAdapter) -> Response:
    """Ends the session (a same-origin POST: the header's Sign out button)."""
    name = request.environ.get(SIGNED_IN)
    if name is not None:  # an ended session has nothing left to end
        ui.sessions.check_sign_out(request, name)
    else:
        check_origin(request, null=False)
    response = redirect(local_target(request, "/"), 303)
    ui.sessions.end(response, request)
    return response

"""Signing in to the web pages: a person gives a personal access token once, and a signed
session cookie stands for it on every page (docs/ui.md).

The cookie holds the auth provider's session subject (for a token: its id and the start of
its stored hash, never the secret), when it ends, and an HMAC of both under a key kept in
the catalog, so every process and host sharing the catalog reads every session. Each page
asks the provider who the subject is now: a revoked, expired or rotated token ends its
sessions at once. The cookie is HttpOnly, SameSite=Lax, and Secure over https.

The sign-in form carries a token derived from a random cookie of its own (a double
submit), so another site can neither post it for a person (CSRF) nor sign a person in as
somebody else (login CSRF); signing out takes a same-origin POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from werkzeug.exceptions import Forbidden

from ..protocols import SignsIn

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from ..app import Registry
    from ..models import Principal

SESSION = "pypireg_session"
SIGNED_IN = "pypireg.signed_in"  # where a request keeps the name its session signed in
FORM = "pypireg_sign_in"  # the sign-in form's own cookie (its CSRF token's seed)
LONGEST_COOKIE = 1024  # characters: a longer one is no cookie of ours


class Sessions:
    """The sessions of one registry's web pages."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._key: bytes | None = None

    @property
    def available(self) -> bool:
        return isinstance(self.registry.auth, SignsIn)

    def _sign(self, *parts: str) -> str:
        if self._key is None:  # from the catalog once: it never changes
            self._key = self.registry.catalog.session_key()
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    # -- the session -----------------------------------------------------------------------

    def start(self, response: Response, request: Request, subject: str) -> None:
        lifetime = int(self.registry.ui_session_lifetime.total_seconds())
        payload = base64.urlsafe_b64encode(json.dumps(
            [subject, int(time.time()) + lifetime]).encode()).decode()
        _set(response, request, SESSION, f"{payload}.{self._sign('session', payload)}",
             lifetime, same_site="Lax")

    def end(self, response: Response, request: Request) -> None:
        response.delete_cookie(SESSION, path=_path(request), secure=request.is_secure,
                               httponly=True, samesite="Lax")

    def principal(self, request: Request) -> Principal | None:
        """Who the request's session cookie signs in now, if anyone."""
        value = request.cookies.get(SESSION, "")
        if not value or len(value) > LONGEST_COOKIE or not value.isascii() or \
                not self.available:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            return None
        try:
            subject, ends = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        if not isinstance(subject, str) or not isinstance(ends, int) or ends <= time.time():
            return None
        return self.registry.auth.session(subject)  # type: ignore[attr-defined]

    # -- the forms -------------------------------------------------------------------------

    def form_seed(self, request: Request) -> tuple[str, bool]:
        """The seed of the sign-in form's CSRF token: the one in the form's own cookie, or
        a new random one (True: to be set with :meth:`keep_seed`)."""
        seed = request.cookies.get(FORM, "")
        if 16 <= len(seed) <= 64 and seed.isalnum():
            return seed, False
        return secrets.token_hex(16), True

    def form_token(self, seed: str) -> str:
        return self._sign("sign-in", seed)

    def keep_seed(self, response: Response, request: Request, seed: str) -> None:
        _set(response, request, FORM, seed, 3600, same_site="Strict")

    def check_form(self, request: Request) -> None:
        """403 unless the posted form is this site's own, from this browser."""
        check_origin(request)
        seed = request.cookies.get(FORM, "")
        sent = request.form.get("csrf", "").encode()
        if not seed or not hmac.compare_digest(sent, self._sign("sign-in", seed).encode()):
            raise Forbidden("the sign-in form has expired or is not this site's:"
                            " load it again and sign in from there")

    def sign_out_token(self, name: str) -> str:
        """The sign-out button's CSRF token, for the person signed in as ``name``: what no
        other site can learn, as it cannot read this site's pages."""
        return self._sign("sign-out", name)

    def check_sign_out(self, request: Request, name: str) -> None:
        check_origin(request, null=False)
        sent = request.form.get("csrf", "").encode()
        if not hmac.compare_digest(sent, self.sign_out_token(name).encode()):
            raise Forbidden("sign out with the button of a page of this site")


def check_origin(request: Request, *, null: bool = True) -> None:
    """403 for a POST another site made: its Origin (or Referer) names another host, or
    (unless ``null`` is allowed) hides it, as a sandboxed frame does."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if origin == "null":
        if null:
            return
        raise Forbidden("this form was sent from a page that hides its site")
    try:
        host = urlsplit(origin).netloc.lower()
    except ValueError:  # http://[ : no host at all
        host = "?"
    if origin and host != request.host.lower():
        raise Forbidden("this form was sent from another site")


def local_target(request: Request, wanted: str) -> str:
    """Where to return after signing in: a path of this site, never another host (URL
    parsers drop tabs and line breaks, so ``/<tab>/host`` would become ``//host``)."""
    clean = len(wanted) < 2048 and wanted.isprintable() and wanted.isascii() and \
        " " not in wanted and "\\" not in wanted
    if clean and wanted.startswith("/") and not wanted.startswith("//"):
        parts = urlsplit(wanted)
        if not parts.scheme and not parts.netloc:
            return request.script_root + wanted
    return request.script_root + "/"


def _path(request: Request) -> str:
    return request.script_root + "/" if request.script_root else "/"


def _set(response: Response, request: Request, name: str, value: str, max_age: int, *,
         same_site: str) -> None:
    response.set_cookie(name, value, max_age=max_age, path=_path(request),
                        secure=request.is_secure, httponly=True, samesite=same_site)

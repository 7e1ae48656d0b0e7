"""The three contracts a host can replace: URL layout, byte storage and authorization.

Built-in implementations (``routing.gitlab_layout``, ``FileSystemStorage``,
``MemoryStorage``, ``TokenAuth``) satisfy these like any third-party one would.
docs/protocols.md explains each method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from .models import Action, Group, Principal, Project


@runtime_checkable
class URLAdapter(Protocol):
    """A dispatcher bound to one request: matches its path and builds URLs."""

    def match(self) -> tuple[str, Mapping[str, Any]]:
        """Return ``(endpoint, arguments)``; raise a werkzeug ``HTTPException`` on no match."""
        ...

    def build(
        self,
        endpoint: str,
        values: Mapping[str, Any] | None = None,
        method: str | None = None,
        force_external: bool = False,
    ) -> str:
        """Build the URL of ``endpoint``, carrying the mount prefix (SCRIPT_NAME)."""
        ...


@runtime_checkable
class Dispatcher(Protocol):
    """The URL layout. A ``werkzeug.routing.Map`` is one."""

    def bind_to_environ(self, environ: Any) -> URLAdapter:
        """Bind to one WSGI request."""
        ...


@runtime_checkable
class Storage(Protocol):
    """Where file bytes live, by keys the registry chooses (``[a-z0-9/]`` strings)."""

    def put_file(self, key: str, path: str) -> None:
        """Store the finished local file at ``path`` under ``key``, atomically.

        The storage may move the file away; the caller must not use ``path`` afterwards.
        Storing an existing key again replaces it (keys are content-addressed, so the
        bytes are the same).
        """
        ...

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        """Store everything read from ``stream`` under ``key``, atomically."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """Open ``key`` for binary reading; raise ``KeyError`` if it is missing."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...


@runtime_checkable
class ServesDownloads(Protocol):
    """Optional extra for a storage that answers downloads itself.

    For example a redirect to a presigned URL. Returning ``None`` falls back to
    streaming ``open(key)`` through the registry.
    """

    def download_response(
        self, key: str, request: Request, *, filename: str, sha256: str, size: int
    ) -> Response | None:
        """Answer a download of ``key`` or return ``None``."""
        ...


@runtime_checkable
class ListsKeys(Protocol):
    """Optional extra for a storage that can list what it holds.

    ``pypireg gc`` uses it to find blobs that no catalog row refers to (left behind by a
    crash between storing a file and committing its row).
    """

    def keys(self) -> Iterable[str]:
        """Every stored key."""
        ...


@runtime_checkable
class ChecksReadiness(Protocol):
    """Optional extra for a storage that can tell whether it is usable right now.

    ``GET /-/readiness`` calls it; a storage without it is probed by opening a key that
    does not exist (a ``KeyError`` means the storage answered).
    """

    def check_ready(self) -> str | None:
        """Return None if the storage can serve and store files; say why if it serves
        them but cannot store any now (it is full, or read-only); raise, saying why, if
        it cannot serve them."""
        ...


@runtime_checkable
class SweepsLeftovers(Protocol):
    """Optional extra for a storage whose interrupted writes can leave files behind.

    ``pypireg gc`` calls it so that, after a crash at any moment, nothing is left in the
    storage but live blobs.
    """

    def sweep_leftovers(self, older_than: float) -> int:
        """Remove what unfinished writes left that was last touched before ``older_than``
        (a Unix time); return how many were removed."""
        ...


@runtime_checkable
class AuthProvider(Protocol):
    """Who is calling, and what they may do to a project."""

    def authenticate(self, request: Request) -> Principal | None:
        """Return the caller, or ``None`` for an anonymous caller.

        Credentials that are present but wrong should also give ``None``: the registry
        then answers 401 where anonymous access is not enough.
        """
        ...

    def permits(self, principal: Principal | None, action: Action, project: Project) -> bool:
        """Whether ``principal`` (``None`` when anonymous) may ``action`` on ``project``."""
        ...


@runtime_checkable
class PermitsGroups(Protocol):
    """Optional for an auth provider: what a principal may do in a whole group.

    Group-level things (a group's audit events) ask it. Without it, a principal may act
    in a group when it may act in every project below it (and there is one).
    """

    def permits_group(self, principal: Principal | None, action: Action, group: Group
                      ) -> bool:
        """Whether ``principal`` may ``action`` on everything in ``group``, now and later."""
        ...


@runtime_checkable
class ExplainsRefusals(Protocol):
    """Optional for an auth provider: why the credentials a request carries did not
    authenticate it (a token that expired, or was revoked), said in the 401's message."""

    def refusal(self, request: Request) -> str | None:
        """One sentence for a request whose credentials ``authenticate`` refused; ``None``
        to say nothing (as for a request that carried none). It must tell a caller holding
        no real credential nothing beyond "not valid", so that guessing learns nothing."""
        ...


@runtime_checkable
class SignsIn(Protocol):
    """Optional for an auth provider: people sign in to the web pages by giving a secret
    (a personal access token) once, and a session cookie stands for it (docs/ui.md).

    ``sign_in`` checks the secret and returns the session's subject: a short string the
    cookie carries, signed, which must not hold the secret itself. ``session`` is asked
    on every page the session opens and returns who the subject is now, or None once it
    no longer signs anyone in (its token revoked, expired or rotated): then the session
    ends at once. A provider without these may send people to a sign-in of its own with
    a ``sign_in_url`` attribute."""

    def sign_in(self, secret: str) -> str | None: ...

    def session(self, subject: str) -> Principal | None: ...


"""The registry: a WSGI application built from a dispatcher, a storage and an auth provider."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    SecurityError,
    Unauthorized,
)
from werkzeug.sansio.utils import host_is_trusted
from werkzeug.wrappers import Request, Response

from . import access
from .admin import Administration
from .attestations import TrustedPublishers
from .auth import TokenAuth, TokenPrincipal
from .catalog import Catalog, open_catalog
from .defaults import (
    CATALOG,
    DOWNLOAD_STATS_DAYS,
    EXTERNAL_IMAGES,
    METRICS_ALLOW,
    OIDC_AUDIENCE,
    OIDC_TOKEN_LIFETIME,
    STAGE_LIFETIME,
    UI_SESSION_LIFETIME,
)
from .downloads import DownloadTracker
from .errors import NOSNIFF, error_response, unanswered
from .hooks import Webhooks
from .hooks.deliverer import Deliverer
from .hooks.events import HookEvents
from .limits import Limits
from .metrics import MeasuredStorage, Metrics, networks
from .models import Action, Actor, Group, Principal, Project
from .pagecache import DEFAULT_PAGE_CACHE_SIZE, PageCache
from .protection import ProtectionRules
from .publishing import TrustedPublishing
from .requestlog import ENDPOINT, LOG_FORMATS
from .routing import Routes, named_layout
from .settings import audience, host_names, token_lifetime
from .stages import Staging
from .storage import FileSystemStorage, MemoryStorage, open_storage
from .times import parse_interval
from .upstream import Upstreams, UpstreamSettings, upstream_settings
from .upstream.settings import DEFAULT_TTL
from .views import VIEWS, View
from .views.root import misdirected_upload

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .protocols import AuthProvider, Dispatcher, Storage, URLAdapter

log = logging.getLogger("pypireg")


class RegistryRequest(Request):
    """A werkzeug request that also carries the dispatcher, bound to it on first use."""

    def __init__(self, environ: WSGIEnvironment, dispatcher: Dispatcher) -> None:
        # Not stored back into the environ (nothing reads it there): that would make
        # every request a reference cycle for the garbage collector to find.
        super().__init__(environ, populate_request=False)
        self.dispatcher = dispatcher

    @cached_property
    def urls(self) -> URLAdapter:
        return self.dispatcher.bind_to_environ(self.environ)


class Registry(Administration, ProtectionRules, TrustedPublishing, Staging, Webhooks):
    """A private package registry as a WSGI app. Build one with :func:`create_app`. Its
    administration methods are :class:`pypireg.admin.Administration`'s (namespaces,
    tokens, packages, audit log, retention), :class:`pypireg.protection.ProtectionRules`',
    :class:`pypireg.publishing.TrustedPublishing`'s (trusted publishers),
    :class:`pypireg.stages.Staging`'s (staged releases) and
    :class:`pypireg.hooks.Webhooks`' (webhooks)."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        storage: Storage,
        auth: AuthProvider,
        dispatcher: Dispatcher,
        staging_dir: str,
        limits: Limits | None = None,
        realm: str = "pypireg",
        download_flush_interval: float = 60.0,
        page_max_age: int = 0,
        page_cache_size: int = DEFAULT_PAGE_CACHE_SIZE,
        upstream: UpstreamSettings | None = None,
        trusted_hosts: Iterable[str] | None = None,
        trusted_publishers: Sequence[Mapping[str, Any]] | None = None,
        views: Mapping[str, View] = VIEWS,
        ui_session_lifetime: timedelta = UI_SESSION_LIFETIME,
        ui_external_images: str = "allow",
        download_stats_days: int = DOWNLOAD_STATS_DAYS,
        log_format: str = "text",
        metrics_allow: Iterable[str] = METRICS_ALLOW,
        metrics_token: str | None = None,
        oidc_audience: str = OIDC_AUDIENCE,
        oidc_token_lifetime: timedelta = OIDC_TOKEN_LIFETIME,
        stage_lifetime: timedelta = STAGE_LIFETIME,
        hooks_allow_local: bool = False,
    ) -> None:
        self.catalog = catalog
        # Counted and timed for the metrics; otherwise the storage itself.
        self.storage = MeasuredStorage(storage, lambda: self.metrics)
        self.auth = auth
        self.dispatcher = dispatcher
        self.routes = Routes(dispatcher)
        self.staging_dir = staging_dir
        self.limits = limits or Limits()
        self.realm = realm
        self.downloads = DownloadTracker(catalog, download_flush_interval)
        self.page_max_age = page_max_age
        self.pages = PageCache(page_cache_size)
        self.upstreams = (None if upstream is None else Upstreams(
            upstream, catalog, self.storage, staging_dir, self.limits,
            lambda kind, result, seconds: self.metrics.upstream(kind, result, seconds)))
        self.trusted_hosts = host_names(trusted_hosts)
        self.trusted_publishers = (None if trusted_publishers is None
                                   else TrustedPublishers(trusted_publishers))
        self.views = dict(views)
        self.ui_session_lifetime = ui_session_lifetime  # read by the web pages (ui/)
        self.ui_external_images = ui_external_images
        self.download_stats_days = download_stats_days  # read by gc
        self.log_format = log_format  # read by pypireg serve and pypireg.wsgi
        self.metrics_networks = networks(metrics_allow)  # who may read /-/metrics
        self.metrics_token = metrics_token
        self.oidc_audience = oidc_audience  # trusted publishing (publishing.py)
        self.oidc_token_lifetime = oidc_token_lifetime
        self.stage_lifetime = stage_lifetime  # how long a stage stays open (stages.py)
        self.hooks_allow_local = hooks_allow_local
        # Webhook deliveries: queued with each change, sent by a thread (hooks/).
        self.deliverer = Deliverer(catalog, allow_local=hooks_allow_local)
        catalog.event_listener = HookEvents(catalog, dispatcher, self.deliverer.wake)

    @cached_property
    def metrics(self) -> Metrics:
        """This registry's Prometheus metrics, made on first use (metrics.py)."""
        return Metrics(self)

    # -- WSGI -------------------------------------------------------------------------------

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.deliverer.look()  # webhook deliveries left pending, by any process
        request = RegistryRequest(environ, self.dispatcher)
        try:
            self.check_request(request)
            try:
                endpoint, args = self.routes.match(request)
            except (NotFound, MethodNotAllowed) as exc:  # twine given an index URL, say
                raise misdirected_upload(request) or exc from None
            environ[ENDPOINT] = endpoint  # for the request log
            view = self.views.get(endpoint)
            if view is None:  # a host's views without this endpoint: as if it were not routed
                raise NotFound()
            response = view(self, request, **args)
        except HTTPException as exc:
            response = error_response(exc, environ)
        except Exception as exc:  # a fault of the disks or storage under it, or a bug
            response = error_response(unanswered(exc, request.method, request.path), environ)
        if isinstance(response, Response):  # a page's PageResponse has its own
            response.headers.set(*NOSNIFF)
        return response(environ, start_response)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def check_request(self, request: Request) -> None:
        """What every request must pass before anything reads it, here and on the web
        pages: a trusted Host (links are built from it), and no NUL character in the path
        (it names nothing) or the query (no parameter holds one)."""
        if self.trusted_hosts is not None and not host_is_trusted(
                request.host.lower(), self.trusted_hosts):
            raise SecurityError(f"Host {request.host!r} is not trusted")
        if "\x00" in request.path:
            raise NotFound()
        if "%00" in request.environ.get("QUERY_STRING", ""):
            raise BadRequest("the query string holds a NUL character (%00)")

    # -- access ------------------------------------------------------------------------------

    # Who may do what is decided in access.py; these are its answers for this registry.

    def caller(self, request: Request) -> Principal | None:
        """The authenticated caller, asked of the auth provider once per request."""
        return access.caller(self, request)

    def authorize(self, request: Request, project_ref: str | int, action: Action) -> Project:
        """The project, if the caller may ``action`` on it; else GitLab's refusal.

        Anonymous: 401 with a Basic challenge. Cannot even read: 404, so that private
        projects do not leak. Can read but not ``action``: 403.
        """
        return access.authorize(self, request, project_ref, action)

    def unauthorized(self, request: Request) -> Unauthorized:
        """GitLab's 401, with a Basic challenge (and why the credentials sent failed)."""
        return access.unauthorized(self, request)

    def readable_projects(
        self, request: Request, group_ref: str | int, *, subgroups: bool = True
    ) -> tuple[Group, list[Project]]:
        """A group and the projects in it (and its subgroups) that the caller may read; a
        private group in which they can read nothing answers 401 or 404."""
        return access.readable_projects(self, request, group_ref, subgroups=subgroups)

    def permits_group(self, request: Request, group: Group, action: Action) -> bool:
        """Whether the caller may ``action`` on everything in ``group``, now and later."""
        return access.permits_group(self, request, group, action)

    def actor(self, request: Request) -> Actor:
        """The caller as the audit log names it, with the client's address."""
        principal = self.caller(request)
        address = request.remote_addr
        base = request.host_url.rstrip("/") + request.script_root
        if principal is None:
            return Actor("anonymous", address=address, base_url=base)
        if isinstance(principal, TokenPrincipal) and principal.id:
            return Actor(principal.name, principal.kind, principal.id, address,
                         principal.trusted_publishing, base_url=base)
        return Actor(principal.name, address=address, base_url=base)


def create_app(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    storage: Storage | str | None = None,
    auth: AuthProvider | None = None,
    dispatcher: Dispatcher | None = None,
    catalog: Catalog | str | None = None,
    max_upload_size: int | None = None,
    limits: Limits | None = None,
    realm: str = "pypireg",
    staging_dir: str | None = None,
    download_flush_interval: float = 60.0,
    layout: str = "gitlab",
    project: str | None = None,
    page_max_age: int = 0,
    page_cache_size: int = DEFAULT_PAGE_CACHE_SIZE,
    upstream: str | Sequence[str] | UpstreamSettings | None = None,
    upstream_mode: str = "redirect",
    upstream_ttl: str | float | timedelta = DEFAULT_TTL,
    min_upstream_age: str | float | timedelta | None = None,
    upstream_merge: Iterable[str] = (),
    trusted_hosts: Iterable[str] | None = None,
    trusted_publishers: Sequence[Mapping[str, Any]] | None = None,
    ui_session_lifetime: str | float | timedelta = UI_SESSION_LIFETIME,
    ui_external_images: str = "allow",
    download_stats_days: int = DOWNLOAD_STATS_DAYS,
    log_format: str = "text",
    metrics_allow: Iterable[str] = METRICS_ALLOW,
    metrics_token: str | None = None,
    oidc_audience: str = OIDC_AUDIENCE,
    oidc_token_lifetime: str | float | timedelta = OIDC_TOKEN_LIFETIME,
    stage_lifetime: str | float | timedelta = STAGE_LIFETIME,
    hooks_allow_local: bool = False,
) -> Registry:
    """Build a registry.

    Every keyword argument that text can spell is a setting (:class:`pypireg.settings.
    Settings`), which ``pypireg serve`` also takes as ``--name`` and ``pypireg.wsgi`` as
    ``PYPIREG_NAME`` (``page_cache_size``: ``--page-cache-size``, ``PYPIREG_PAGE_CACHE_SIZE``).

    With ``data_dir``, the catalog is ``DATA/catalog.db`` and files live under
    ``DATA/files``; without it, both are in memory and vanish with the process.
    Any of storage, auth, dispatcher and catalog can be replaced; ``catalog`` and
    ``storage`` may also be URLs (``postgresql://user@host/db``, ``sqlite:////path/db``;
    ``s3://bucket/prefix``, ``file:///path``). With both given, ``data_dir`` holds only
    the staging of uploads. Uploads are staged in
    ``staging_dir`` (default ``DATA/staging``, on the same disk as ``DATA/files`` so that
    storing a finished upload is a rename). ``last_downloaded_at`` is written at most
    once per ``download_flush_interval`` seconds.

    ``layout="gitlab"`` (the default) serves GitLab's API paths; ``layout="flat"`` serves
    the single ``project`` at the root, as pypiserver does. A ``dispatcher`` overrides both.

    Simple pages may be cached for ``page_max_age`` seconds (default 0: always revalidate,
    which their ETags make cheap). Each process keeps up to ``page_cache_size`` bytes of
    rendered pages (0: none), each until what it shows changes.

    ``upstream`` is a simple index URL such as ``https://pypi.org/simple/``, or several in
    priority order, for the names this registry does not hold (docs/proxy.md). With
    ``upstream_mode="redirect"`` (the default) their package pages redirect to the first;
    with ``"cache"`` the registry serves them itself from a cache of the upstreams, pages
    kept for ``upstream_ttl`` (``"10m"``, or seconds) before they are revalidated, files
    fetched once and kept. ``min_upstream_age`` (``"7d"``, ``"12h"``) holds back upstream
    files uploaded more recently than that, and those without an upload time;
    ``upstream_merge`` names the packages held here whose pages also list the upstream's
    files (never any other: a name held here, or named by a status or a protection rule,
    is never taken from upstream).

    ``limits`` holds every bound on requests and archives (docs/limits.md);
    ``max_upload_size`` is a shortcut for its first. With ``trusted_hosts`` (names such as
    ``pypi.example.com`` or ``.example.com`` for a domain and its subdomains), requests
    whose Host header names anything else get a 400, so absolute URLs are never built
    from an arbitrary Host. With ``trusted_publishers`` (PyPI's Trusted Publisher fields,
    :class:`pypireg.attestations.TrustedPublishers`), uploaded PEP 740 attestations must
    verify against Sigstore as signed by one of them.

    The web pages (:func:`pypireg.site`) keep a person signed in for
    ``ui_session_lifetime``, and load README images from other hosts unless
    ``ui_external_images="block"`` (docs/ui.md). Daily download counts are kept for
    ``download_stats_days``, and ``log_format="json"`` makes ``pypireg serve`` and
    ``pypireg.wsgi`` log JSON objects. ``/-/metrics`` answers the addresses of
    ``metrics_allow`` (loopback) and callers sending ``metrics_token`` as a Bearer token
    (docs/monitoring.md). Trusted publishing's identity tokens must name ``oidc_audience``,
    and the upload tokens they are exchanged for last ``oidc_token_lifetime``
    (docs/trusted-publishing.md). A staged release stays open for ``stage_lifetime``
    after it is created (docs/staging.md). Webhooks never deliver to a loopback, private or
    link-local address unless ``hooks_allow_local`` (docs/webhooks.md).
    """
    settings = upstream_settings(upstream, mode=upstream_mode, ttl=upstream_ttl,
                                 min_age=min_upstream_age, merge=upstream_merge)
    if dispatcher is None:
        dispatcher = named_layout(layout, project)
    if isinstance(catalog, str):
        catalog = open_catalog(catalog)
    if isinstance(storage, str):
        storage = open_storage(storage)
    if data_dir is not None:
        root = Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        catalog = catalog or Catalog(str(root / CATALOG))
        storage = storage or FileSystemStorage(root / "files")
        staging_dir = staging_dir or str(root / "staging")
    else:
        catalog = catalog or Catalog()
        storage = storage or MemoryStorage()
        staging_dir = staging_dir or tempfile.gettempdir()
    os.makedirs(staging_dir, exist_ok=True)
    return Registry(
        catalog=catalog,
        storage=storage,
        auth=auth or TokenAuth(catalog),
        dispatcher=dispatcher,
        staging_dir=staging_dir,
        limits=_limits(limits, max_upload_size),
        realm=realm,
        download_flush_interval=download_flush_interval,
        page_max_age=page_max_age,
        page_cache_size=page_cache_size,
        upstream=settings,
        trusted_hosts=trusted_hosts,
        trusted_publishers=trusted_publishers,
        ui_session_lifetime=parse_interval(ui_session_lifetime),
        ui_external_images=_one_of("ui_external_images", ui_external_images, EXTERNAL_IMAGES),
        download_stats_days=_days(download_stats_days),
        log_format=_one_of("log_format", log_format, LOG_FORMATS),
        metrics_allow=metrics_allow,
        metrics_token=metrics_token or None,
        oidc_audience=audience(oidc_audience),
        oidc_token_lifetime=token_lifetime(oidc_token_lifetime),
        stage_lifetime=_positive("stage_lifetime", parse_interval(stage_lifetime)),
        hooks_allow_local=bool(hooks_allow_local),
    )


def _one_of(name: str, choice: str, choices: tuple[str, ...]) -> str:
    if choice not in choices:
        raise ValueError(f"{name} {choice!r}: use {' or '.join(map(repr, choices))}")
    return choice


def _positive(name: str, duration: timedelta) -> timedelta:
    if duration <= timedelta(0):
        raise ValueError(f"{name} must be longer than nothing: 12h, 7d")
    return duration


def _days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"download_stats_days {days!r}: give a whole number of days, 1 or more")
    return days


def _limits(limits: Limits | None, max_upload_size: int | None) -> Limits:
    """``limits``, with ``max_upload_size`` (the older spelling of that one bound) on top."""
    limits = limits or Limits()
    if max_upload_size is not None:
        limits = dataclasses.replace(limits, max_upload_size=max_upload_size)
    return limits


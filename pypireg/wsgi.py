"""``gunicorn pypireg.wsgi:application``: the registry configured by environment variables.

``application`` is built on first use from ``os.environ`` (so importing this module has no
side effect); :func:`from_environ` builds one from any mapping. docs/deploying.md describes
each variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from .app import create_app
from .catalog import CatalogError, open_catalog
from .defaults import CATALOG, DEFAULT_DATA
from .exceptions import PypiregError
from .limits import as_id
from .pagecache import DEFAULT_PAGE_CACHE_SIZE
from .storage import open_storage
from .upstream import UpstreamSettings, upstream_settings
from .upstream.settings import DEFAULT_TTL
from .website import site

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_PREFIX = "/api/v4"

application: WSGIApplication  # from os.environ, by __getattr__ on first use


class ConfigError(PypiregError, ValueError):
    """A ``PYPIREG_*`` variable names no registry or holds a value that cannot be used."""


def from_environ(environ: Mapping[str, str] = os.environ) -> WSGIApplication:
    """The registry in ``PYPIREG_DATA``, mounted at ``PYPIREG_PREFIX`` as ``pypireg serve``
    mounts it, behind ``PYPIREG_PROXY_COUNT`` trusted proxies.

    A data directory without a catalog is refused rather than started empty: a mistyped
    path would otherwise serve a new, empty registry.
    """
    data = Path(environ.get("PYPIREG_DATA") or DEFAULT_DATA)
    catalog_url = environ.get("PYPIREG_CATALOG") or None
    catalog = None
    if catalog_url:
        try:
            catalog = open_catalog(catalog_url, create=False)
        except CatalogError as exc:
            raise ConfigError(f"PYPIREG_CATALOG: {exc}") from None
    elif not (data / CATALOG).is_file():
        raise ConfigError(
            f"no registry at {data.resolve()}: check PYPIREG_DATA, or create one with:"
            f" pypireg init --data {data}")
    max_upload_size = _count(environ, "PYPIREG_MAX_UPLOAD_SIZE", smallest=1)
    page_cache_size = _count(environ, "PYPIREG_PAGE_CACHE_SIZE", smallest=0)
    proxies = _count(environ, "PYPIREG_PROXY_COUNT", smallest=0) or 0
    hosts = [h.strip() for h in environ.get("PYPIREG_TRUSTED_HOSTS", "").split(",")]
    trusted_hosts = [h for h in hosts if h] or None
    upstream = _upstream(environ)
    try:
        storage = open_storage(environ["PYPIREG_STORAGE"]) if environ.get(
            "PYPIREG_STORAGE") else None
    except ValueError as exc:
        raise ConfigError(f"PYPIREG_STORAGE: {exc}") from None
    try:
        registry = create_app(data, catalog=catalog, upstream=upstream, storage=storage,
                              trusted_hosts=trusted_hosts, max_upload_size=max_upload_size,
                              page_cache_size=(DEFAULT_PAGE_CACHE_SIZE if page_cache_size is None
                                               else page_cache_size))
    except ValueError as exc:  # the only ValueError these arguments can raise
        raise ConfigError(f"PYPIREG_TRUSTED_HOSTS: {exc}") from None
    app = site(registry, api=environ.get("PYPIREG_PREFIX", DEFAULT_PREFIX))
    if proxies:
        app = ProxyFix(app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                       x_prefix=proxies)
    return app


def _upstream(environ: Mapping[str, str]) -> UpstreamSettings | None:
    """``PYPIREG_UPSTREAM`` (URLs separated by commas or spaces, in priority order) and the
    settings beside it, as ``serve``'s options spell them (docs/proxy.md)."""
    urls = environ.get("PYPIREG_UPSTREAM", "").replace(",", " ").split()
    merge = environ.get("PYPIREG_UPSTREAM_MERGE", "").replace(",", " ").split()
    try:
        return upstream_settings(
            urls or None, mode=environ.get("PYPIREG_UPSTREAM_MODE") or "redirect",
            ttl=environ.get("PYPIREG_UPSTREAM_TTL") or DEFAULT_TTL,
            min_age=environ.get("PYPIREG_MIN_UPSTREAM_AGE") or None, merge=merge)
    except ValueError as exc:
        raise ConfigError(f"PYPIREG_UPSTREAM: {exc}") from None


def _count(environ: Mapping[str, str], name: str, *, smallest: int) -> int | None:
    """The whole number in ``environ[name]``, or None when it is unset or empty."""
    text = environ.get(name, "").strip()
    if not text:
        return None
    number = as_id(text)
    if number is None or number < smallest:
        raise ConfigError(f"{name} must be a whole number of at least {smallest}, not {text!r}")
    return number


def __getattr__(name: str) -> WSGIApplication:
    if name == "application":
        built = globals()["application"] = from_environ()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``gunicorn pypireg.wsgi:application``: the registry configured by environment variables.

``application`` is built on first use from ``os.environ`` (so importing this module has no
side effect); :func:`from_environ` builds one from any mapping. docs/deploying.md describes
each variable.
"""

from __future__ import annotations

import atexit
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
from .requestlog import JsonAccessLog, configure
from .settings import SettingError, Settings
from .storage import open_storage
from .upstream.files import settle_on_exit
from .website import site

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_PREFIX = "/api/v4"

application: WSGIApplication  # from os.environ, by __getattr__ on first use


class ConfigError(PypiregError, ValueError):
    """A ``PYPIREG_*`` variable names no registry or holds a value that cannot be used."""


def from_environ(environ: Mapping[str, str] = os.environ) -> WSGIApplication:
    """The registry in ``PYPIREG_DATA``, with the settings of its ``PYPIREG_*`` variables
    (:class:`pypireg.settings.Settings`), mounted at ``PYPIREG_PREFIX`` as ``pypireg serve``
    mounts it, behind ``PYPIREG_PROXY_COUNT`` trusted proxies.

    A data directory without a catalog is refused rather than started empty: a mistyped
    path would otherwise serve a new, empty registry.
    """
    data = Path(environ.get("PYPIREG_DATA") or DEFAULT_DATA)
    try:
        settings = Settings.read({}, environ)
    except SettingError as exc:
        raise ConfigError(str(exc)) from None
    if settings.layout == "flat" and not settings.project:
        raise ConfigError("PYPIREG_LAYOUT=flat serves one project: set PYPIREG_PROJECT")
    catalog = None
    if settings.catalog:
        try:
            catalog = open_catalog(settings.catalog, create=False)
        except CatalogError as exc:
            raise ConfigError(f"PYPIREG_CATALOG: {exc}") from None
    elif not (data / CATALOG).is_file():
        raise ConfigError(
            f"no registry at {data.resolve()}: check PYPIREG_DATA, or create one with:"
            f" pypireg init --data {data}")
    proxies = _count(environ, "PYPIREG_PROXY_COUNT", smallest=0) or 0
    try:
        storage = open_storage(settings.storage) if settings.storage else None
    except ValueError as exc:
        raise ConfigError(f"PYPIREG_STORAGE: {exc}") from None
    try:
        registry = create_app(data, **{**settings.arguments(), "catalog": catalog,
                                       "storage": storage})
    except ValueError as exc:  # what only the settings together say, named by the message
        raise ConfigError(str(exc)) from None
    if settings.layout == "flat" and registry.catalog.project(settings.project or "") is None:
        raise ConfigError(f"PYPIREG_PROJECT: no project {settings.project!r} to serve: create it"
                          f" with pypireg project create {settings.project}")
    # As pypireg serve mounts it: the flat layout at the root, as pypiserver has it.
    prefix = environ.get("PYPIREG_PREFIX", "/" if settings.layout == "flat" else DEFAULT_PREFIX)
    app: WSGIApplication = site(registry, api=prefix)
    # A worker that stops (gunicorn's graceful exit, a restart) writes the downloads it
    # noted since its last flush.
    # (atexit runs the last registered first: the downloads are written, then the files
    # this worker is still fetching or storing waited for.)
    if registry.upstreams is not None:
        atexit.register(settle_on_exit, registry.upstreams.files)
    atexit.register(registry.downloads.flush)
    registry.deliverer.serve()  # webhook deliveries: this process sends, for good
    if registry.log_format == "json":  # gunicorn's access log is text: this one is JSON
        configure("json")
        app = JsonAccessLog(app)
    if proxies:
        app = ProxyFix(app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                       x_prefix=proxies)
    return app


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

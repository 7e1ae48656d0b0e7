"""``pypireg serve``: the registry on waitress (with deadlines for slow clients:
deadlines.py), stopped cleanly by Ctrl+C or SIGTERM, with a plain-text request log on
stderr."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from contextlib import closing
from types import FrameType
from typing import TYPE_CHECKING

from .. import __version__
from ..catalog import open_catalog
from ..defaults import DEFAULT_DATA
from ..limits import MiB
from ..models import CLI
from ..requestlog import configure
from ..settings import SettingError, Settings
from ..upstream.files import settle_on_exit
from .binding import CannotBind, bind
from .common import checked_data, has_registry, where

if TYPE_CHECKING:
    from ..limits import Limits

# waitress's knobs (waitress/adjustments.py), and why these values:
SERVER = {
    # Threads run the registry; a download is sent by waitress's event loop from the file
    # itself (wsgi.file_wrapper), so only uploads, pages and API calls hold one. Eight keep
    # pages answering while a few large uploads are parsed and stored.
    "threads": 8,
    # The connections open at once, and the deadlines for slow clients: deadlines.py.
    # Read request bodies 256 KiB at a time, not 8 KiB: the event loop then takes a 1 GB
    # body in under 2 seconds rather than 4 to 6.
    "recv_bytes": 256 * 1024,
    # An answer the registry streams (a first download from an upstream, docs/proxy.md)
    # waits for its client past 256 KiB held for it, rather than waitress's 16 MiB, so that
    # many such downloads at once keep memory flat. A page is one write, whatever its size.
    "outbuf_high_watermark": 256 * 1024,
    "ident": "pypireg",  # the Server header
    # serve has no proxy option: the headers reach the registry as sent, and it ignores
    # them (pypireg.wsgi believes them through ProxyFix when PYPIREG_PROXY_COUNT says so).
    "clear_untrusted_proxy_headers": False,
    "expose_tracebacks": False,
}
# Room above the largest body the registry reads itself (the file, the other form fields
# and the multipart framing, forms.parse_upload): within it, the registry answers an upload
# that is too large with its own 413 that says the limit; beyond it, waitress refuses the
# body from its Content-Length, before reading it.
BODY_MARGIN = 2 * MiB


class Stop(SystemExit):
    """SIGTERM, raised in the main thread as Ctrl+C raises KeyboardInterrupt: a SystemExit,
    as only that and KeyboardInterrupt get through every handler of waitress's event loop.
    ``server.run()`` catches both, stops the threads and returns."""


def run(args: argparse.Namespace) -> int:
    try:  # the flags given, else their PYPIREG_ variables
        settings = Settings.read(vars(args), os.environ)
    except SettingError as exc:
        print(f"pypireg: error: {exc}", file=sys.stderr)
        return 2
    flat = settings.layout == "flat"
    if flat and not settings.project:
        print("pypireg: error: --layout flat needs --project PATH", file=sys.stderr)
        return 2
    # The address first: a port in use must not leave an empty registry behind.
    try:
        sock = bind(args.host, args.port)
    except CannotBind as exc:
        print(f"pypireg: error: {exc}", file=sys.stderr)
        return 2
    with closing(sock):
        checked_data(args)  # before a catalog elsewhere is created
        return _serve(args, settings, sock, fresh=not has_registry(args))


def _serve(args: argparse.Namespace, settings: Settings, sock: socket.socket, *,
           fresh: bool) -> int:
    from ..app import create_app
    from ..requestlog import JsonAccessLog
    from ..website import normal_prefix, site
    from .accesslog import AccessLog
    from .deadlines import create_server

    catalog = open_catalog(settings.catalog) if settings.catalog else None
    if catalog is not None:
        args.opened.append(catalog)
    try:
        registry = create_app(args.data, **{**settings.arguments(), "catalog": catalog})
    except ValueError as exc:  # a setting that cannot be used, named by the message
        print(f"pypireg: error: {exc}", file=sys.stderr)
        return 2
    flat, project = settings.layout == "flat", settings.project or ""
    if flat and registry.catalog.project(project) is None:
        parts = project.strip("/").split("/")
        for depth in range(1, len(parts)):  # its groups first, as pypiserver has none
            group = "/".join(parts[:depth])
            if registry.catalog.group_by_path(group) is None:
                registry.create_group(group, "private", actor=CLI)
                print(f"created private group {group}")
        registry.create_project(project, "private", actor=CLI)
        print(f"created private project {project}")
    registry.deliverer.serve()  # webhook deliveries: this process sends, for good
    prefix = normal_prefix(args.prefix if args.prefix is not None else ("" if flat else "/api/v4"))
    _configure_logging(registry.log_format)
    pages = bool(prefix) and not args.no_ui
    app = site(registry, api=prefix, pages=pages)
    logged = JsonAccessLog(app) if registry.log_format == "json" else AccessLog(app)
    server = create_server(logged, sock, header_timeout=args.header_timeout,
                           body_timeout=args.body_timeout,
                           max_request_body_size=max_body_size(registry.limits),
                           # the host of links, for a request without a Host header
                           server_name=_url_host(args.host), **SERVER)
    base = f"http://{_url_host(args.host)}:{server.effective_port}{prefix}"
    if fresh:
        print(f"created an empty registry in {where(args)}")
        if not flat:  # what docs/quickstart.md's step 3 does
            data = "" if args.data == DEFAULT_DATA and not args.catalog else (
                " --catalog URL" if args.catalog else f" --data {args.data}")
            print(f"  next: pypireg project create PATH{data}   # private unless --public")
            print(f"        pypireg token create NAME --grant PATH:write{data}")
    print(f"pypireg {__version__} serving {where(args)} at {base}")
    if flat:
        print(f"  pip/uv index: {base}/simple/")
        print(f"  twine upload: {base}/")
    else:
        print(f"  pip/uv index: {base}/projects/<id or path>/packages/pypi/simple")
        print(f"  twine upload: {base}/projects/<id or path>/packages/pypi")
    if registry.upstreams is not None:
        print(f"  upstreams:    {registry.upstreams.describe()}")
    elif not flat:
        print("  upstreams:    none, so public dependencies (six, requests) do not install"
              " through these indexes: add --upstream https://pypi.org/simple/"
              " --upstream-mode cache (docs/proxy.md)")
    if pages:
        print(f"  web pages:    http://{_url_host(args.host)}:{server.effective_port}/")
    print("press Ctrl+C to stop", flush=True)
    why = "Ctrl+C"

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal why
        why = "SIGTERM"
        raise Stop(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.run()  # returns once Ctrl+C or SIGTERM has stopped it
    except (KeyboardInterrupt, Stop):  # one that came before the event loop started
        pass
    finally:
        # The threads finish what they are running (an upload being stored), for up to 5 s.
        server.task_dispatcher.shutdown()
        server.close()
        signal.signal(signal.SIGTERM, previous)
        registry.downloads.flush()  # the downloads noted since the last flush
        if registry.upstreams is not None:  # files sent, maybe still being stored
            settle_on_exit(registry.upstreams.files)
    print(f"pypireg stopped ({why})", flush=True)
    return 0


def max_body_size(limits: Limits) -> int:
    """The largest request body waitress accepts (it reads each one whole, before the
    registry sees the request): the largest upload the registry takes, with room to spare."""
    return limits.max_upload_size + limits.max_form_fields_size + BODY_MARGIN


def _configure_logging(log_format: str) -> None:
    """Warnings and errors, waitress's and the registry's, on stderr as bare messages
    (beside the request log), or the registry's as JSON objects with its events; nothing
    on stdout."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    configure(log_format)
    # "Task queue depth is N" whenever a request waits for a thread: load, not a fault.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

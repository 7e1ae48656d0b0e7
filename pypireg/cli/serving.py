"""``pypireg serve``: the registry on werkzeug's threaded server, stopped cleanly by Ctrl+C or
SIGTERM, logging plain text wherever its log is not a terminal."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

from .. import __version__
from ..app import create_app, mount, normal_prefix
from ..catalog import open_catalog
from ..models import CLI
from .common import has_registry, where


class Stop(Exception):
    """SIGTERM, raised in the main thread as Ctrl+C raises KeyboardInterrupt."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


class PlainRequestLog(WSGIRequestHandler):
    """werkzeug's request log, without its colour codes when stderr is not a terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if sys.stderr.isatty():
            super().log_request(code, size)
        else:
            self.log("info", '"%s" %s %s', self.requestline, code, size)


def run(args: argparse.Namespace) -> int:
    fresh = not has_registry(args)
    flat = args.layout == "flat"
    if flat and not args.project:
        print("pypireg: error: --layout flat needs --project PATH", file=sys.stderr)
        return 2
    catalog = open_catalog(args.catalog) if args.catalog else None
    if catalog is not None:
        args.opened.append(catalog)
    registry = create_app(args.data, catalog=catalog, storage=args.storage,
                          layout=args.layout, project=args.project,
                          upstream=args.upstream, trusted_hosts=args.trusted_hosts,
                          max_upload_size=args.max_upload_size)
    if flat and registry.catalog.project(args.project) is None:
        registry.create_project(args.project, "private", actor=CLI)
        print(f"created private project {args.project}")
    prefix = normal_prefix(args.prefix if args.prefix is not None else ("" if flat else "/api/v4"))
    server = make_server(args.host, args.port, mount(registry, prefix), threaded=True,
                         request_handler=PlainRequestLog)
    base = f"http://{_url_host(args.host)}:{server.server_port}{prefix}"
    if fresh:
        print(f"created an empty registry in {where(args)}")
        if not flat:
            print(f"  next: pypireg project create NAME --public --data {args.data}")
    print(f"pypireg {__version__} serving {where(args)} at {base}")
    if flat:
        print(f"  pip/uv index: {base}/simple/")
        print(f"  twine upload: {base}/")
    else:
        print(f"  pip/uv index: {base}/projects/<id or path>/packages/pypi/simple")
        print(f"  twine upload: {base}/projects/<id or path>/packages/pypi")
    print("press Ctrl+C to stop", flush=True)
    previous = signal.signal(signal.SIGTERM, _stop)
    why = "Ctrl+C"
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    except Stop:
        why = "SIGTERM"
    finally:
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    print(f"pypireg stopped ({why})", flush=True)
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

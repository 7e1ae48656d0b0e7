"""A Pyramid application with its own pages and a package registry under /pypi.

    pip install pyramid waitress
    python examples/pyramid_host.py ./pypireg-data [--host 127.0.0.1] [--port 8080]

A catch-all route hands /pypi/... to the registry through ``wsgiapp2``, which moves the
matched prefix into SCRIPT_NAME, so every URL the registry emits starts with /pypi.
"""

from __future__ import annotations

import argparse

from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.wsgi import wsgiapp2

import pypireg


def home(request):  # type: ignore[no-untyped-def]
    return Response("<h1>Acme intranet</h1><p>Python packages live under /pypi.</p>")


def health(request):  # type: ignore[no-untyped-def]
    return {"ok": True}


def create(data_dir: str):  # type: ignore[no-untyped-def]
    registry = pypireg.create_app(data_dir)
    with Configurator() as config:
        config.add_route("home", "/")
        config.add_view(home, route_name="home")
        config.add_route("health", "/health")
        config.add_view(health, route_name="health", renderer="json")
        config.add_route("pypi", "/pypi/*subpath")
        config.add_view(wsgiapp2(registry), route_name="pypi")
        app = config.make_wsgi_app()
    app.pypireg = registry  # type: ignore[attr-defined]
    return app


if __name__ == "__main__":
    from waitress import serve

    parser = argparse.ArgumentParser(description="a Pyramid host with the registry at /pypi")
    parser.add_argument("data", nargs="?", default="./pypireg-data")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (waitress's"
                        " own default would be every interface)")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080; 0 picks one")
    args = parser.parse_args()
    serve(create(args.data), host=args.host, port=args.port)

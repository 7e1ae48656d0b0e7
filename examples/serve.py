"""The registry alone on a bare WSGI server (the standard library's wsgiref).

    python examples/serve.py ./pypireg-data [--host 127.0.0.1] [--port 8080]

Then: pip install --index-url http://127.0.0.1:8080/api/v4/projects/<id>/packages/pypi/simple ...
wsgiref serves one request at a time; use `pypireg serve`, gunicorn or waitress for more.
"""

from __future__ import annotations

import argparse
from wsgiref.simple_server import make_server

import pypireg


def create(data_dir: str):  # type: ignore[no-untyped-def]
    """The WSGI application: the registry under /api/v4, as on GitLab."""
    return pypireg.mount(pypireg.create_app(data_dir), "/api/v4")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the registry on wsgiref")
    parser.add_argument("data", nargs="?", default="./pypireg-data")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080; 0 picks one")
    args = parser.parse_args()
    with make_server(args.host, args.port, create(args.data)) as server:
        print(f"serving {args.data} at http://{args.host}:{server.server_port}/api/v4",
              flush=True)
        server.serve_forever()

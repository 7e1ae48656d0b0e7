"""The registry alone on a bare WSGI server (the standard library's wsgiref).

    python examples/serve.py ./pypireg-data 8080

Then: pip install --index-url http://127.0.0.1:8080/api/v4/projects/<id>/packages/pypi/simple ...
wsgiref serves one request at a time; use `pypireg serve`, gunicorn or waitress for more.
"""

from __future__ import annotations

import sys
from wsgiref.simple_server import make_server

import pypireg


def create(data_dir: str):  # type: ignore[no-untyped-def]
    """The WSGI application: the registry under /api/v4, as on GitLab."""
    return pypireg.mount(pypireg.create_app(data_dir), "/api/v4")


if __name__ == "__main__":
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "./pypireg-data"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
    with make_server("127.0.0.1", port, create(data_dir)) as server:
        print(f"serving {data_dir} at http://127.0.0.1:{server.server_port}/api/v4", flush=True)
        server.serve_forever()

"""A Flask application with its own pages and a package registry under /pypi.

    pip install flask
    python examples/flask_host.py ./pypireg-data [--host 127.0.0.1] [--port 8080]

The registry is a separate WSGI app dispatched by prefix, so Flask's routing, sessions and
error handlers never see its requests, and every URL it emits starts with /pypi.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import pypireg


def create(data_dir: str) -> Flask:
    app = Flask(__name__)
    registry = pypireg.create_app(data_dir)
    app.extensions["pypireg"] = registry

    @app.get("/")
    def home():  # type: ignore[no-untyped-def]
        return "<h1>Acme intranet</h1><p>Python packages live under /pypi.</p>"

    @app.get("/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify(ok=True)

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/pypi": registry})  # type: ignore[method-assign]
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a Flask host with the registry at /pypi")
    parser.add_argument("data", nargs="?", default="./pypireg-data")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080; 0 picks one")
    args = parser.parse_args()
    create(args.data).run(host=args.host, port=args.port)

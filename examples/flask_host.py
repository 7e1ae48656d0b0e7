"""A Flask application with its own pages and a package registry under /pypi.

    pip install flask
    python examples/flask_host.py ./pypireg-data

The registry is a separate WSGI app dispatched by prefix, so Flask's routing, sessions and
error handlers never see its requests, and every URL it emits starts with /pypi.
"""

from __future__ import annotations

import sys

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
    create(sys.argv[1] if len(sys.argv) > 1 else "./pypireg-data").run(port=8080)

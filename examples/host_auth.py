"""An AuthProvider that trusts the host application's own users.

The host (a Flask app here) keeps a user table with password hashes and roles. pip, uv and
twine log in with those same accounts over HTTP Basic; each role maps to what it may do:

    guest       nothing beyond what anonymous callers get
    viewer      read
    developer   read, write (upload)
    maintainer  read, write, delete

Public projects stay readable by anyone.

    pip install flask
    python examples/host_auth.py ./pypireg-data
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass

from flask import Flask, jsonify, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.security import check_password_hash, generate_password_hash

import pypireg

ROLE_ACTIONS: dict[str, set[str]] = {
    "guest": set(),
    "viewer": {"read"},
    "developer": {"read", "write"},
    "maintainer": {"read", "write", "delete"},
}


class HostUsers:
    """The host's user table (a dict here; a database table in a real application)."""

    def __init__(self) -> None:
        self._users: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, password: str, role: str) -> None:
        if role not in ROLE_ACTIONS:
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            self._users[name] = (generate_password_hash(password), role)

    def role(self, name: str, password: str) -> str | None:
        """The user's role if the password is right, else None."""
        with self._lock:
            entry = self._users.get(name)
        if entry is None or not check_password_hash(entry[0], password):
            return None
        return entry[1]


@dataclass(frozen=True)
class HostPrincipal(pypireg.Principal):
    role: str = "viewer"


class HostUserAuth:
    def __init__(self, users: HostUsers) -> None:
        self.users = users

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            return None
        role = self.users.role(auth.username, auth.password or "")
        return HostPrincipal(auth.username, role) if role else None

    def permits(self, principal, action, project):  # type: ignore[no-untyped-def]
        if action == "read" and project.is_public:
            return True
        return isinstance(principal, HostPrincipal) and action in ROLE_ACTIONS[principal.role]


def create(data_dir: str, users: HostUsers | None = None) -> Flask:
    users = users or HostUsers()
    auth = HostUserAuth(users)
    registry = pypireg.create_app(data_dir, auth=auth)
    app = Flask(__name__)
    app.extensions["pypireg"] = registry
    app.extensions["users"] = users

    @app.get("/whoami")
    def whoami():  # type: ignore[no-untyped-def]
        principal = auth.authenticate(request)
        if principal is None:
            return jsonify(user=None), 401
        return jsonify(user=principal.name, role=principal.role)

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/pypi": registry})  # type: ignore[method-assign]
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a Flask host whose users log in to pip")
    parser.add_argument("data", nargs="?", default="./pypireg-data")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="default: 8080; 0 picks one")
    args = parser.parse_args()
    host = create(args.data)
    host.extensions["users"].add("admin", "change-me", "maintainer")
    host.run(host=args.host, port=args.port)

"""What many test modules share, kept apart from them so that no test module imports
another or a conftest.py: registries set up for a test (``Env``, ``Tree``) and what reads
their state, credentials, request bodies sent by hand, pypireg's command line run
in-process, the examples loaded as modules, peak memory, and how a test that lacks a part
skips (or, under CI, fails).

Topics with a module of their own: distributions (wheels and sdists to upload),
doc_blocks (the docs' code blocks), archives (hostile archives), disks (full and
read-only disks), postgres, s3, upstreams (live servers and ports), seeding (large
catalogs); under e2e/, live (a live registry and real clients) and clients (docs/clients.md).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import re
import sys
import tracemalloc
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NoReturn

import pytest
from webtest import TestApp
from werkzeug.test import EnvironBuilder, run_wsgi_app
from werkzeug.wrappers import Response

import pypireg

from .distributions import wheel_bytes, wheel_metadata, wheel_name

API = "/projects/{project}/packages/pypi"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def missing(part: str, how: str) -> NoReturn:
    """End a test that cannot run here for want of ``part``: skip it, saying ``how`` to get
    it; but under CI (``CI=true``), whose .ci/run provides every part, fail it, since there
    it must run."""
    message = f"needs {part}: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI runs .ci/run, which provides it)")
    pytest.skip(message)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def basic(token: str, username: str = "someone") -> dict[str, str]:
    """The Authorization header of HTTP Basic credentials: ``username`` and ``token``."""
    pair = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


# -- registries set up for a test ----------------------------------------------------------


class Env:
    """A registry with a public and a private project and tokens of each access level."""

    def __init__(self, registry: pypireg.Registry) -> None:
        self.registry = registry
        self.app = TestApp(registry)
        registry.create_group("acme", "public")
        registry.create_group("acme/team", "private")
        self.public = registry.create_project("acme/tools", "public")
        self.private = registry.create_project("acme/team/secret", "private")
        self.other = registry.create_project("acme/team/other", "private")
        self.reader = registry.create_token("reader", ["acme/team/secret:read"])
        self.writer = registry.create_token("writer", ["acme:write"])
        self.deleter = registry.create_token("deleter", ["acme/team:delete"])
        self.outsider = registry.create_token("outsider", ["acme/team/other:write"])

    def upload(
        self,
        project: str | int,
        file_name: str,
        content: bytes,
        *,
        token: str | None = None,
        user: str = "someone",
        status: int | str = "*",
        method: str = "POST",
        **fields: str,
    ):
        send = self.app.post if method == "POST" else self.app.put
        return send(
            API.format(project=project),
            params=list(fields.items()),
            upload_files=[("content", file_name, content)],
            headers=basic(token, user) if token else {},
            status=status,
        )

    def upload_wheel(
        self, project: str | int, name: str, version: str, *, token: str | None = None,
        user: str = "someone", requires_python: str = "", status: int | str = "*",
        payload: str = "",
    ):
        data = wheel_bytes(name, version, requires_python, payload)
        return self.upload(
            project, wheel_name(name, version), data, token=token, user=user, status=status,
            name=name, version=version, requires_python=requires_python,
            sha256_digest=sha256(data),
        )


class Tree(Env):
    """Three levels of groups with public and private projects, and a token of each kind.

    acme (public)
      acme/web (public)        acme/internal (private)
      acme/platform (public)
        acme/platform/core (public)   acme/platform/secret (private)
        acme/platform/infra (private)
          acme/platform/infra/deploy (private)
    other (private)
      other/x (private)
    """

    def __init__(self, registry: pypireg.Registry) -> None:
        self.registry = registry
        self.app = TestApp(registry)
        for path, visibility in [
            ("acme", "public"), ("acme/platform", "public"), ("acme/platform/infra", "private"),
            ("other", "private"),
        ]:
            registry.create_group(path, visibility)
        self.projects = {
            path: registry.create_project(path, visibility)
            for path, visibility in [
                ("acme/web", "public"), ("acme/internal", "private"),
                ("acme/platform/core", "public"), ("acme/platform/secret", "private"),
                ("acme/platform/infra/deploy", "private"), ("other/x", "private"),
            ]
        }
        self.writer = registry.create_token("job", ["acme:write", "other:write"], "job")
        self.platform_reader = registry.create_token("platform", ["acme/platform:read"])
        self.deployer = registry.create_token(
            "deployer", ["acme/platform/infra/deploy:read"], "deploy")
        self.deleter = registry.create_token("deleter", ["acme/platform/secret:delete"])
        self.outsider = registry.create_token("outsider", ["other:read"])

    def auth(self, token: str) -> dict[str, str]:
        """Basic credentials with the username each token kind needs."""
        user = {self.writer: "gitlab-ci-token", self.deployer: "deployer"}.get(token, "anyone")
        return basic(token, user)

    def upload_wheel(self, project, name, version, *, token=None, **kw):  # type: ignore[override]
        token = token or self.writer
        data = wheel_bytes(name, version, kw.pop("requires_python", ""), kw.pop("payload", ""))
        return self.app.post(
            API.format(project=project), params=[("name", name), ("version", version)],
            upload_files=[("content", wheel_name(name, version), data)],
            headers=self.auth(token), status=kw.pop("status", 201),
        )


# -- what a registry holds -------------------------------------------------------------------


def wheel_keys(name: str, version: str, requires_python: str = "", payload: str = "") -> list[str]:
    """The storage keys one uploaded test wheel occupies: the file and its metadata."""
    from pypireg.storage import blob_key

    metadata = wheel_metadata(name, version, requires_python).encode()
    return sorted([blob_key(sha256(wheel_bytes(name, version, requires_python, payload))),
                   blob_key(sha256(metadata))])


def blobs(env: Env) -> list[str]:
    """Every key in the registry's (memory or file system) storage."""
    return env.registry.storage.keys()  # type: ignore[attr-defined]


def staged(env: Env) -> list[str]:
    """The uploads left in the staging directory."""
    return sorted(
        name for name in os.listdir(env.registry.staging_dir) if name.startswith("upload-")
    )


def stored_state(env: Env) -> tuple:
    """Everything an upload could change: rows, blobs and staging leftovers."""
    catalog = env.registry.catalog
    rows = (
        [tuple(r.values()) for r in catalog.rows("SELECT * FROM packages ORDER BY id")],
        [tuple(r.values()) for r in catalog.rows("SELECT * FROM package_files ORDER BY id")],
        [tuple(r.values()) for r in catalog.rows("SELECT id, serial FROM projects ORDER BY id")],
    )
    return rows, blobs(env), staged(env)


def recorded_queries(catalog: pypireg.Catalog) -> list[str]:
    """Every read ``catalog`` runs from now on (rows, value, tuples), as it runs; ``del``
    the three attributes to stop recording."""
    seen: list[str] = []

    def recorded(run):  # type: ignore[no-untyped-def]
        def recording(sql, params=()):  # type: ignore[no-untyped-def]
            seen.append(sql)
            return run(sql, params)
        return recording

    for name in ("rows", "value", "tuples"):
        setattr(catalog, name, recorded(getattr(catalog, name)))
    return seen


def links(html: str) -> list[tuple[str, str, str]]:
    """``(href, data-requires-python as written, text)`` for each link of a simple page."""
    return re.findall(
        r'<a href="([^"]*)" data-requires-python="([^"]*)"[^>]*>([^<]*)</a><br>', html)


# -- requests written by hand ------------------------------------------------------------------


def multipart(fields: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]],
              file_name: str | None = None, content: bytes = b"", *, boundary: str = "XX",
              file_type: str | None = "application/octet-stream") -> tuple[bytes, str]:
    """A multipart/form-data body of ``fields`` and, unless ``file_name`` is None, the file
    part ``content`` (with a Content-Type of ``file_type`` unless that is None), as it
    stands, so that a test may cut or spoil it; returns the body and its Content-Type."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
             + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
             for name, value in pairs]
    if file_name is not None:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
                f'filename="{file_name}"\r\n')
        if file_type is not None:
            head += f"Content-Type: {file_type}\r\n"
        parts.append(f"{head}\r\n".encode() + content + b"\r\n")
    return (b"".join(parts) + f"--{boundary}--\r\n".encode(),
            f"multipart/form-data; boundary={boundary}")


def raw_post(env: Env, body: bytes, content_type: str, *, content_length: int | None = None):
    """POST ``body`` to acme/tools's upload URL as the writer, with the Content-Length
    given (by default the body's length), whatever the body holds."""
    builder = EnvironBuilder(
        path=API.format(project="acme/tools"),
        method="POST",
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers=basic(env.writer),
    )
    environ = builder.get_environ()
    # Set by hand and run without werkzeug's Client, which would both recompute it
    # from the stream's real length.
    environ["CONTENT_LENGTH"] = str(len(body) if content_length is None else content_length)
    app_iter, status, headers = run_wsgi_app(env.registry, environ, buffered=True)
    return Response(b"".join(app_iter), status=status, headers=headers)


# -- the command line, the examples, the process ---------------------------------------------


def run(capsys, *argv: str) -> tuple[int, list[str], str]:  # type: ignore[no-untyped-def]
    """pypireg's command line in this process: its exit code, the lines it printed and
    what it wrote to stderr."""
    from pypireg.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def load_example(name: str):  # type: ignore[no-untyped-def]
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def peak_growth(action: Callable[[], object]) -> tuple[object, int]:
    """``action()`` and how far the process's peak memory rose above where it stood."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:  # elsewhere: Python's own allocations only
        tracemalloc.start()
        try:
            return action(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    before = _status("VmRSS")
    result = action()
    return result, _status("VmHWM") - before


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from webtest import TestApp

import pypireg

API = "/projects/{project}/packages/pypi"


def wheel_metadata(name: str, version: str, requires_python: str = "") -> str:
    """The METADATA that :func:`wheel_bytes` puts in its wheel."""
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    return metadata


def wheel_keys(name: str, version: str, requires_python: str = "", payload: str = "") -> list[str]:
    """The storage keys one uploaded test wheel occupies: the file and its metadata."""
    from pypireg.storage import blob_key

    metadata = wheel_metadata(name, version, requires_python).encode()
    return sorted([blob_key(sha256(wheel_bytes(name, version, requires_python, payload))),
                   blob_key(sha256(metadata))])


def wheel_bytes(name: str, version: str, requires_python: str = "", payload: str = "") -> bytes:
    """A small but real wheel: a module plus dist-info METADATA, WHEEL and RECORD."""
    module = name.replace("-", "_").replace(".", "_").lower()
    dist_info = f"{module}-{version}.dist-info"
    metadata = wheel_metadata(name, version, requires_python)
    members = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n{payload}",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL":
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/RECORD": "",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in members.items():
            # A fixed timestamp: the same arguments always give the same bytes.
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def wheel_name(name: str, version: str) -> str:
    return f"{name.replace('-', '_').replace('.', '_').lower()}-{version}-py3-none-any.whl"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def basic(token: str, username: str = "someone") -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """One PostgreSQL cluster for the session, with the catalog's schema in a template."""
    from . import postgres

    with postgres.server() as server:
        server.template = postgres.make_template(server)  # type: ignore[attr-defined]
        yield server


@pytest.fixture(params=ENGINES)
def catalog(request):  # type: ignore[no-untyped-def]
    """A new, empty catalog on each engine: in-memory SQLite, and a fresh PostgreSQL
    database (skipped, with how to get one, where there is no PostgreSQL)."""
    if request.param == "sqlite":
        yield pypireg.Catalog()
        return
    from pypireg.catalog.postgres import PostgresEngine

    server = request.getfixturevalue("postgres_server")
    with server.database(server.template) as url:
        engine = PostgresEngine(url, max_connections=4)
        try:
            yield pypireg.Catalog(engine=engine)
        finally:
            engine.close()


@pytest.fixture
def env(tmp_path, catalog) -> Env:
    """In-memory storage on each catalog engine; staging in the test's own directory."""
    return Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging")))


@pytest.fixture
def fs_env(tmp_path) -> Env:
    return Env(pypireg.create_app(tmp_path / "data"))


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


@pytest.fixture
def tree(tmp_path, catalog) -> Tree:
    return Tree(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path / "staging")))


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):  # type: ignore[no-untyped-def]
    """Import ``examples/<name>.py`` as a module."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def sdist_bytes(name: str, version: str, requires_python: str = "",
                metadata_version: str = "2.2") -> bytes:
    """A small but real sdist: ``<name>-<version>/PKG-INFO`` and a module, gzipped tar."""
    import tarfile

    base = f"{name.replace('-', '_').replace('.', '_').lower()}-{version}"
    pkg_info = f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
    if requires_python:
        pkg_info += f"Requires-Python: {requires_python}\n"
    buffer = io.BytesIO()
    # A fixed time in the gzip header too: the same arguments always give the same bytes.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as archive:
        for member, text in ((f"{base}/PKG-INFO", pkg_info), (f"{base}/setup.py", "")):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1577836800
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    """``e2e`` for the tests under tests/e2e, ``postgres`` for those that start or use a
    PostgreSQL server, so that ``pytest -m "not e2e and not postgres"`` runs the rest."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        if e2e in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
        uses = set(getattr(item, "fixturenames", ()))
        if "postgres_server" in uses or "registry_on_postgres" in uses or (
                "catalog" in uses and "[postgresql" in item.nodeid):
            item.add_marker(pytest.mark.postgres)


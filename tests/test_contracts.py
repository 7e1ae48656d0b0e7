"""The contract kit (pypireg.testing) run against every built-in and example implementation."""

from __future__ import annotations

import pytest

import pypireg
from pypireg.testing import AuthProviderContract, StorageContract

from .doc_blocks import example
from .helpers import basic, load_example


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    def storage(self):  # type: ignore[no-untyped-def]
        return pypireg.MemoryStorage()


class TestFileSystemStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path):  # type: ignore[no-untyped-def]
        return pypireg.FileSystemStorage(tmp_path / "files")


class TestExampleSQLiteChunkStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path):  # type: ignore[no-untyped-def]
        return load_example("custom_storage").SQLiteChunkStorage(str(tmp_path / "blobs.db"))


class TestTokenAuth(AuthProviderContract):
    @pytest.fixture
    def registry(self, tmp_path):  # type: ignore[no-untyped-def]
        registry = pypireg.create_app(staging_dir=str(tmp_path))
        registry.create_group("acme", "private")
        registry.create_project("acme/lib", "private")
        registry.create_project("acme/other", "private")
        return registry

    @pytest.fixture
    def provider(self, registry):  # type: ignore[no-untyped-def]
        return registry.auth

    @pytest.fixture
    def project(self, registry):  # type: ignore[no-untyped-def]
        return registry.catalog.project("acme/lib")

    @pytest.fixture
    def credentials(self, registry):  # type: ignore[no-untyped-def]
        tokens = {access: registry.create_token(access, [f"acme/lib:{access}"])
                  for access in ("read", "write", "delete")}
        tokens["none"] = registry.create_token("none", ["acme/other:delete"])
        tokens["bad"] = "pypireg-not-a-token"
        return lambda kind: basic(tokens[kind])


class TestExampleHostUserAuth(AuthProviderContract):
    @pytest.fixture
    def example(self):  # type: ignore[no-untyped-def]
        return load_example("host_auth")

    @pytest.fixture
    def provider(self, example):  # type: ignore[no-untyped-def]
        users = example.HostUsers()
        users.add("reader", "r-pass", "viewer")
        users.add("writer", "w-pass", "developer")
        users.add("deleter", "d-pass", "maintainer")
        users.add("guest", "g-pass", "guest")
        return example.HostUserAuth(users)

    @pytest.fixture
    def project(self):  # type: ignore[no-untyped-def]
        return pypireg.Project(id=1, path="acme/lib", name="lib", group_id=None,
                               visibility="private", serial=0, created_at="")

    @pytest.fixture
    def credentials(self):  # type: ignore[no-untyped-def]
        accounts = {"read": ("reader", "r-pass"), "write": ("writer", "w-pass"),
                    "delete": ("deleter", "d-pass"), "none": ("guest", "g-pass"),
                    "bad": ("reader", "wrong")}
        return lambda kind: basic(accounts[kind][1], accounts[kind][0])


class TestDocsSQLiteBlobStorage(StorageContract):
    """The storage example in docs/protocols.md."""

    @pytest.fixture
    def storage(self, tmp_path):  # type: ignore[no-untyped-def]
        return example("class SQLiteBlobStorage", tmp_path)["SQLiteBlobStorage"](
            str(tmp_path / "blobs.db"))


class TestDocsFrontEndAuth(AuthProviderContract):
    """The auth example in docs/protocols.md: every signed-in user may read."""

    @pytest.fixture
    def provider(self, tmp_path):  # type: ignore[no-untyped-def]
        names = example("class FrontEndAuth", tmp_path)
        return names["FrontEndAuth"]({"writer"}, {"deleter"})

    @pytest.fixture
    def project(self):  # type: ignore[no-untyped-def]
        return pypireg.Project(id=1, path="lib", name="lib", group_id=None,
                               visibility="private", serial=0, created_at="")

    @pytest.fixture
    def credentials(self):  # type: ignore[no-untyped-def]
        users = {"read": "reader", "write": "writer", "delete": "deleter"}

        def headers(kind):  # type: ignore[no-untyped-def]
            if kind in ("none", "bad"):
                return None if kind == "none" else {}
            return {"X-Remote-User": users[kind]}

        return headers

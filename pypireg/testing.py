"""Contract tests that any Storage or AuthProvider can run against itself (needs pytest).

Subclass a contract in your own test module and supply its fixtures::

    import pytest
    from pypireg.testing import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self, tmp_path):
            return MyStorage(tmp_path)

pytest then runs every ``test_*`` method of the contract against your implementation. The
built-in backends and the examples pass these same tests.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from .app import create_app
from .models import ACTIONS, Principal, Project
from .protocols import AuthProvider, ListsKeys, Storage

KEY = "sha256/ab/cd/abcdef"


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as stream:
        return stream.read()


class StorageContract:
    """What the registry relies on from a storage. Supply a ``storage`` fixture."""

    @pytest.fixture
    def storage(self) -> Storage:
        raise NotImplementedError("define a `storage` fixture returning the storage to test")

    def test_implements_the_protocol(self, storage: Storage) -> None:
        assert isinstance(storage, Storage)

    def test_put_file_then_open(self, storage: Storage, tmp_path) -> None:
        source = tmp_path / "source"
        source.write_bytes(b"file bytes")
        storage.put_file(KEY, str(source))
        assert storage.exists(KEY)
        assert _read(storage, KEY) == b"file bytes"

    def test_put_stream_then_open(self, storage: Storage) -> None:
        storage.put_stream(KEY, io.BytesIO(b"stream bytes"))
        assert _read(storage, KEY) == b"stream bytes"

    def test_empty_file(self, storage: Storage) -> None:
        storage.put_stream(KEY, io.BytesIO(b""))
        assert storage.exists(KEY) and _read(storage, KEY) == b""

    def test_large_file_round_trips_in_pieces(self, storage: Storage) -> None:
        data = os.urandom(3 * 1024 * 1024 + 17)
        storage.put_stream(KEY, io.BytesIO(data))
        digest = hashlib.sha256()
        with storage.open(KEY) as stream:
            while piece := stream.read(64 * 1024):
                digest.update(piece)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()

    def test_putting_again_replaces(self, storage: Storage) -> None:
        storage.put_stream(KEY, io.BytesIO(b"first"))
        storage.put_stream(KEY, io.BytesIO(b"second"))
        assert _read(storage, KEY) == b"second"

    def test_keys_are_independent(self, storage: Storage) -> None:
        storage.put_stream("sha256/aa/aa/one", io.BytesIO(b"one"))
        storage.put_stream("sha256/bb/bb/two", io.BytesIO(b"two"))
        storage.delete("sha256/aa/aa/one")
        assert not storage.exists("sha256/aa/aa/one")
        assert _read(storage, "sha256/bb/bb/two") == b"two"

    def test_missing_keys(self, storage: Storage) -> None:
        assert not storage.exists("sha256/00/00/missing")
        with pytest.raises(KeyError):
            storage.open("sha256/00/00/missing")
        storage.delete("sha256/00/00/missing")  # not an error

    def test_lists_its_keys_when_it_can(self, storage: Storage) -> None:
        if not isinstance(storage, ListsKeys):
            pytest.skip("this storage does not implement the optional ListsKeys")
        storage.put_stream("sha256/aa/aa/one", io.BytesIO(b"one"))
        storage.put_stream("sha256/bb/bb/two", io.BytesIO(b"two"))
        assert sorted(storage.keys()) == ["sha256/aa/aa/one", "sha256/bb/bb/two"]

    def test_serves_a_registry(self, storage: Storage, tmp_path) -> None:
        """Upload through a registry built on this storage, then download the file."""
        registry = create_app(storage=storage, staging_dir=str(tmp_path))
        registry.create_project("contract", "public")
        token = registry.create_token("contract", ["contract:write"])
        client = Client(registry)
        data = _sdist("pkg", "1.0")
        response = client.post(
            "/projects/contract/packages/pypi",
            data={"name": "pkg", "version": "1.0",
                  "content": (io.BytesIO(data), "pkg-1.0.tar.gz")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        digest = hashlib.sha256(data).hexdigest()
        download = client.get(f"/projects/contract/packages/pypi/files/{digest}/pkg-1.0.tar.gz")
        if download.status_code == 200:
            assert download.data == data
        else:  # a storage that answers downloads itself, with a redirect
            assert 300 <= download.status_code < 400, download.status_code


Credentials = Callable[[str], "dict[str, str] | None"]


class AuthProviderContract:
    """What the registry relies on from an auth provider.

    Supply three fixtures:

    - ``provider``: the provider under test;
    - ``project``: a private ``Project`` it knows about;
    - ``credentials``: a function from a caller kind to request headers, for the kinds
      ``"read"``, ``"write"`` and ``"delete"`` (a caller with that access to ``project``),
      ``"none"`` (a valid caller with no access to it; ``None`` when the provider has no
      such caller, say because every signed-in user may read) and ``"bad"`` (wrong
      credentials).
    """

    @pytest.fixture
    def provider(self) -> AuthProvider:
        raise NotImplementedError("define a `provider` fixture")

    @pytest.fixture
    def project(self) -> Project:
        raise NotImplementedError("define a `project` fixture: a private project")

    @pytest.fixture
    def credentials(self) -> Credentials:
        raise NotImplementedError("define a `credentials` fixture: kind -> headers")

    @staticmethod
    def request(headers: dict[str, str] | None = None) -> Request:
        return Request(EnvironBuilder(headers=Headers(headers or {})).get_environ())

    def caller(self, provider: AuthProvider, credentials: Credentials, kind: str
               ) -> Principal | None:
        return provider.authenticate(self.request(credentials(kind) or {}))

    def test_implements_the_protocol(self, provider: AuthProvider) -> None:
        assert isinstance(provider, AuthProvider)

    def test_no_credentials_is_anonymous(self, provider: AuthProvider) -> None:
        assert provider.authenticate(self.request()) is None

    def test_wrong_credentials_are_anonymous(self, provider, credentials) -> None:  # type: ignore[no-untyped-def]
        assert self.caller(provider, credentials, "bad") is None

    def test_anonymous_cannot_change_a_private_project(self, provider, project) -> None:  # type: ignore[no-untyped-def]
        assert not project.is_public
        for action in ACTIONS:
            assert provider.permits(None, action, project) is False

    @pytest.mark.parametrize("access", ACTIONS)
    def test_access_levels_include_the_lower_ones(self, provider, project, credentials,  # type: ignore[no-untyped-def]
                                                  access: str) -> None:
        principal = self.caller(provider, credentials, access)
        assert isinstance(principal, Principal)
        level = ACTIONS.index(access)  # type: ignore[arg-type]
        for index, action in enumerate(ACTIONS):
            assert provider.permits(principal, action, project) is (index <= level), action

    def test_a_caller_without_access_gets_nothing(self, provider, project, credentials) -> None:  # type: ignore[no-untyped-def]
        if credentials("none") is None:
            pytest.skip("this provider has no valid caller without access")
        principal = self.caller(provider, credentials, "none")
        assert isinstance(principal, Principal)
        for action in ACTIONS:
            assert provider.permits(principal, action, project) is False

    def test_authentication_is_repeatable(self, provider, credentials) -> None:  # type: ignore[no-untyped-def]
        assert self.caller(provider, credentials, "read") == self.caller(
            provider, credentials, "read")


def _sdist(name: str, version: str) -> bytes:
    """A minimal real sdist: ``<name>-<version>/PKG-INFO`` in a gzipped tar."""
    pkg_info = f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        member.size = len(pkg_info)
        archive.addfile(member, io.BytesIO(pkg_info))
    return buffer.getvalue()

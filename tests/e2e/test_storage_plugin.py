"""A storage of a package of its own, found by its URL scheme through the
``pypireg.storage`` entry points: the example of docs/protocols.md, built into a wheel and
installed (on PYTHONPATH) as a user would, then named by URL to ``pypireg serve``, ``gc``,
``migrate``, ``create_app`` and ``pypireg.wsgi``."""

from __future__ import annotations

import os
import sqlite3
import sys
import urllib.request
from pathlib import Path

import pytest

from ..distributions import wheel_bytes, wheel_name
from ..doc_blocks import example_code
from ..helpers import basic, sha256
from .live import run, serve_command, upload_form, writer_token


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """The docs' sqliteblobs package, built and installed into a directory of its own."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "pypireg-sqliteblobs"
    source.mkdir()
    (source / "sqliteblobs.py").write_text(example_code("class SQLiteBlobStorage"))
    (source / "pyproject.toml").write_text(example_code("pypireg-sqliteblobs", "toml"))
    run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir",
         str(root / "dist"), str(source)])
    (wheel,) = (root / "dist").iterdir()
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(root / "installed"), str(wheel)])
    return root / "installed"


def blob_keys(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [key for (key,) in db.execute("SELECT key FROM blobs ORDER BY key")]


def test_a_storage_package_serves_collects_and_migrates(plugin: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugin)}
    data, blobs = tmp_path / "data", tmp_path / "blobs.db"
    storage = f"sqliteblobs://{blobs}"
    cli = [sys.executable, "-m", "pypireg"]
    wheel = wheel_bytes("pkg", "1.0")

    with serve_command("--data", str(data), "--storage", storage, env=env) as (url, _):
        token = writer_token(data)
        body, content_type = upload_form("pkg", "1.0")
        upload = urllib.request.Request(
            f"{url}/projects/acme%2Ftools/packages/pypi", data=body,
            headers={"Content-Type": content_type, **basic(token, "__token__")})
        with urllib.request.urlopen(upload, timeout=60) as answer:
            assert answer.status == 201
        download = urllib.request.Request(
            f"{url}/projects/acme%2Ftools/packages/pypi/files/{sha256(wheel)}/"
            f"{wheel_name('pkg', '1.0')}", headers=basic(token, "__token__"))
        with urllib.request.urlopen(download, timeout=60) as answer:
            assert answer.read() == wheel
    stored = blob_keys(blobs)
    assert len(stored) == 2  # the wheel and its core metadata, in the plugin's table
    assert not (data / "files").exists() or not any((data / "files").rglob("*.whl"))

    # Seen by create_app and pypireg.wsgi by URL too.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, pypireg, pypireg.wsgi\n"
        "data, url = sys.argv[1:]\n"
        "hosted = pypireg.create_app(data, storage=url).storage\n"
        "served = pypireg.wsgi.from_environ({'PYPIREG_DATA': data, 'PYPIREG_STORAGE': url})\n"
        "for storage in (hosted, served.registry.storage):\n"
        "    print(storage.__class__.__name__, *storage.keys())\n")  # measured, metrics.py
    found = run([sys.executable, str(probe), str(data), storage], env).stdout.splitlines()
    assert found == [" ".join(["SQLiteBlobStorage", *stored])] * 2

    # migrate copies its files; gc sweeps what nothing uses, and what a delete leaves.
    copied = tmp_path / "copy"
    run([*cli, "migrate", "--from-catalog", f"sqlite:///{data}/catalog.db",
         "--from-storage", storage, "--data", str(copied)], env)
    assert sorted(p.name for p in (copied / "files").rglob("*") if p.is_file()) == sorted(
        key.rsplit("/", 1)[-1] for key in stored)
    with sqlite3.connect(blobs) as db:
        db.execute("INSERT INTO blobs VALUES ('sha256/00/00/orphan', x'00')")
    swept = run([*cli, "gc", "--data", str(data), "--storage", storage], env).stdout
    assert "removed 1 blob" in swept and "cannot list" not in swept
    assert blob_keys(blobs) == stored
    run([*cli, "project", "delete", "acme/tools", "--force", "--data", str(data),
         "--storage", storage], env)
    purged = run([*cli, "gc", "--data", str(data), "--storage", storage], env).stdout
    assert "removed 2 blobs" in purged, purged
    assert blob_keys(blobs) == []

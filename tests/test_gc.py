"""``pypireg gc``: what deletes and crashes leave behind goes, and nothing else."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time

import pytest

import pypireg
from pypireg.cli import main
from pypireg.storage import blob_key

from .distributions import wheel_bytes, wheel_name
from .helpers import API, Env, Tree, sha256, wheel_keys


def fs_tree(tmp_path) -> Tree:
    return Tree(pypireg.create_app(tmp_path / "data"))


def rows(tree: Tree, table: str) -> int:
    return tree.registry.catalog.value(f"SELECT count(*) FROM {table}")


def test_gc_purges_deleted_rows_once(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "gone", "1.0")
    tree.upload_wheel("acme/web", "kept", "1.0")
    gone = next(p for p in tree.app.get("/projects/acme/web/packages").json
                if p["name"] == "gone")
    catalog = tree.registry.catalog
    tree.registry.delete_package(catalog.package(tree.projects["acme/web"].id, gone["id"]))
    assert rows(tree, "packages") == 2  # soft-deleted, still listed as pending_destruction
    report = tree.registry.collect_garbage()
    assert (report.packages, report.files, report.blobs) == (1, 1, 0)  # blob went at delete
    assert rows(tree, "packages") == 1 and rows(tree, "package_files") == 1
    again = tree.registry.collect_garbage()
    assert (again.packages, again.files, again.blobs, again.staging_files) == (0, 0, 0, 0)
    assert tree.registry.storage.keys() == wheel_keys("kept", "1.0")  # type: ignore[attr-defined]


def test_gc_finishes_a_delete_interrupted_before_its_blobs_went(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    catalog = tree.registry.catalog
    package = catalog.package(tree.projects["acme/web"].id, 1)
    catalog.destroy_package(package)  # committed; the process dies before releasing blobs
    assert tree.registry.storage.keys() == wheel_keys("pkg", "1.0")  # type: ignore[attr-defined]
    report = tree.registry.collect_garbage()
    assert (report.packages, report.files, report.blobs) == (1, 1, 2)  # file and metadata
    assert tree.registry.storage.keys() == []  # type: ignore[attr-defined]


def test_gc_removes_a_blob_whose_row_never_committed(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    storage = tree.registry.storage
    orphan = blob_key("ab" * 32)
    storage.put_stream(orphan, io.BytesIO(b"stored, then the process died"))
    report = tree.registry.collect_garbage()
    assert report.blobs == 1 and not storage.exists(orphan)
    assert storage.exists(blob_key(sha256(wheel_bytes("pkg", "1.0"))))


def test_gc_keeps_a_blob_shared_with_a_live_file(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    tree.upload_wheel("acme/platform/core", "pkg", "1.0")
    catalog = tree.registry.catalog
    catalog.destroy_package(catalog.package(tree.projects["acme/web"].id, 1))
    report = tree.registry.collect_garbage()
    assert (report.packages, report.blobs) == (1, 0)
    page = tree.app.get("/projects/acme/platform/core/packages/pypi/simple/pkg/")
    href = page.text.split('href="http://localhost')[1].split("#")[0]
    assert tree.app.get(href).body == wheel_bytes("pkg", "1.0")


def test_gc_sweeps_abandoned_staging_files_only(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    staging = tree.registry.staging_dir
    old = os.path.join(staging, "upload-old")
    fresh = os.path.join(staging, "upload-fresh")
    for path in (old, fresh):
        with open(path, "wb") as f:
            f.write(b"partial")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    report = tree.registry.collect_garbage()
    assert report.staging_files == 1
    assert not os.path.exists(old) and os.path.exists(fresh)


class OpaqueStorage:
    """A storage that cannot list its keys."""

    def __init__(self) -> None:
        self.inner = pypireg.MemoryStorage()

    def put_file(self, key, path):  # type: ignore[no-untyped-def]
        self.inner.put_file(key, path)

    def put_stream(self, key, stream):  # type: ignore[no-untyped-def]
        self.inner.put_stream(key, stream)

    def open(self, key):  # type: ignore[no-untyped-def]
        return self.inner.open(key)

    def delete(self, key):  # type: ignore[no-untyped-def]
        self.inner.delete(key)

    def exists(self, key):  # type: ignore[no-untyped-def]
        return self.inner.exists(key)


def test_gc_says_when_it_cannot_look_for_unreferenced_blobs(tmp_path) -> None:
    registry = pypireg.create_app(storage=OpaqueStorage(), staging_dir=str(tmp_path))
    report = registry.collect_garbage()
    assert not report.orphans_checked
    # Not "removed 0 blobs": it could not look.
    assert str(report) == (
        "purged 0 packages and 0 files pending destruction; removed 0 stale staging files;"
        " the storage cannot list its keys, so gc cannot collect the blobs nothing uses")


def test_gc_command(tmp_path, capsys) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    catalog = tree.registry.catalog
    catalog.destroy_package(catalog.package(tree.projects["acme/web"].id, 1))
    assert main(["gc", "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("purged 1 package and 1 file pending destruction; removed 2 blobs")
    assert out[-1] == "4"
    assert main(["gc", "--data", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0"


def test_gc_removes_temporary_files_of_interrupted_writes_once_stale(tmp_path) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    files = tmp_path / "data" / "files"
    (files / "sha256" / "ab").mkdir(parents=True)
    old, fresh = files / "sha256" / "ab" / ".tmp-old", files / "sha256" / ".tmp-fresh"
    for path in (old, fresh):
        path.write_bytes(b"half a blob")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    report = tree.registry.collect_garbage()
    assert report.leftovers == 1 and not old.exists() and fresh.exists()  # fresh: in flight
    assert "removed 1 temporary file of interrupted writes" in str(report)
    assert tree.registry.collect_garbage(staging_max_age=0).leftovers == 1
    assert not fresh.exists()
    assert tree.registry.storage.keys() == wheel_keys("pkg", "1.0")  # type: ignore[attr-defined]


# A process that uploads one wheel and dies (os._exit, as a kill would) at a chosen moment.
CRASHING_UPLOAD = r"""
import os, sys
import pypireg
from pypireg import forms
from pypireg.storage import filesystem
from werkzeug.test import Client

data, token, wheel, moment = sys.argv[1:]

def die(*_, **__):
    os._exit(17)

if moment == "staging":  # half-way through receiving the file
    real_write = forms.StagingFile.write
    def write(self, chunk):
        real_write(self, chunk[: len(chunk) // 2])
        die()
    forms.StagingFile.write = write
elif moment == "blob":  # the file's blob is in place, its row not committed
    real_put = filesystem.FileSystemStorage.put_file
    def put_file(self, key, path):
        real_put(self, key, path)
        die()
    filesystem.FileSystemStorage.put_file = put_file
elif moment == "metadata":  # half-way through writing the metadata blob
    def copy(source, target, length=0):
        target.write(source.read(10))
        target.flush()
        die()
    filesystem.shutil.copyfileobj = copy

with open(wheel, "rb") as stream:
    response = Client(pypireg.create_app(data)).post(
        "/projects/p/packages/pypi", headers={"PRIVATE-TOKEN": token},
        data={"name": "pkg", "version": "1.0", "content": (stream, os.path.basename(wheel))})
print(response.status_code)
"""


@pytest.mark.parametrize("moment", ["staging", "blob", "metadata", "never"])
def test_a_crash_at_any_moment_leaves_nothing_after_gc(tmp_path, moment: str) -> None:
    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_project("p", "private")
    token = registry.create_token("ci", ["p:write"])
    wheel = tmp_path / wheel_name("pkg", "1.0")
    wheel.write_bytes(wheel_bytes("pkg", "1.0"))
    crashed = subprocess.run([sys.executable, "-c", CRASHING_UPLOAD, str(data), token,
                              str(wheel), moment], capture_output=True, text=True)
    assert crashed.returncode == (0 if moment == "never" else 17), crashed.stderr
    left = {p.name for p in tmp_path.joinpath("data").rglob("*") if p.is_file()}
    if moment != "never":
        assert left - {"catalog.db", "catalog.db-wal", "catalog.db-shm"}, "nothing to sweep"
    reopened = pypireg.create_app(data)
    reopened.collect_garbage(staging_max_age=0)
    expected = wheel_keys("pkg", "1.0") if moment == "never" else []
    assert reopened.storage.keys() == expected  # type: ignore[attr-defined]
    stored = [p for p in (data / "files").rglob("*") if p.is_file()]
    assert len(stored) == len(expected)  # no temporary files either
    assert os.listdir(data / "staging") == []
    assert reopened.catalog.value("SELECT count(*) FROM package_files") == len(expected) // 2


class GatedStorage(pypireg.MemoryStorage):
    """Holds each put until the test lets it finish, to look at an upload in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.storing, self.proceed = threading.Event(), threading.Event()

    def put_file(self, key: str, path: str) -> None:
        super().put_file(key, path)
        self.storing.set()
        assert self.proceed.wait(30), "the test never let the upload finish"


def test_an_upload_stores_its_file_without_holding_the_write_lock(tmp_path, catalog) -> None:
    """While an upload's bytes are being stored, other writes go on, and neither a delete
    nor gc removes the blob it is about to commit."""
    storage = GatedStorage()
    env = Env(pypireg.create_app(catalog=catalog, storage=storage, staging_dir=str(tmp_path)))
    answers: list[int] = []
    upload = threading.Thread(target=lambda: answers.append(env.upload_wheel(
        "acme/tools", "pkg", "1.0", token=env.writer).status_int))
    upload.start()
    try:
        assert storage.storing.wait(30)
        env.registry.create_project("acme/meanwhile", "public")  # a write, while it stores
        report = env.registry.collect_garbage(staging_max_age=3600)
        assert report.blobs == 0  # the reserved blob is not an orphan
        assert len(storage.keys()) == 1
    finally:
        storage.proceed.set()
        upload.join()
    assert answers == [201]
    assert env.app.get(API.format(project="acme/tools") + "/simple/pkg/").status_int == 200


def test_gc_frees_what_an_interrupted_upload_reserved_once_stale(tmp_path) -> None:
    registry = pypireg.create_app(tmp_path / "data")
    key = "sha256/" + "ab/cd/" + "abcd" * 16
    registry.catalog.reserve_blobs([key])  # an upload that crashed after storing its blob
    registry.storage.put_stream(key, io.BytesIO(b"orphan"))
    assert registry.collect_garbage().blobs == 0  # still within the grace period
    report = registry.collect_garbage(staging_max_age=0)
    assert (report.reservations, report.blobs) == (1, 1)
    assert "dropped 1 reservation of interrupted uploads" in str(report)
    assert not registry.storage.exists(key)


def test_gc_removes_a_deleted_project_with_its_publishers_and_stages(env) -> None:  # noqa: ANN001
    """Rows that refer to a deleted project go with it, on both engines (PostgreSQL
    enforces the references)."""
    registry = env.registry
    project = registry.create_project("acme/gone", "private")
    registry.add_publisher(project, kind="github", repository="acme/gone",
                           workflow="release.yml")
    registry.create_stage(project, "rc1")
    registry.delete_namespace("acme/gone")
    registry.collect_garbage()
    assert registry.catalog.value("SELECT count(*) FROM projects WHERE path = 'acme/gone'") == 0
    assert registry.catalog.value("SELECT count(*) FROM trusted_publishers") == 0
    assert registry.catalog.value("SELECT count(*) FROM stages") == 0

"""``pypireg gc``: what deletes and crashes leave behind goes, and nothing else."""

from __future__ import annotations

import io
import os
import time

import pypireg
from pypireg.cli import main
from pypireg.storage import blob_key

from .conftest import Tree, sha256, wheel_bytes, wheel_keys


def fs_tree(tmp_path) -> Tree:
    return Tree(pypireg.create_app(tmp_path / "data"))


def rows(tree: Tree, table: str) -> int:
    return tree.registry.catalog.db[table].count


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
    assert "cannot list its keys" in str(report)


def test_gc_command(tmp_path, capsys) -> None:
    tree = fs_tree(tmp_path)
    tree.upload_wheel("acme/web", "pkg", "1.0")
    catalog = tree.registry.catalog
    catalog.destroy_package(catalog.package(tree.projects["acme/web"].id, 1))
    assert main(["gc", "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("purged 1 packages and 1 files pending destruction; removed 2 blobs")
    assert out[-1] == "4"
    assert main(["gc", "--data", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0"

"""Storages are opened by URL scheme: the built-ins even where no entry point is installed
(a source tree, a stale install), and any other through the ``pypireg.storage`` entry
points (tests/e2e/test_storage_plugin.py installs one)."""

from __future__ import annotations

import pytest

from pypireg import storage
from pypireg.storage import FileSystemStorage, open_storage


def test_the_built_ins_need_no_entry_point(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(storage, "entry_points", lambda **selection: ())
    opened = open_storage(f"file://{tmp_path}/files")
    assert isinstance(opened, FileSystemStorage)
    assert opened.root == tmp_path / "files"
    with pytest.raises(ValueError, match=r"\(file://, s3://\)"):
        open_storage("nope://x")


def test_the_built_ins_are_registered_as_entry_points() -> None:
    from importlib.metadata import entry_points

    assert {e.name for e in entry_points(group=storage.GROUP)} >= {"file", "s3"}

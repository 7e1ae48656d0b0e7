"""``pypireg import``: a pypiserver directory into a project, as uploads would store it."""

from __future__ import annotations

import hashlib
import re

import pytest
from webtest import TestApp

import pypireg

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import run


@pytest.fixture
def served(tmp_path):  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    registry = pypireg.create_app(data)
    registry.create_project("mirror", "public")
    return data, registry


def pypiserver_dir(root):  # type: ignore[no-untyped-def]
    """Wheels and sdists in nested folders, as pypiserver keeps them."""
    files = {
        "alpha/alpha-1.0-py3-none-any.whl": wheel_bytes("Alpha", "1.0", ">=3.8"),
        "alpha/alpha-1.0.tar.gz": sdist_bytes("Alpha", "1.0", ">=3.8"),
        "beta/old/beta_pkg-0.1.tar.gz": sdist_bytes("beta.pkg", "0.1"),
        "beta/beta_pkg-0.2-py3-none-any.whl": wheel_bytes("beta.pkg", "0.2"),
        "gamma-2.0-py3-none-any.whl": wheel_bytes("gamma", "2.0"),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_import_stores_files_as_uploads_would(served, tmp_path, capsys) -> None:
    data, registry = served
    files = pypiserver_dir(tmp_path / "packages")
    code, out, err = run(capsys, "import", str(tmp_path / "packages"), "--project", "mirror",
                         "--data", str(data))
    assert code == 0, err
    assert out[-2] == ("imported 5, skipped 0 already present, ignored 0 that are not"
                       " distributions, failed 0")
    assert out[-1] == "5"
    assert "5/5 files" in err  # the progress bar
    app = TestApp(registry)
    index = app.get("/projects/mirror/packages/pypi/simple/").text
    assert re.findall(r">([^<]+)</a>", index) == ["Alpha", "beta.pkg", "gamma"]
    page = app.get("/projects/mirror/packages/pypi/simple/alpha/").text
    assert 'data-requires-python="&gt;=3.8"' in page
    wheel = files["alpha/alpha-1.0-py3-none-any.whl"]
    digest = hashlib.sha256(wheel).hexdigest()
    name = wheel_name("alpha", "1.0")
    download = app.get(f"/projects/mirror/packages/pypi/files/{digest}/{name}")
    assert download.body == wheel
    listed = app.get("/projects/mirror/packages", params={"order_by": "name"}).json
    assert sorted((p["name"], p["version"]) for p in listed) == [
        ("Alpha", "1.0"), ("beta.pkg", "0.1"), ("beta.pkg", "0.2"), ("gamma", "2.0")]
    files_of_alpha = app.get(f"/projects/mirror/packages/{listed[0]['id']}/package_files").json
    assert {f["file_name"]: f["file_md5"] for f in files_of_alpha}[
        "alpha-1.0-py3-none-any.whl"] == hashlib.md5(wheel).hexdigest()


def test_rerun_skips_what_is_there(served, tmp_path, capsys) -> None:
    data, registry = served
    pypiserver_dir(tmp_path / "packages")
    argv = ("import", str(tmp_path / "packages"), "--project", "mirror", "--data", str(data))
    run(capsys, *argv)
    before = registry.catalog.value("SELECT count(*) FROM package_files")
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out[-2] == ("imported 0, skipped 5 already present, ignored 0 that are not"
                       " distributions, failed 0")
    assert out[-1] == "0"
    assert registry.catalog.value("SELECT count(*) FROM package_files") == before


def test_files_it_cannot_take_are_reported_with_reasons(served, tmp_path, capsys) -> None:
    data, registry = served
    root = tmp_path / "packages"
    pypiserver_dir(root)
    (root / "README.txt").write_text("not a package")
    (root / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    (root / "liar-1.0-py3-none-any.whl").write_bytes(wheel_bytes("other", "1.0"))
    (root / "empty-1.0.tar.gz").write_bytes(b"")
    (root / "nometa-1.0-py3-none-any.whl").write_bytes(
        wheel_bytes("x", "1.0").replace(b"METADATA", b"METADATX"))
    # Already uploaded under the same name with other bytes.
    TestApp(registry).post(
        "/projects/mirror/packages/pypi", params=[("name", "gamma"), ("version", "2.0")],
        upload_files=[("content", "gamma-2.0-py3-none-any.whl", wheel_bytes("gamma", "2.0",
                                                                           payload="# v2"))],
        headers={"PRIVATE-TOKEN": registry.create_token("u", ["mirror:write"])}, status=201)
    code, out, err = run(capsys, "import", str(root), "--project", "mirror",
                         "--data", str(data))
    assert code == 1
    assert out[-2] == ("imported 4, skipped 0 already present, ignored 1 that are not"
                       " distributions, failed 5")
    reasons = dict(line.removeprefix("failed: ").split(": ", 1)
                   for line in err.splitlines() if line.startswith("failed: "))
    assert "ignored: README.txt: not a wheel (.whl) or an sdist (.tar.gz, .zip)" in out
    assert "README.txt" not in reasons
    assert "not a zip archive" in reasons["broken-1.0-py3-none-any.whl"]
    assert "is for package 'liar', not 'other'" in reasons["liar-1.0-py3-none-any.whl"]
    assert "the tar.gz archive is empty" in reasons["empty-1.0.tar.gz"]
    assert "no <name>.dist-info/METADATA" in reasons["nometa-1.0-py3-none-any.whl"]
    assert "File already exists" in reasons["gamma-2.0-py3-none-any.whl"]


def test_import_needs_a_project_and_a_directory(served, tmp_path, capsys) -> None:
    data, _ = served
    code, _, err = run(capsys, "import", str(tmp_path), "--project", "nope", "--data", str(data))
    assert code == 1 and "no project 'nope'" in err
    code, _, err = run(capsys, "import", str(tmp_path / "missing"), "--project", "mirror",
                       "--data", str(data))
    assert code == 1 and "is not a directory" in err


def test_files_that_are_not_distributions_are_ignored_not_failed(served, tmp_path,
                                                                  capsys) -> None:
    data, registry = served
    root = tmp_path / "packages"
    pypiserver_dir(root)
    (root / "README.txt").write_text("how to use this mirror")
    (root / "alpha" / "alpha-1.0.tar.gz.asc").write_text("-----BEGIN PGP SIGNATURE-----")
    (root / "index.html").write_text("<html></html>")
    code, out, err = run(capsys, "import", str(root), "--project", "mirror", "--data", str(data))
    assert code == 0, err
    assert [line for line in out if line.startswith("ignored: ")] == [
        "ignored: README.txt: not a wheel (.whl) or an sdist (.tar.gz, .zip)",
        "ignored: index.html: not a wheel (.whl) or an sdist (.tar.gz, .zip)",
        "ignored: alpha/alpha-1.0.tar.gz.asc: not a wheel (.whl) or an sdist (.tar.gz, .zip)",
    ]
    assert out[-2] == ("imported 5, skipped 0 already present, ignored 3 that are not"
                       " distributions, failed 0")
    assert out[-1] == "5" and "failed" not in err
    assert registry.catalog.value("SELECT count(*) FROM package_files") == 5


def test_a_requirements_file_names_projects() -> None:
    from pypireg.index_import import requirement_names

    text = ("# pinned\nRequests[socks]==2.31 ; python_version >= '3.8'  # the client\n"
            "-r more.txt\n--index-url https://example.com/simple\n\nzope.interface>=5\n"
            "requests\n")
    assert requirement_names(text) == ["requests", "zope-interface"]
    with pytest.raises(ValueError, match="line 2"):
        requirement_names("ok\n==1.0\n")


def test_import_from_an_index_needs_a_source_and_says_what_is_wrong(served, tmp_path,
                                                                     capsys) -> None:
    data, _ = served
    code, _, err = run(capsys, "import", "--project", "mirror", "--data", str(data))
    assert code == 1 and "give a directory to import, or --from-index URL" in err
    code, _, err = run(capsys, "import", "--project", "mirror", "--from-index",
                       "ftp://example.com/simple/", "--data", str(data))
    assert code == 1 and "http or https URL" in err
    code, _, err = run(capsys, "import", "--project", "mirror", "--from-index",
                       "https://example.com/simple/", "--token", "t", "--username", "u",
                       "--data", str(data))
    assert code == 1 and "not both" in err


def test_a_source_that_forwards_a_name_elsewhere_is_not_followed(served, tmp_path,
                                                                 capsys) -> None:
    """pypiserver and GitLab forward a name they lack to the public index: the import must
    not copy the public package in its place (dependency confusion)."""
    from .distributions import wheel_bytes, wheel_name
    from .upstreams import serve

    data, registry = served
    public = wheel_bytes("internal", "9.9")
    digest = hashlib.sha256(public).hexdigest()

    def elsewhere(environ, start_response):  # type: ignore[no-untyped-def]
        if environ["PATH_INFO"].startswith("/files/"):
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [public]
        link = f'<a href="/files/{wheel_name("internal", "9.9")}#sha256={digest}">x</a>'
        start_response("200 OK", [("Content-Type", "text/html")])
        return [link.encode()]

    with serve(elsewhere) as other:
        def forwarding(environ, start_response):  # type: ignore[no-untyped-def]
            start_response("303 See Other",
                           [("Location", f"{other.url}/simple/{environ['PATH_INFO'][8:]}")])
            return [b""]

        with serve(forwarding) as source:
            code, out, err = run(capsys, "import", "--project", "mirror", "--from-index",
                                 f"{source.url}/simple/", "--name", "internal", "--data",
                                 str(data))
    assert code == 1
    assert "redirects to another index" in err and "not followed" in err
    assert out[-1] == "0"
    assert registry.catalog.live_file_named(registry.catalog.project("mirror").id,
                                            wheel_name("internal", "9.9")) is None
    assert all(path == "/" or not path.startswith("/files/") for _, path, _, _ in other.log)

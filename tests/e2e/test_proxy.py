"""One index URL for private and upstream packages, through real pip and uv: the cache of
upstream indexes (docs/proxy.md) in front of another pypireg and of pypiserver (an
HTML-only index), still installing once the upstream is gone."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pypiserver
import pytest

import pypireg
from pypireg import mount

from ..distributions import wheel_bytes, wheel_name
from ..upstreams import FakeIndex, caching_registry, serve
from .live import BIN, Clients, run, serve_command

V1_JSON = "application/vnd.pypi.simple.v1+json"


def pip(clients: Clients, env: dict[str, str], python: Path, index: str, *args: str,
        check: bool = True):  # type: ignore[no-untyped-def]
    return run([sys.executable, "-m", "pip", "--python", str(python), "install",
                "--index-url", index, *args], env, check)


def uv(env: dict[str, str], python: Path, index: str, *args: str, check: bool = True
       ):  # type: ignore[no-untyped-def]
    # --no-cache: what is installed must come through the registry, not uv's own cache.
    return run([str(BIN / "uv"), "pip", "install", "--no-cache", "--python", str(python),
                "--index-url", index, *args], env, check)


def version_of(clients: Clients, python: Path, module: str) -> str:
    return clients.run_python(python, f"import {module}; print({module}.hello())")


def test_private_and_upstream_packages_through_one_url_even_once_the_upstream_is_gone(
        tmp_path, clients, tripwire, greet_dists, dists):
    env = {**clients.env, **tripwire.env}
    origin = pypireg.create_app(tmp_path / "origin")
    origin.create_group("pub", "public")
    origin.create_project("pub/mirror", "public")
    published = origin.create_token("publisher", ["pub/mirror:write"])
    upstream = ExitStack()
    up = upstream.enter_context(serve(mount(origin, "/api/v4")))
    try:
        # Upstream: my-package 0.1.0 and 0.2.0, and a public twin of the private acme-greet.
        run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{up.url}/api/v4/projects/pub%2Fmirror/packages/pypi",
             "-u", "__token__", "-p", published,
             *map(str, [*dists["0.1.0"], *dists["0.2.0"], *greet_dists["2.0"]])], env)
        index = f"{up.url}/api/v4/projects/pub%2Fmirror/packages/pypi/simple/"

        data = tmp_path / "data"
        registry = pypireg.create_app(data)
        registry.create_group("acme", "public")
        registry.create_project("acme/tools", "public")
        writer = registry.create_token("ci", ["acme/tools:write"])
        with serve_command("--data", str(data), "--upstream", index, "--upstream-mode", "cache",
                           "--upstream-ttl", "0") as (url, banner):
            assert any(line.strip().startswith("upstreams:    a cache of") for line in banner)
            run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                 "--repository-url", f"{url}/projects/acme%2Ftools/packages/pypi",
                 "-u", "__token__", "-p", writer, *map(str, greet_dists["1.0"])], env)
            simple = f"{url}/projects/acme%2Ftools/packages/pypi/simple"

            first = clients.new_venv("pip-first")
            pip(clients, env, first, simple, "acme-greet", "my-package")
            # The private name wins over its public twin, whatever their versions.
            assert clients.greet(first) == "hello from acme.greet 1.0"
            assert version_of(clients, first, "my_package") == "hello from my-package 0.2.0"
            second = clients.new_venv("uv-first")
            uv(env, second, simple, "acme-greet", "my-package==0.1.0")
            assert clients.greet(second) == "hello from acme.greet 1.0"
            assert version_of(clients, second, "my_package") == "hello from my-package 0.1.0"
            fetched = up.count("/files/")
            assert up.count("/simple/acme-greet/") == 0  # never even asked for

            upstream.close()  # the upstream is gone from here on

            third = clients.new_venv("pip-after")
            pip(clients, env, third, simple, "acme-greet", "my-package")
            assert version_of(clients, third, "my_package") == "hello from my-package 0.2.0"
            fourth = clients.new_venv("uv-after")
            uv(env, fourth, simple, "my-package==0.1.0")
            assert version_of(clients, fourth, "my_package") == "hello from my-package 0.1.0"
            assert up.count("/files/") == fetched

            page = Request(f"{simple}/my-package/", headers={"Accept": V1_JSON})
            with urlopen(page, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
                assert "failed" in answer.headers["X-Pypireg-Stale"]

            never = uv(env, clients.new_venv("uv-never"), simple, "never-seen-here",
                       check=False)
            assert never.returncode != 0
            assert "502 Bad Gateway" in never.stderr, never.stderr
            # pip says why only in its debug output, after retrying the 502 a few times.
            never = pip(clients, env, clients.new_venv("pip-never"), simple, "-vv",
                        "never-seen-here", check=False)
            assert never.returncode != 0
            assert "too many 502 error responses" in never.stdout + never.stderr
    finally:
        upstream.close()


@contextmanager
def cached_pypiserver(tmp_path: Path, files: dict[str, bytes]
                      ) -> Iterator[tuple[Any, str, list[dict[str, Any]]]]:
    """A pypiserver holding ``files`` (by name), and a pypireg caching it for a public
    project: yields the pypiserver, the project's simple index URL and my-package's files
    as that index's JSON page lists them."""
    packages = tmp_path / "pypiserver"
    packages.mkdir()
    for name, data in files.items():
        (packages / name).write_bytes(data)
    app = pypiserver.app(roots=[str(packages)], disable_fallback=True)
    with serve(app) as up:
        registry = pypireg.create_app(tmp_path / "data", upstream=f"{up.url}/simple/",
                                      upstream_mode="cache")
        registry.create_project("tools", "public")
        with serve(mount(registry, "/api/v4")) as down:
            simple = f"{down.url}/api/v4/projects/tools/packages/pypi/simple"
            page = Request(f"{simple}/my-package/", headers={"Accept": V1_JSON})
            with urlopen(page, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
                listed = json.loads(answer.read())["files"]
            assert all(f["url"].startswith(down.url) for f in listed)
            yield up, simple, listed


def test_an_html_only_upstream_pypiserver(tmp_path, clients, tripwire, dists):
    env = {**clients.env, **tripwire.env}
    with cached_pypiserver(tmp_path, {p.name: p.read_bytes() for p in dists["0.2.0"]}) as (
            up, simple, files):
        assert sorted(f["filename"] for f in files) == sorted(p.name for p in dists["0.2.0"])
        assert up.headers_of("/simple/my-package/")[0]["Accept"].startswith(V1_JSON)

        python = clients.new_venv("uv")
        uv(env, python, simple, "my-package")
        assert version_of(clients, python, "my_package") == "hello from my-package 0.2.0"
        python = clients.new_venv("pip")
        pip(clients, env, python, simple, "my-package")
        assert version_of(clients, python, "my_package") == "hello from my-package 0.2.0"
        wheel = next(p.name for p in dists["0.2.0"] if p.name.endswith(".whl"))
        # Fetched whole once for both installers (uv read its metadata in ranges first).
        assert up.count(f"/packages/{wheel}", status=200) == 1


def test_a_version_whose_only_sdist_is_a_tar_bz2_installs_through_the_cache(
        tmp_path, clients, tripwire, dists):
    # As python-dateutil 2.4.1 is on the public index: an older sdist format, named with
    # the project's dashes, and nothing else for that version.
    sdist = next(p for p in dists["0.1.0"] if p.name.endswith(".tar.gz"))
    legacy = "my-package-0.1.0.tar.bz2"
    with cached_pypiserver(tmp_path, {legacy: bz2.compress(gzip.decompress(
            sdist.read_bytes()))}) as (up, simple, files):
        assert [f["filename"] for f in files] == [legacy]
        # Built with this environment's setuptools (no index to fetch one from).
        target = tmp_path / "installed"
        run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--target", str(target), "--index-url", simple, "my-package==0.1.0"],
            {**clients.env, **tripwire.env})
        assert (target / "my_package" / "__init__.py").read_text().count("0.1.0") == 1
        assert up.count(f"/packages/{legacy}") == 1


@pytest.mark.parametrize("resolver", ["uv", "pip"])
def test_resolving_through_a_cold_cache_fetches_no_wheel_whole(tmp_path, clients, tripwire,
                                                                resolver):
    # Wheels without metadata files upstream: the registry reads each one's METADATA in
    # ranges of the upstream's wheel, and the resolvers ask it for that.
    index = FakeIndex()
    sizes = 0
    for name, requires in (("acme-lib", ("acme-core>=1",)), ("acme-core", ())):
        data = wheel_bytes(name, "1.0", payload="#" + "x" * 2_000_000, requires=requires)
        sizes += len(data)
        index.files[f"/files/{wheel_name(name, '1.0')}"] = data
        index.json_page(name, [{"filename": wheel_name(name, "1.0"),
                                "url": f"/files/{wheel_name(name, '1.0')}", "size": len(data),
                                "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}])
    requirements = tmp_path / "requirements.in"
    requirements.write_text("acme-lib\n")
    env = {**clients.env, **tripwire.env}
    with serve(index) as up:
        registry = caching_registry(tmp_path / "data", f"{up.url}/simple/")
        with serve(mount(registry, "/api/v4")) as down:
            simple = f"{down.url}/api/v4/projects/acme/packages/pypi/simple"
            if resolver == "uv":
                result = run([str(BIN / "uv"), "pip", "compile", "--no-cache", "--index-url",
                              simple, str(requirements)], env)
            else:
                report = tmp_path / "report.json"
                run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                     "--report", str(report), "--index-url", simple, "-r", str(requirements)],
                    env)
                result = run([sys.executable, "-c", "import json, sys; print('\\n'.join("
                              "f\"{i['metadata']['name']}=={i['metadata']['version']}\""
                              " for i in json.load(open(sys.argv[1]))['install']))",
                              str(report)])
    assert "acme-core==1.0" in result.stdout and "acme-lib==1.0" in result.stdout
    assert not index.whole, f"wheels fetched whole: {dict(index.whole)}"
    assert index.ranges and sum(index.sent.values()) < sizes / 10

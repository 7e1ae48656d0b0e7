"""The fixtures of the end-to-end tests: a live registry on 127.0.0.1, real distributions,
and real pip, uv and twine to drive it (tests/e2e/live.py), and docs/clients.md's project
behind a tripwire for the internet (tests/e2e/clients.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pypireg
from pypireg import mount
from pypireg.cli.serving import max_body_size

from ..upstreams import waitress_serving
from .clients import PROJECT, Setup, Tripwire, build
from .live import PREFIX, Clients, LiveRegistry, build_dists, run


@pytest.fixture
def live(tmp_path) -> Iterator[LiveRegistry]:
    """The registry on a real data dir behind waitress, set up as ``serve`` sets it up."""
    registry = pypireg.create_app(tmp_path / "data")
    live = LiveRegistry(registry, "")
    with waitress_serving(live.record(mount(registry, PREFIX)),
                          max_request_body_size=max_body_size(registry.limits)) as port:
        live.url = f"http://127.0.0.1:{port}{PREFIX}"
        yield live


@pytest.fixture(scope="session")
def greet_dists(tmp_path_factory) -> dict[str, list[Path]]:
    """``Acme.Greet`` 1.0 and 2.0, each as a wheel and an sdist."""
    root = tmp_path_factory.mktemp("dists")
    return {
        version: build_dists(root / f"src-{version}", root / f"dist-{version}", version)
        for version in ("1.0", "2.0")
    }


@pytest.fixture
def clients(tmp_path) -> Clients:
    return Clients(tmp_path)


# -- docs/clients.md's clients (tests/e2e/clients.py holds what their tests share) -------------


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, list[Path]]:
    """my-package 0.1.0 and 0.2.0, each as a wheel and an sdist."""
    root = tmp_path_factory.mktemp("my-package")
    return {version: build(root, version) for version in ("0.1.0", "0.2.0")}


@pytest.fixture
def setup(live: LiveRegistry, tmp_path: Path) -> Iterator[Setup]:
    """A private acme/tools with a write and a read token, and a tripwire that fails the
    test if a client reaches for the internet or installs into the tests' environment."""
    registry = live.registry
    registry.create_group("acme", "private")
    registry.create_project(PROJECT, "private")
    tripwire = Tripwire()
    try:
        yield Setup(live, tmp_path, registry.create_token("ci", [f"{PROJECT}:write"]),
                    registry.create_token("reader", [f"{PROJECT}:read"]), tripwire)
    finally:
        tripwire.close()
    assert tripwire.hits == 0, "a client tried to reach the internet"
    own = run([sys.executable, "-c",
               "import importlib.util as u; print(u.find_spec('my_package'))"])
    assert own.stdout.strip() == "None", "a client installed into the tests' own environment"


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    """A proxy that fails the test if a client reaches for the internet through it."""
    wire = Tripwire()
    try:
        yield wire
    finally:
        wire.close()
    assert wire.hits == 0, "a client tried to reach the internet"

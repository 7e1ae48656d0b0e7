"""Routing: the dispatcher's matches kept by method and path, without changing any answer
the dispatcher itself would give."""

from __future__ import annotations

import os
from pathlib import Path

from webtest import TestApp
from werkzeug.routing import Map, Rule

import pypireg
from pypireg.routing import LONGEST_KEPT, MATCHES_KEPT, PYPI, flat_layout, gitlab_layout

from .helpers import API, Env

ROUTES = Path(__file__).parent / "fixtures" / "routes.txt"


def test_a_path_is_matched_once_then_answered_from_what_was_kept(env: Env) -> None:
    page = API.format(project="acme/tools") + "/simple/demo/"
    kept = env.registry.routes._kept
    assert kept is not None
    before = kept.cache_info()
    env.app.get(page, status=404)
    env.app.get(page, status=404)
    env.app.head(page, status=404)  # HEAD is its own key: matched once more
    after = kept.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (2, 1)


def test_errors_are_the_dispatchers_own(env: Env) -> None:
    project = API.format(project="acme/tools")
    assert env.app.get("/no/such/path", status=404).json["message"] == "404 Not Found"
    # The same path twice, after a kept match for another method: still a 405.
    env.app.get(project + "/", status=405)
    assert env.app.delete(project + "/", status=405).headers["Allow"]


def test_what_is_kept_is_bounded_in_count_and_length(env: Env) -> None:
    kept = env.registry.routes._kept
    assert kept is not None and kept.cache_info().maxsize == MATCHES_KEPT
    for n in range(MATCHES_KEPT + 10):
        env.app.get(API.format(project=f"p{n}") + "/simple/", status=404)
    assert kept.cache_info().currsize == MATCHES_KEPT
    before = kept.cache_info()
    long_name = "x" * LONGEST_KEPT
    env.app.get(API.format(project="acme/tools") + f"/simple/{long_name}/", status=404)
    assert kept.cache_info() == before  # matched, but not kept


def test_redirects_carry_each_requests_own_host(tmp_path) -> None:
    """A layout with strict slashes redirects; the redirect names the request's host, so
    it is never answered from what another request matched."""
    layout = Map([
        Rule("/simple/", endpoint="pypi.simple_index", defaults={"project": "tools"}),
        Rule("/", endpoint="pypi.upload", methods=["POST"], defaults={"project": "tools"}),
    ])
    registry = pypireg.create_app(dispatcher=layout, staging_dir=str(tmp_path))
    registry.create_project("tools", "public")
    app = TestApp(registry)
    one = app.get("/simple", headers={"Host": "one.example"}, status=308)
    other = app.get("/simple", headers={"Host": "other.example"}, status=308)
    assert one.headers["Location"] == "http://one.example/simple/"
    assert other.headers["Location"] == "http://other.example/simple/"


def test_a_host_matching_layout_is_asked_every_time(tmp_path) -> None:
    layout = Map([
        rule
        for host in ("one", "other")
        for rule in (
            Rule("/simple/", endpoint="pypi.simple_index", host=f"{host}.example",
                 defaults={"project": host}),
            Rule("/simple/<package_name>/", endpoint="pypi.simple_package",
                 host=f"{host}.example", defaults={"project": host}),
        )
    ], host_matching=True)
    registry = pypireg.create_app(dispatcher=layout, staging_dir=str(tmp_path))
    assert registry.routes._kept is None
    registry.create_project("one", "public")
    registry.create_project("other", "public")
    app = TestApp(registry)
    for host in ("one", "other"):
        page = app.get("/simple/", headers={"Host": f"{host}.example"})
        assert f"<title>Links for {host}</title>" in page.text


def test_a_websocket_upgrade_is_matched_as_werkzeug_matches_it(env: Env) -> None:
    page = API.format(project="acme/tools") + "/simple/"
    env.app.get(page)  # kept for plain requests
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
    assert env.app.get(page, headers=upgrade, status=400).json["message"].startswith("400")


def layout_rules() -> str:
    """Every rule of both layouts, one a line: path, endpoint, methods, fixed arguments."""
    lines = []
    for layout in (gitlab_layout(), flat_layout("acme/tools")):
        lines += [f"{rule.rule} {rule.endpoint} {sorted(rule.methods or ())} {rule.defaults} "
                  f"{rule.strict_slashes}"
                  for rule in sorted(layout.iter_rules(),
                                     key=lambda r: (r.rule, r.endpoint, sorted(r.methods or ())))]
        lines.append("---")
    return "\n".join(lines) + "\n"


def test_the_layouts_keep_their_urls_and_endpoint_names() -> None:
    """URLs and endpoint names are the contract with clients and custom dispatchers: the
    layouts, however declared, give exactly the recorded rules. After adding a rule on
    purpose: ``PYPIREG_RECORD_ROUTES=1 pytest tests/test_routing.py``."""
    if os.environ.get("PYPIREG_RECORD_ROUTES"):
        ROUTES.write_text(layout_rules())
    assert layout_rules() == ROUTES.read_text()


def test_the_pypi_endpoints_are_the_same_wherever_they_are_mounted() -> None:
    """The project, group and flat forms of the PyPI API come from one declaration: each
    path below the mount point has one endpoint name, whichever scope serves it."""
    forms: dict[str, dict[str, set[str]]] = {}
    for rule in [*gitlab_layout().iter_rules(), *flat_layout("acme/tools").iter_rules()]:
        if rule.endpoint.startswith("pypi."):
            scope, mounted, below = rule.rule.partition("/packages/pypi")
            path, where = (below, scope.split("/")[1]) if mounted else (rule.rule, "flat")
            name = rule.endpoint.rsplit(".", 1)[1]
            forms.setdefault(path, {}).setdefault(name, set()).add(where)
    assert {path: set(names) for path, names in forms.items()} == {
        path: {endpoint} for path, endpoint, _ in PYPI}
    assert forms["/"]["upload"] == {"projects", "flat"}  # a group takes no uploads

"""Nothing is more visible than the group it is in (GitLab's rule), however it is changed."""

from __future__ import annotations

import pytest
from webtest import TestApp

import pypireg
from pypireg import CatalogError

from .helpers import API, run


@pytest.fixture
def registry(tmp_path) -> pypireg.Registry:
    """open (public) / open/closed (private) / open/closed/project (private)"""
    registry = pypireg.create_app(tmp_path / "data")
    registry.create_group("open", "public")
    registry.create_group("open/closed", "private")
    registry.create_project("open/closed/project", "private")
    registry.create_project("open/tools", "public")
    return registry


def test_a_public_group_inside_a_private_one_is_refused(registry) -> None:
    with pytest.raises(CatalogError, match="group 'open/closed/sub' cannot be public inside"
                                           " private group 'open/closed'"):
        registry.create_group("open/closed/sub", "public")
    assert registry.catalog.group_by_path("open/closed/sub") is None
    assert registry.create_group("open/closed/sub", "private").visibility == "private"


def test_a_public_project_inside_a_private_group_is_refused(registry) -> None:
    with pytest.raises(CatalogError, match="project 'open/closed/p' cannot be public"):
        registry.create_project("open/closed/p", "public")


def test_a_parent_cannot_turn_private_over_public_children(registry) -> None:
    registry.create_group("open/pub", "public")
    with pytest.raises(CatalogError) as refused:
        registry.set_visibility("open", "private")
    assert "something inside it is public (open/pub, open/tools)" in str(refused.value)
    assert registry.catalog.group_by_path("open").is_public  # unchanged
    registry.set_visibility("open/tools", "private")
    registry.set_visibility("open/pub", "private")
    assert registry.set_visibility("open", "private").visibility == "private"


def test_a_child_cannot_turn_public_inside_a_private_parent(registry) -> None:
    with pytest.raises(CatalogError, match="project 'open/closed/project' cannot be public"):
        registry.set_visibility("open/closed/project", "public")
    registry.set_visibility("open/closed", "public")
    assert registry.set_visibility("open/closed/project", "public").is_public


def test_visibility_changes_take_effect_on_pages_at_once(registry) -> None:
    app = TestApp(registry)
    url = API.format(project="open/tools") + "/simple/"
    first = app.get(url)
    assert "public" in first.headers["Cache-Control"]
    registry.set_visibility("open/tools", "private")
    app.get(url, status=401)
    app.get(url, headers={"If-None-Match": first.headers["ETag"]}, status=401)


def test_set_visibility_from_the_command_line(registry, tmp_path, capsys) -> None:
    data = str(tmp_path / "data")
    code, _, err = run(capsys, "group", "set-visibility", "open", "private", "--data", data)
    assert code == 1 and "something inside it is public (open/tools)" in err
    code, out, _ = run(capsys, "project", "set-visibility", "open/tools", "private",
                       "--data", data)
    assert code == 0 and out[-1] == "project open/tools is now private"
    code, out, _ = run(capsys, "group", "set-visibility", "open", "private", "--data", data)
    assert code == 0 and out[-1] == "group open is now private"
    code, _, err = run(capsys, "group", "set-visibility", "open/tools", "public", "--data", data)
    assert code == 1 and "no group 'open/tools'" in err
    assert not pypireg.create_app(data).catalog.group_by_path("open").is_public

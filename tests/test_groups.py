"""Group-level PyPI pages: every readable project below a group, and nothing else."""

from __future__ import annotations

import pytest

from .distributions import wheel_bytes, wheel_name
from .helpers import Tree, links, sha256

GROUP = "/groups/{group}/-/packages/pypi/simple/"


@pytest.fixture
def filled(tree: Tree) -> Tree:
    for project, name in [
        ("acme/web", "web-app"), ("acme/internal", "internal-tool"),
        ("acme/platform/core", "core-lib"), ("acme/platform/secret", "secret-sauce"),
        ("acme/platform/infra/deploy", "deploy-kit"), ("other/x", "x-thing"),
    ]:
        tree.upload_wheel(project, name, "1.0")
    return tree


def names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [text for _, _, text in links(page.text)]


def test_anonymous_sees_public_projects_of_the_whole_subtree(filled: Tree) -> None:
    page = filled.app.get(GROUP.format(group="acme"))
    assert names(page) == ["core-lib", "web-app"]
    assert "<title>Links for acme</title>" in page.text
    href = links(page.text)[0][0]
    assert href == "http://localhost/groups/acme/-/packages/pypi/simple/core-lib/"


def test_a_token_adds_the_private_projects_it_may_read(filled: Tree) -> None:
    page = filled.app.get(GROUP.format(group="acme"), headers=filled.auth(filled.platform_reader))
    assert names(page) == ["core-lib", "deploy-kit", "secret-sauce", "web-app"]
    page = filled.app.get(GROUP.format(group="acme"), headers=filled.auth(filled.writer))
    assert names(page) == ["core-lib", "deploy-kit", "internal-tool", "secret-sauce", "web-app"]


def test_subgroup_by_path_and_by_id(filled: Tree) -> None:
    group = filled.registry.catalog.group("acme/platform")
    by_path = filled.app.get(GROUP.format(group="acme/platform"))
    by_id = filled.app.get(GROUP.format(group=group.id))
    encoded = filled.app.get("/groups/acme%2Fplatform/-/packages/pypi/simple")
    assert names(by_path) == names(by_id) == names(encoded) == ["core-lib"]


def test_private_group_answers_like_a_private_project(filled: Tree) -> None:
    url = GROUP.format(group="acme/platform/infra")
    response = filled.app.get(url, status=401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pypireg"'
    filled.app.get(url, headers=filled.auth(filled.outsider), status=404)
    assert names(filled.app.get(url, headers=filled.auth(filled.deployer))) == ["deploy-kit"]
    filled.app.get(GROUP.format(group="other"), status=401)
    filled.app.get(GROUP.format(group="other"), headers=filled.auth(filled.deployer), status=404)


def test_unknown_group_is_404(tree: Tree) -> None:
    response = tree.app.get(GROUP.format(group="nope"), status=404)
    assert response.json == {"message": "404 Group Not Found"}
    tree.app.get(GROUP.format(group="999"), status=404)


def test_package_page_merges_projects_and_hides_unreadable_ones(tree: Tree) -> None:
    tree.upload_wheel("acme/web", "Shared.Lib", "1.0")
    tree.upload_wheel("acme/platform/secret", "shared_lib", "2.0")
    url = GROUP.format(group="acme") + "shared-lib/"
    anonymous = tree.app.get(url)
    assert names(anonymous) == [wheel_name("Shared.Lib", "1.0")]
    reader = tree.app.get(url, headers=tree.auth(tree.platform_reader))
    assert names(reader) == [wheel_name("Shared.Lib", "1.0"), wheel_name("shared_lib", "2.0")]
    data = wheel_bytes("Shared.Lib", "1.0")
    assert links(reader.text)[0][0] == (
        "http://localhost/groups/acme/-/packages/pypi/files/"
        f"{sha256(data)}/{wheel_name('Shared.Lib', '1.0')}#sha256={sha256(data)}")
    tree.app.get(GROUP.format(group="acme") + "secret-sauce/", status=404)


def test_identical_file_in_two_projects_is_listed_once(tree: Tree) -> None:
    tree.upload_wheel("acme/web", "twin", "1.0")
    tree.upload_wheel("acme/platform/core", "twin", "1.0")
    assert len(links(tree.app.get(GROUP.format(group="acme") + "twin/").text)) == 1


def test_group_download_checks_the_files_own_project(tree: Tree) -> None:
    tree.upload_wheel("acme/platform/secret", "secret-sauce", "1.0")
    page = tree.app.get(GROUP.format(group="acme") + "secret-sauce/",
                        headers=tree.auth(tree.platform_reader))
    url = links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]
    data = wheel_bytes("secret-sauce", "1.0")
    assert tree.app.get(url, headers=tree.auth(tree.platform_reader)).body == data
    # The group is public, the file's project is not: no download without access to it.
    tree.app.get(url, status=404)
    tree.app.get(url, headers=tree.auth(tree.deployer), status=404)
    # The older path, without "-/", serves the same file.
    older = url.replace("/-/packages/", "/packages/")
    assert tree.app.get(older, headers=tree.auth(tree.platform_reader)).body == data


def test_group_download_validates_the_digest(tree: Tree) -> None:
    response = tree.app.get("/groups/acme/-/packages/pypi/files/xyz/a.whl", status=400)
    assert "64 hexadecimal characters" in response.json["message"]


def test_empty_public_group_has_an_empty_index(tree: Tree) -> None:
    tree.registry.create_group("acme/empty", "public")
    assert links(tree.app.get(GROUP.format(group="acme/empty")).text) == []

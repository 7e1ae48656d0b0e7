"""Which version the pages call current (what ``pip install NAME`` picks), the marks beside
each name and version, and the install commands: never a yanked or quarantined version's,
a private index's token in its place, and what dependencies need."""

from __future__ import annotations

import pypireg

from .webpages import Site

PAGE = "/acme/tools/-/packages/pypi/lib"


def listed_version(site: Site, path: str = "/acme/tools") -> str:
    return site.page(path).html.select_one("ul.names .version").text


def test_a_yanked_version_is_never_current(site: Site) -> None:
    for version in ("1.0", "2.0"):
        site.publish("acme/tools", "lib", version)
    assert listed_version(site) == "2.0"
    site.registry.yank("acme/tools", "lib", "2.0", reason="broken")
    assert listed_version(site) == "1.0"
    assert site.page(PAGE).html.select_one("h1 .version").text == "1.0"
    site.publish("acme/tools", "lib", "1.5")  # below the yanked one: current all the same
    assert listed_version(site) == "1.5"
    site.registry.unyank("acme/tools", "lib", "2.0")
    assert listed_version(site) == "2.0"


def test_a_pre_release_is_current_only_without_a_final_release(site: Site) -> None:
    site.publish("acme/tools", "lib", "2.0b1")
    assert listed_version(site) == "2.0b1"
    row = site.page("/acme/tools").html.select_one("ul.names li")
    assert [b.text for b in row.select(".badge")] == ["pre-release"]
    site.publish("acme/tools", "lib", "1.0")
    assert listed_version(site) == "1.0"
    assert site.page("/acme/tools").html.select_one("ul.names li .badge") is None


def test_lists_and_search_mark_yanked_and_status(site: Site) -> None:
    for name in ("gone", "old", "bad", "fine"):
        site.publish("acme/tools", name, "1.0", summary="a widget")
    site.registry.yank("acme/tools", "gone", "1.0")
    site.registry.set_name_status(site.public, "old", "deprecated", reason="use fine")
    site.registry.set_name_status(site.public, "bad", "quarantined", reason="malware")
    for path in ("/acme/tools", "/acme", "/-/search?q=widget", "/"):
        rows = site.page(path).html.select("ul.names li")
        marks = {row.select_one("a.name").text: [b.text for b in row.select(".badge")]
                 for row in rows}
        assert marks == {"gone": ["yanked"], "old": ["deprecated"], "bad": ["quarantined"],
                         "fine": []}, path


def test_a_quarantined_name_shows_no_install_command(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0")
    assert site.page(PAGE).html.select_one(".install") is not None
    site.registry.set_name_status(site.public, "lib", "quarantined", reason="malware")
    page = site.page(PAGE)
    assert page.html.select_one(".install") is None
    assert "Its files are not served" in page.html.select_one(".name-status").text


def test_an_older_version_says_a_newer_one_exists(site: Site) -> None:
    for version in ("1.0", "2.0"):
        site.publish("acme/tools", "lib", version)
    current = site.page(PAGE)
    assert current.html.select_one(".newer") is None
    older = current.click(href=r"/-/packages/\d+$", index=1)
    assert older.html.select_one("h1 .version").text == "1.0"
    note = older.html.select_one(".newer")
    assert note.text == "A newer version exists: lib 2.0."
    assert site.page(note.select_one("a")["href"]).html.select_one("h1 .version").text == "2.0"


def test_a_private_index_shows_where_the_token_goes(site: Site) -> None:
    site.publish("acme/team/secret", "lib", "1.0")
    page = site.page("/acme/team/secret/-/packages/pypi/lib", token=site.reader)
    commands = [b["data-copy"] for b in page.html.select(".install button.copy")]
    url = f"http://__token__:<your token>@localhost/api/v4/projects/{site.private.id}"
    assert commands[0] == f"pip install --index-url {url}/packages/pypi/simple/ lib==1.0"
    assert "poetry config http-basic.acme-team-secret __token__ '<your token>'" in commands[2]
    hint = page.html.select_one(".install .hint")
    assert "put a token in place of <your token>" in hint.text
    assert hint.select_one("a")["href"] == "/#tokens"


def test_dependencies_come_through_the_upstreams_when_there_are_some(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path), upstream="https://pypi.org/simple/")
    site = Site(registry)
    site.publish("acme/tools", "lib", "1.0")
    install = site.page(PAGE).html.select_one(".install")
    assert "Dependencies not held here come through this index from" in install.text
    assert "https://pypi.org/simple/" in install.text
    assert "--extra-index-url" not in install.text


def test_the_package_page_leads_with_files_and_links_the_simple_page(site: Site) -> None:
    site.publish("acme/tools", "lib", "1.0", body="# Lib\n\nA long README.")
    page = site.page(PAGE)
    sections = [s["class"][0] for s in page.html.select(".main > section")]
    assert sections == ["install", "files", "readme"]
    simple = page.html.select_one(".files .aside-links a")["href"]
    assert simple == f"http://localhost/api/v4/projects/{site.public.id}/packages/pypi/simple/lib/"
    assert "lib-1.0-py3-none-any.whl" in site.site.get(simple).text


def test_a_file_shows_who_attested_it(site: Site) -> None:
    """PEP 740: a file uploaded with a real attestation (tests/fixtures/attestations) names
    its Trusted Publisher and source repository, and links its provenance."""
    import json
    from pathlib import Path

    from .helpers import sha256

    fixtures = Path(__file__).parent / "fixtures" / "attestations"
    sdist = "gitlab_oidc_project-0.0.3.tar.gz"
    data = (fixtures / sdist).read_bytes()
    attestation = (fixtures / f"{sdist}.publish.attestation").read_text()
    site.upload("acme/tools", sdist, data, token=site.writer, status=201,
                name="gitlab-oidc-project", version="0.0.3", sha256_digest=sha256(data),
                attestations=f"[{attestation}]")
    site.publish("acme/tools", "plain", "1.0")
    page = site.page("/acme/tools/-/packages/pypi/gitlab-oidc-project")
    provenance = page.html.select_one("ul.files .provenance")
    assert provenance.text.startswith("Attested by GitLab: ")
    repository = provenance.select_one("code").text
    assert repository and repository in json.dumps(site.site.get(
        provenance.select_one("a")["href"].removeprefix("http://localhost")).json)
    plain = site.page("/acme/tools/-/packages/pypi/plain")
    assert plain.html.select_one("ul.files .provenance") is None



def test_a_version_with_many_files_lists_them_a_page_at_a_time(tmp_path) -> None:
    from .distributions import wheel_file, wheel_metadata
    from .helpers import sha256

    site = Site(pypireg.create_app(staging_dir=str(tmp_path)))
    tags = [f"cp3{n // 10}{n % 10}-none-any" for n in range(105)]  # 105 files of lib 1.0
    for tag in tags:
        name = f"lib-1.0-{tag}.whl"
        data = wheel_file(name, wheel_metadata("lib", "1.0"), tag=tag)
        site.upload("acme/tools", name, data, token=site.writer, status=201, name="lib",
                    version="1.0", sha256_digest=sha256(data))
    first = site.page(PAGE)
    assert first.html.select_one(".files h2 .count").text == "105"
    assert len(first.html.select("ul.files li")) == 100
    second = site.page(PAGE + first.html.select(".files nav.pager ol a")[1]["href"])
    shown = [a.text for page in (first, second) for a in page.html.select("ul.files a.file")]
    assert len(shown) == 105 and set(shown) == {f"lib-1.0-{tag}.whl" for tag in tags}

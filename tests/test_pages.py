"""Simple index, package pages and downloads, in GitLab's shape."""

from __future__ import annotations

import pytest

import pypireg

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import API, Env, basic, links, sha256

SIMPLE = API + "/simple/"


def test_empty_index(env: Env) -> None:
    page = env.app.get(SIMPLE.format(project="acme/tools"))
    assert page.content_type == "text/html"
    assert "<title>Links for tools</title>" in page.text
    assert links(page.text) == []


def test_index_lists_each_package_once_with_normalized_href(env: Env) -> None:
    env.upload_wheel("acme/tools", "My.Pkg", "1.0", token=env.writer, requires_python=">=3.6")
    env.upload_wheel("acme/tools", "My.Pkg", "2.0", token=env.writer, requires_python=">=3.8")
    env.upload_wheel("acme/tools", "package_2", "1.0", token=env.writer)
    page = env.app.get(SIMPLE.format(project="acme/tools"))
    assert links(page.text) == [
        ("http://localhost/projects/acme/tools/packages/pypi/simple/my-pkg/", "&gt;=3.8",
         "My.Pkg"),
        ("http://localhost/projects/acme/tools/packages/pypi/simple/package-2/", "",
         "package_2"),
    ]


def test_index_does_not_show_other_projects(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "hidden", "1.0", token=env.writer)
    assert links(env.app.get(SIMPLE.format(project="acme/tools")).text) == []


def test_urls_follow_the_id_form_the_caller_used(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    by_id = env.app.get(SIMPLE.format(project=env.public.id))
    assert links(by_id.text)[0][0] == (
        f"http://localhost/projects/{env.public.id}/packages/pypi/simple/pkg/")
    encoded = env.app.get("/projects/acme%2Ftools/packages/pypi/simple")
    assert links(encoded.text)[0][0].startswith("http://localhost/projects/acme/tools/")


def test_urls_carry_the_mount_prefix(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    page = env.app.get(SIMPLE.format(project="acme/tools"),
                       extra_environ={"SCRIPT_NAME": "/api/v4", "HTTP_HOST": "reg.example:81"})
    assert links(page.text)[0][0].startswith("http://reg.example:81/api/v4/projects/acme/tools/")


def test_package_page_lists_every_file_of_every_version(env: Env) -> None:
    for version in ("1.0", "1.1"):
        env.upload_wheel("acme/tools", "My.Pkg", version, token=env.writer,
                         requires_python=">=3.6")
    sdist = sdist_bytes("My.Pkg", "1.1", ">=3.6")
    env.upload(env.public.id, "my.pkg-1.1.tar.gz", sdist, token=env.writer,
               name="My.Pkg", version="1.1", requires_python=">=3.6")
    page = env.app.get(SIMPLE.format(project="acme/tools") + "my-pkg/")
    assert "<title>Links for My.Pkg</title>" in page.text
    assert "<h1>Links for My.Pkg</h1>" in page.text
    found = links(page.text)
    # By version, then by file name.
    assert [text for _, _, text in found] == [
        wheel_name("My.Pkg", "1.0"), "my.pkg-1.1.tar.gz", wheel_name("My.Pkg", "1.1")]
    assert all(rp == "&gt;=3.6" for _, rp, _ in found)
    wheel = wheel_bytes("My.Pkg", "1.0", ">=3.6")
    assert found[0][0] == (
        "http://localhost/projects/acme/tools/packages/pypi/files/"
        f"{sha256(wheel)}/{wheel_name('My.Pkg', '1.0')}#sha256={sha256(wheel)}")


@pytest.mark.parametrize("asked", ["my-pkg", "My_Pkg", "my.pkg", "MY--pkg", "my_pkg/"])
def test_package_page_lookup_is_by_normalized_name(env: Env, asked: str) -> None:
    env.upload_wheel("acme/tools", "My.Pkg", "1.0", token=env.writer)
    page = env.app.get(SIMPLE.format(project="acme/tools") + asked)
    assert len(links(page.text)) == 1


def test_unknown_package_is_404(env: Env) -> None:
    response = env.app.get(SIMPLE.format(project="acme/tools") + "nope/", status=404)
    assert response.json == {"message": "404 Package Not Found"}


def test_hostile_metadata_is_escaped(env: Env) -> None:
    data = sdist_bytes("pkg", "1.0")
    env.upload(env.public.id, "pkg-1.0.tar.gz", data, token=env.writer, name="pkg",
               version="1.0", requires_python='>=3.8,!=3.9.*')
    page = env.app.get(SIMPLE.format(project="acme/tools") + "pkg/")
    assert 'data-requires-python="&gt;=3.8,!=3.9.*"' in page.text


def test_private_pages_need_read_access(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer)
    url = SIMPLE.format(project="acme/team/secret") + "pkg/"
    env.app.get(url, status=401)
    env.app.get(url, headers=basic(env.outsider), status=404)
    assert len(links(env.app.get(url, headers=basic(env.reader)).text)) == 1


# -- downloads -----------------------------------------------------------------------------


def file_url(env: Env, project: str = "acme/tools", name: str = "pkg") -> str:
    page = env.app.get(SIMPLE.format(project=project) + f"{name}/", headers=basic(env.reader))
    return links(page.text)[0][0].removeprefix("http://localhost").split("#")[0]


def test_download_streams_the_file_with_length_etag_and_name(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    data = wheel_bytes("pkg", "1.0")
    response = env.app.get(file_url(env))
    assert response.body == data
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["ETag"] == f'"{sha256(data)}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert wheel_name("pkg", "1.0") in response.headers["Content-Disposition"]


def test_download_answers_ranges_and_conditionals(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    data = wheel_bytes("pkg", "1.0")
    url = file_url(env)
    part = env.app.get(url, headers={"Range": "bytes=10-19"}, status=206)
    assert part.body == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    env.app.get(url, headers={"If-None-Match": f'"{sha256(data)}"'}, status=304)
    env.app.get(url, headers={"Range": f"bytes={len(data) + 5}-"}, status=416)


def test_download_needs_both_digest_and_name_to_match(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    url = file_url(env)
    digest = url.split("/")[-2]
    wrong_name = url.replace(wheel_name("pkg", "1.0"), "pkg-1.0.tar.gz")
    assert env.app.get(wrong_name, status=404).json == {"message": "404 File Not Found"}
    env.app.get(url.replace(digest, "0" * 64), status=404)
    # Upper-case hex names the same digest.
    assert env.app.get(url.replace(digest, digest.upper())).status_int == 200


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_download_with_malformed_digest_is_400(env: Env, bad: str) -> None:
    response = env.app.get(API.format(project="acme/tools") + f"/files/{bad}/x.whl", status=400)
    assert "64 hexadecimal characters" in response.json["message"]


def test_download_of_another_projects_file_is_404(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer)
    url = file_url(env, "acme/team/secret")
    env.app.get(url.replace("/projects/acme/team/secret/", "/projects/acme/tools/"), status=404)


def test_private_download_needs_read_access_and_is_not_shared_cacheable(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "pkg", "1.0", token=env.writer)
    url = file_url(env, "acme/team/secret")
    env.app.get(url, status=401)
    env.app.get(url, headers=basic(env.outsider), status=404)
    response = env.app.get(url, headers=basic(env.reader))
    assert "private" in response.headers["Cache-Control"]


class RedirectingStorage(pypireg.MemoryStorage):
    """Answers downloads itself, as an object store handing out presigned URLs would."""

    def download_response(self, key, request, *, filename, sha256, size):  # type: ignore[no-untyped-def]
        from werkzeug.utils import redirect

        return redirect(f"https://objects.example/{key}?name={filename}")


def test_storage_may_answer_downloads_itself(tmp_path) -> None:
    env = Env(pypireg.create_app(storage=RedirectingStorage(), staging_dir=str(tmp_path)))
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    response = env.app.get(file_url(env), status=302)
    data = wheel_bytes("pkg", "1.0")
    assert response.headers["Location"].startswith(f"https://objects.example/sha256/{sha256(data)[:2]}/")
    assert isinstance(RedirectingStorage(), pypireg.ServesDownloads)
    assert not isinstance(pypireg.MemoryStorage(), pypireg.ServesDownloads)


def test_unknown_route_and_method_answer_json(env: Env) -> None:
    assert env.app.get("/nothing/here", status=404).json == {"message": "404 Not Found"}
    response = env.app.delete(SIMPLE.format(project="acme/tools"), status=405)
    assert response.json["message"].startswith("405 Method Not Allowed")
    assert "GET" in response.headers["Allow"]


def test_head_on_a_download_gives_headers_only(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer)
    response = env.app.head(file_url(env))
    assert response.body == b""
    assert response.headers["Content-Length"] == str(len(wheel_bytes("pkg", "1.0")))

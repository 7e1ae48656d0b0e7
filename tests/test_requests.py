"""Malformed and hostile requests: a clear 4xx each, headers always sendable, nothing stored."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

import pypireg
from pypireg import forms

from .distributions import wheel_bytes, wheel_name
from .helpers import API, Env, basic, raw_post, sha256, stored_state

GOOD = wheel_bytes("pkg", "1.0")
GOOD_NAME = wheel_name("pkg", "1.0")
MiB = 1024 * 1024


def part(name: str, value: bytes, file_name: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if file_name is not None:
        disposition += f'; filename="{file_name}"'
    return f"--XX\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    return preamble + b"".join(parts) + b"--XX--\r\n" + epilogue


def the_upload(*extra: bytes) -> bytes:
    return body(part("name", b"pkg"), part("version", b"1.0"), *extra,
                part("content", GOOD, GOOD_NAME))


def post(env: Env, data: bytes):  # type: ignore[no-untyped-def]
    return raw_post(env, data, "multipart/form-data; boundary=XX")


# -- multipart ---------------------------------------------------------------------------------


@pytest.fixture
def staging_files(monkeypatch) -> list[str]:
    """The staging files uploads open, as they are opened."""
    opened: list[str] = []
    real = forms.tempfile.mkstemp

    def spy(**kw):  # type: ignore[no-untyped-def]
        if kw.get("prefix") == "upload-":
            opened.append(kw["prefix"])
        return real(**kw)

    monkeypatch.setattr(forms.tempfile, "mkstemp", spy)
    return opened


def test_25000_file_parts_are_refused_without_a_file_each(fs_env: Env, staging_files) -> None:
    before = stored_state(fs_env)
    junk = [part(f"f{i}", b"x", f"f{i}.bin") for i in range(25_000)]
    content = part("content", GOOD, GOOD_NAME)
    response = post(fs_env, body(part("name", b"pkg"), part("version", b"1.0"), content, *junk))
    assert response.status_code == 413
    assert "more than 1000 form parts" in response.json["message"]
    assert len(staging_files) == 1  # the content part's only, and it is gone again
    assert stored_state(fs_env) == before


def test_only_the_content_part_is_spooled_to_disk(fs_env: Env, staging_files) -> None:
    signature = part("gpg_signature", b"-----BEGIN PGP SIGNATURE-----", GOOD_NAME + ".asc")
    classifiers = [part("classifiers", f"Topic :: {i}".encode()) for i in range(50)]
    response = post(fs_env, the_upload(signature, *classifiers))
    assert response.status_code == 201, response.json
    assert len(staging_files) == 1


def test_fields_are_capped_together_not_one_by_one(fs_env: Env) -> None:
    before = stored_state(fs_env)
    junk = [part(f"junk{i}", b"j" * MiB) for i in range(12)]  # each far under the cap
    response = post(fs_env, the_upload(*junk))
    assert response.status_code == 413
    assert "form fields besides the file exceed 8 MiB together" in response.json["message"]
    assert stored_state(fs_env) == before


def test_a_second_content_part_is_refused(fs_env: Env) -> None:
    response = post(fs_env, the_upload(part("content", GOOD, GOOD_NAME)))
    assert response.status_code == 400
    assert "more than one 'content' file part" in response.json["message"]


@pytest.mark.parametrize("where", ["preamble", "epilogue"])
def test_framing_is_bounded_too(fs_env: Env, where: str) -> None:
    filler = {where: b"z" * (2 * MiB)}
    response = post(fs_env, body(part("name", b"pkg"), part("content", GOOD, GOOD_NAME),
                                 **filler))
    assert response.status_code == 413
    assert "preamble, epilogue or a part's headers exceed 1 MiB" in response.json["message"]


def test_part_headers_that_never_end_are_bounded(fs_env: Env) -> None:
    response = post(fs_env, b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\nX: "
                    + b"y" * (2 * MiB))
    assert response.status_code == 413


def test_a_part_without_content_disposition_is_a_400(fs_env: Env) -> None:
    response = post(fs_env, b"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n")
    assert response.status_code == 400
    assert "Missing Content-Disposition" in response.json["message"]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("version", "1" * 5000, "the version is 5000 characters long; the limit is 255"),
    ("name", "p" * 300, "the name is 300 characters long; the limit is 255"),
])
def test_overlong_names_and_versions_are_refused(env: Env, field: str, value: str,
                                                 reason: str) -> None:
    fields = {"name": "pkg", "version": "1.0", field: value}
    response = env.upload("acme/tools", GOOD_NAME, GOOD, token=env.writer, **fields)
    assert response.status_int == 400
    assert reason in response.json["message"]


def test_an_overlong_file_name_is_refused(env: Env) -> None:
    name = "pkg-1.0" + "0" * 300 + "-py3-none-any.whl"
    response = env.upload("acme/tools", name, GOOD, token=env.writer, name="pkg", version="1.0")
    assert response.status_int == 400
    assert "the filename is 324 characters long" in response.json["message"]


# -- ids, pages and filters --------------------------------------------------------------------

LISTING = "/projects/acme%2Ftools/packages"


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/projects/99999999999999999999/packages", 404, "404 Project Not Found"),
    ("/projects/9223372036854775808/packages/pypi/simple/", 404, "404 Project Not Found"),
    ("/projects/%C2%B2/packages", 404, "404 Project Not Found"),  # '²' is a path, not an id
    ("/groups/99999999999999999999/packages", 404, "404 Group Not Found"),
    ("/groups/%D9%A3/-/packages/pypi/simple/", 404, "404 Group Not Found"),
    (f"{LISTING}/99999999999999999999", 404, "404 Package Not Found"),
    (f"{LISTING}/{'9' * 5000}", 404, "404 Package Not Found"),
    (f"{LISTING}/%C2%B2", 400, "package_id is invalid: '\u00b2' is not a number"),
    (f"{LISTING}/%D9%A3/package_files", 400, "package_id is invalid"),
    (f"{LISTING}?page=%C2%B2", 400, "page is invalid: '\u00b2' is not a whole number"),
    (f"{LISTING}?page=%D9%A3", 400, "page is invalid"),  # Arabic-Indic 3
    (f"{LISTING}?per_page=%D9%A3", 400, "per_page is invalid"),
    (f"{LISTING}?page=9223372036854775808", 400, "page is invalid"),
    (f"{LISTING}?page={'9' * 5000}", 400, "page is invalid"),
    (f"{LISTING}?page=92233720368547760&per_page=100", 400, "starts past the last row"),
    (f"{LISTING}?package_name=" + "+a" * 1000, 400, "package_name is invalid"),
    (f"{LISTING}?package_name=" + "+a" * 21, 400, "more than 20 terms"),
])
def test_numbers_and_filters_out_of_range(env: Env, path: str, status: int,
                                          message: str) -> None:
    response = env.app.get(path, headers=basic(env.deleter), status="*")
    assert response.status_int == status
    assert message in response.json["message"]


def test_the_largest_page_that_fits_is_answered(env: Env) -> None:
    response = env.app.get(f"{LISTING}?page=92233720368547759&per_page=100")
    assert response.json == [] and response.headers["X-Page"] == "92233720368547759"


def test_twenty_name_terms_are_fine(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    response = env.app.get(f"{LISTING}?package_name=" + "+p" * 20)
    assert [p["name"] for p in response.json] == ["pkg"]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "not valid JSON"),  # too deep
    (b'["reason"]', "application/json", 400, "must be an object"),
    (json.dumps({"reason": "x" * (128 * 1024)}).encode(), "application/json", 413, ""),
])
def test_yank_bodies(env: Env, body: bytes, content_type: str, status: int,
                     message: str) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    package_id = env.app.get(LISTING).json[0]["id"]
    deleter = env.registry.create_token("yanker", ["acme/tools:delete"])
    response = env.app.put(f"{LISTING}/{package_id}/yank", body, status="*",
                           headers={**basic(deleter), "Content-Type": content_type})
    assert response.status_int == status
    assert message in response.json["message"]


# -- headers -----------------------------------------------------------------------------------


def test_every_response_is_nosniff_and_sendable(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    file_url = (f"{API.format(project='acme/tools')}/files/{sha256(GOOD)}/{GOOD_NAME}")
    page = API.format(project="acme/tools") + "/simple/pkg/"
    etag = env.app.get(page).headers["ETag"]
    responses = [
        env.app.get(page), env.app.get(page, headers={"If-None-Match": etag}, status=304),
        env.app.get(file_url), env.app.get(LISTING + "?page=%D9%A3&x=%E2%98%83", status=400),
        env.app.get(LISTING + "?x=%E2%98%83&sort=desc"), env.app.get("/nowhere", status=404),
        env.app.get("/projects/acme%2Fteam%2Fsecret/packages", status=401),
        env.app.post(API.format(project="acme/tools"), status=401),
        env.app.delete(f"{LISTING}/1", status=401),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff", response
        for _, value in response.headerlist:
            value.encode("latin-1")  # what a WSGI server must be able to send
    assert "%E2%98%83" in responses[4].headers["Link"]


def test_mount_answers_nosniff_outside_its_prefix(env: Env) -> None:
    response = Client(pypireg.mount(env.registry, "/api/v4")).get("/elsewhere")
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_trusted_hosts_refuse_any_other_host(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path),
                                  trusted_hosts=["pypi.example.com", ".corp.example"])
    registry.create_project("tools", "public")
    client = Client(registry)
    for host in ("pypi.example.com", "pypi.example.com:8443", "a.corp.example", "corp.example"):
        response = client.get("/projects/tools/packages/pypi/simple/", headers={"Host": host})
        assert response.status_code == 200, host
        assert f"//{host}/" in response.text or response.text.count("<a ") == 0
    response = client.get("/projects/tools/packages/pypi/simple/",
                          headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "evil.example" in response.json["message"] and "not trusted" in response.json["message"]


def test_without_trusted_hosts_any_host_is_used(env: Env) -> None:
    env.upload_wheel("acme/tools", "pkg", "1.0", token=env.writer, status=201)
    page = env.app.get(API.format(project="acme/tools") + "/simple/pkg/",
                       headers={"Host": "mirror.example:81"})
    assert "http://mirror.example:81/projects/" in page.text


class Pieces:
    """A body that arrives in the given pieces, as a socket may deliver it."""

    def __init__(self, *pieces: bytes) -> None:
        self._pieces = list(pieces)

    def read(self, _size: int) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


@pytest.mark.parametrize("ending", [b"\r\n--XX--\r\n", b"\r\n--XX--"])
def test_the_file_is_stored_as_sent_wherever_the_body_is_cut(tmp_path, ending) -> None:
    head = b'--XX\r\nContent-Disposition: form-data; name="content"; filename="a.whl"\r\n\r\n'
    for content in (b"abcdefgh", b"abc-", b"abc\r", b"--"):
        whole = head + content + ending
        for cut in range(len(head), len(whole)):
            parser = forms._Parser(str(tmp_path), pypireg.Limits())
            parser.feed(b"XX", forms._chunks(Pieces(whole[:cut], whole[cut:])))
            parser.content.finish()
            with open(parser.content.path, "rb") as staged:
                assert staged.read() == content, (content, cut)
            parser.discard()


def test_trusted_hosts_are_compared_without_case(tmp_path) -> None:
    registry = pypireg.create_app(staging_dir=str(tmp_path), trusted_hosts=["PyPI.Example.com"])
    registry.create_project("tools", "public")
    client = Client(registry)
    for host in ("pypi.example.com", "PYPI.example.COM:8080"):
        response = client.get("/projects/tools/packages/pypi/simple/", headers={"Host": host})
        assert response.status_code == 200, host


@pytest.mark.parametrize(("hosts", "message"), [
    ([], "trusted_hosts is empty"),
    ([".bad..name"], "is not a host name"),
    (["has space.example"], "is not a host name"),
])
def test_bad_trusted_hosts_are_refused_when_the_app_is_built(tmp_path, hosts, message) -> None:
    with pytest.raises(ValueError, match=message):
        pypireg.create_app(staging_dir=str(tmp_path), trusted_hosts=hosts)

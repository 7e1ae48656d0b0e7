"""Random requests against the in-process app: never a 5xx, always a sendable answer, and a
refused request never changes what is stored.

The run is derandomized (the same requests every time) and bounded; set
``PYPIREG_FUZZ_EXAMPLES`` (default 1500 per test) for a longer one by hand.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

import pypireg

from .distributions import sdist_bytes, wheel_bytes, wheel_name
from .helpers import multipart, sha256

EXAMPLES = int(os.environ.get("PYPIREG_FUZZ_EXAMPLES", "1500"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


class Target:
    """One registry with a little of everything, shared by every example."""

    def __init__(self) -> None:
        self.registry = pypireg.create_app(staging_dir=_staging())
        registry = self.registry
        registry.create_group("acme", "public")
        registry.create_group("acme/team", "private")
        registry.create_project("acme/tools", "public")
        registry.create_project("acme/team/secret", "private")
        self.tokens = [registry.create_token("r", ["acme:read"]),
                       registry.create_token("w", ["acme:write"]),
                       registry.create_token("d", ["acme/team:delete"], "deploy"),
                       registry.create_token("j", ["acme/tools:delete"], "job")]
        writer = {"PRIVATE-TOKEN": self.tokens[1]}
        for project in ("acme/tools", "acme/team/secret"):
            for version in ("1.0", "2.0"):
                self.send("POST", f"/projects/{quote(project, safe='')}/packages/pypi", writer,
                          *multipart([("name", b"pkg"), ("version", version.encode())],
                                     wheel_name("pkg", version), wheel_bytes("pkg", version),
                                     boundary="FuZz", file_type=None))
        self.digest = sha256(wheel_bytes("pkg", "1.0"))

    def send(self, method: str, url: str, headers: dict[str, str], body: bytes = b"",
             content_type: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        path, _, query = url.partition("?")
        builder = EnvironBuilder(path=path, query_string=query, method=method,
                                 headers=headers, input_stream=io.BytesIO(body),
                                 content_length=len(body), content_type=content_type)
        environ = builder.get_environ()
        app_iter, status, response_headers = run_wsgi_app(self.registry, environ)
        content = b"".join(app_iter)  # the whole answer arrives
        getattr(app_iter, "close", lambda: None)()
        return int(status.split()[0]), list(response_headers.items()), content

    def state(self) -> tuple:
        """What is stored; buffered download times are written first, since any request
        may flush them, and when a token was last used is left out: any request says."""
        self.registry.downloads.flush()
        db = self.registry.catalog.db
        tables = ("groups", "projects", "packages", "package_files", "tokens")
        rows = tuple(tuple(tuple(v for k, v in r.items() if k != "last_used_at")
                           for r in db.query(f"SELECT * FROM {t} ORDER BY 1"))
                     for t in tables)
        return rows, tuple(sorted(self.registry.storage.keys())),  # type: ignore[attr-defined]


def _staging() -> str:
    """A staging directory for the shared target, removed when the test process ends."""
    directory = tempfile.mkdtemp(prefix="pypireg-fuzz-")
    atexit.register(shutil.rmtree, directory, True)
    return directory


TARGET = Target()

# -- what a request is made of -----------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
latin1 = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60)
numbers = st.one_of(
    st.integers(-5, 5).map(str), st.integers(0, 2**70).map(str),
    st.sampled_from(["\u00b2", "\u0663", "\uff11", "1e3", "0x10", "", " 1", "1.5", "-0",
                     "9223372036854775807", "9223372036854775808", "9" * 5000]),
)
KNOWN_REFS = ["acme%2Ftools", "acme/tools", "acme%2Fteam%2Fsecret", "acme", "acme/team", "1", "2"]
# Mostly names that exist, so that requests get past the lookups to the code behind them.
refs = st.one_of(st.sampled_from(KNOWN_REFS), st.sampled_from(KNOWN_REFS), numbers,
                 st.sampled_from(["ACME", "%2e%2e", "..", "%00"]),
                 text.map(lambda t: quote(t, safe="")))
names = st.one_of(st.sampled_from(["pkg", "PKG", "p_k-g", "nope", ""]), st.just("pkg"),
                  text.map(lambda t: quote(t, safe="")))
segment = st.one_of(numbers, names, st.just(TARGET.digest), st.just(wheel_name("pkg", "1.0")))


@st.composite
def paths(draw) -> str:  # type: ignore[no-untyped-def]
    project, group, name = draw(refs), draw(refs), draw(names)
    package, file_id = draw(st.one_of(st.sampled_from("1234"), numbers)), draw(
        st.one_of(st.sampled_from("1234"), numbers))
    pypi, gpypi = f"/projects/{project}/packages/pypi", f"/groups/{group}/-/packages/pypi"
    digest = draw(st.one_of(st.just(TARGET.digest), text.map(lambda t: quote(t, safe=""))))
    file_name = draw(st.one_of(st.just(wheel_name("pkg", "1.0")), names))
    templates = [
        f"{pypi}/simple/", f"{pypi}/simple/{name}/", f"{pypi}/files/{digest}/{file_name}",
        f"{pypi}/files/{digest}/{file_name}.metadata", f"{pypi}", f"{gpypi}/simple/",
        f"{gpypi}/simple/{name}", f"{gpypi}/files/{digest}/{file_name}",
        f"/groups/{group}/packages", f"/projects/{project}/packages",
        f"/projects/{project}/packages/{package}",
        f"/projects/{project}/packages/{package}/package_files",
        f"/projects/{project}/packages/{package}/package_files/{file_id}",
        f"/projects/{project}/packages/{package}/yank",
        "/" + "/".join(draw(st.lists(segment, max_size=8))),
    ]
    return draw(st.sampled_from(templates))


PARAMS = ["page", "per_page", "order_by", "sort", "package_type", "package_name", "status",
          "format", "exclude_subgroups", "include_versionless", "reason", "file_name"]
queries = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), text),
                             st.one_of(numbers, text, st.sampled_from(
                                 ["desc", "name", "version", "pypi", "hidden", "true",
                                  "application/vnd.pypi.simple.v1+json", "+a" * 30]))),
                   max_size=5)


@st.composite
def header_sets(draw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    token = draw(st.one_of(st.sampled_from(TARGET.tokens), st.sampled_from(TARGET.tokens),
                           latin1))
    choices = {
        "Authorization": st.one_of(
            st.sampled_from([f"Bearer {token}", "Basic", "Basic ???", "Basic " + "A" * 5000]),
            st.builds(lambda u: "Basic " + __import__("base64").b64encode(
                f"{u}:{token}".encode()).decode(),
                st.sampled_from(["x", "gitlab-ci-token", "d"])),
            latin1),
        "PRIVATE-TOKEN": st.just(token), "JOB-TOKEN": st.just(token),
        "Accept": st.one_of(latin1, st.sampled_from([
            "application/vnd.pypi.simple.v1+json", "text/html;q=0.1, */*;q=0.2", "a/b;q=x"])),
        "If-None-Match": latin1, "If-Modified-Since": latin1, "If-Unmodified-Since": latin1,
        "Range": st.one_of(latin1, st.sampled_from(["bytes=0-0", "bytes=-5", "bytes=9-2",
                                                     "bytes=0-1,3-4", "bytes=99999999999-"])),
        "If-Range": latin1, "Host": st.one_of(latin1, st.just("reg.example:99")),
        "X-Forwarded-Host": latin1, "Content-Encoding": st.sampled_from(["gzip", "br"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=4))
    return {name: draw(choices[name]) for name in chosen}


contents = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([wheel_bytes("pkg", "3.0"), sdist_bytes("pkg", "3.0"),
                     wheel_bytes("pkg", "1.0", payload="# other bytes"),
                     wheel_bytes("pkg", "3.0")[:-40], sdist_bytes("pkg", "3.0")[:50]]),
    st.binary(max_size=64).map(lambda b: wheel_bytes("pkg", "3.0")[:100] + b
                               + wheel_bytes("pkg", "3.0")[100:]),
)


@st.composite
def bodies(draw) -> tuple[bytes, str | None]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["none", "raw", "form", "json"]))
    if kind == "none":
        return b"", None
    if kind == "raw":
        return draw(st.binary(max_size=400)), draw(st.one_of(st.none(), latin1, st.just(
            "multipart/form-data; boundary=FuZz")))
    if kind == "json":
        return draw(st.one_of(st.binary(max_size=100), st.sampled_from(
            [b'{"reason": "r"}', b'{"file_name": 5}', b"[]", b"null", b'{"reason": []}']))), (
            "application/json")
    fields = draw(st.lists(st.tuples(st.one_of(st.sampled_from(
        ["name", "version", "requires_python", "md5_digest", "sha256_digest", ":action",
         "description"]), text), st.one_of(text.map(str.encode), st.sampled_from(
        [b"pkg", b"3.0", b"1.0", b">=3.8", b"!!", b"1" * 5000, b"\xff\xfe"]))), max_size=6))
    file_name = draw(st.one_of(st.none(), st.sampled_from(
        [wheel_name("pkg", "3.0"), "pkg-3.0.tar.gz", wheel_name("pkg", "1.0"), "", "../x.whl",
         "pkg-3.0.zip", "a\\b.whl"]), text))
    return multipart(fields, file_name, draw(contents), boundary="FuZz", file_type=None)


def check(status: int, headers: list[tuple[str, str]], before: tuple) -> None:
    assert status < 500, status
    for name, value in headers:
        name.encode("latin-1")
        value.encode("latin-1")
        assert "\n" not in value and "\r" not in value
    assert ("X-Content-Type-Options", "nosniff") in headers
    if status >= 400:
        assert TARGET.state() == before, "a refused request changed what is stored"


@FUZZ
@given(method=st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "PATCH"]),
       path=paths(), query=queries, headers=header_sets())
def test_random_requests(method: str, path: str, query: list, headers: dict) -> None:
    before = TARGET.state()
    url = path + ("?" + urlencode(query) if query else "")
    status, response_headers, _ = TARGET.send(method, url, headers)
    check(status, response_headers, before)


@FUZZ
@given(method=st.sampled_from(["POST", "PUT"]), body=bodies(), headers=header_sets(),
       project=st.sampled_from(["acme%2Ftools", "acme%2Fteam%2Fsecret", "1", "99"]),
       token=st.sampled_from([None, *TARGET.tokens]))
def test_random_uploads(method: str, body: tuple, headers: dict, project: str,
                        token: str | None) -> None:
    before = TARGET.state()
    if token:
        headers = {**headers, "PRIVATE-TOKEN": token}
    status, response_headers, _ = TARGET.send(method, f"/projects/{project}/packages/pypi",
                                              headers, *body)
    check(status, response_headers, before)


@FUZZ
@given(path=st.sampled_from([
    "/projects/acme%2Ftools/packages", "/groups/acme/packages", "/projects/2/packages/1",
    "/projects/1/packages/1/package_files", "/projects/acme%2Ftools/packages/pypi/simple/",
    "/groups/acme/-/packages/pypi/simple/pkg/", "/projects/1/packages/pypi/simple/pkg"]),
    query=queries, accept=st.one_of(st.none(), latin1))
def test_random_queries_by_a_reader(path: str, query: list, accept: str | None) -> None:
    """Past authentication, so that every parameter reaches the code that reads it."""
    before = TARGET.state()
    headers = {"PRIVATE-TOKEN": TARGET.tokens[0], **({"Accept": accept} if accept else {})}
    status, response_headers, _ = TARGET.send("GET", path + "?" + urlencode(query), headers)
    check(status, response_headers, before)

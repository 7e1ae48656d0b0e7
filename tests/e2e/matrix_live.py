"""What the client matrix runs against: a live ``pypireg serve`` holding a private project
of small real distributions, behind two recording fronts, one of which makes every client
read HTML pages.

The project holds ``Acme.Widgets`` 1.0, 1.1 (which needs ``Acme_Gears`` of the same
project), 1.2 (yanked) and 2.0 (``Requires-Python: >=4``), each a wheel, which has PEP 658
metadata, and an sdist. An installer asked for ``Acme.Widgets`` (a name that needs
normalization) must install 1.1 and Acme_Gears 1.0, and never download a file of 1.2 or
2.0.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import os
import tarfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.wsgi import get_input_stream

import pypireg

from ..helpers import missing
from ..upstreams import serve
from .clients import Tripwire
from .live import BIN, client_env, run, serve_command
from .matrix import HOW

PROJECT = "acme/matrix"
ENCODED = "acme%2Fmatrix"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization"}


def need(found, what: str):  # type: ignore[no-untyped-def]
    """``found``, or skip saying how to get ``what``; under CI, which provisions every
    client and interpreter, fail instead."""
    if found:
        return found
    missing(what, HOW)


# -- the distributions ---------------------------------------------------------------------


def metadata(name: str, version: str, requires_python: str, requires: tuple[str, ...],
             metadata_version: str) -> str:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}",
             f"Summary: {name} {version} for the client matrix",
             f"Requires-Python: {requires_python}", *(f"Requires-Dist: {r}" for r in requires)]
    return "\n".join(lines) + "\n"


def distributions(out: Path, name: str, version: str, requires_python: str = ">=3.6",
                  requires: tuple[str, ...] = (), marker: str = "",
                  metadata_version: str = "2.1") -> list[Path]:
    """A real wheel (with a RECORD of hashes) and sdist of ``name``; ``marker`` changes
    the module's bytes, for a file that differs from one already stored. Metadata-Version
    2.1 unless asked, as most of an index is: every client of the matrix reads it (twine 5
    reads no later version than 2.3)."""
    module = name.lower().replace(".", "_")
    stem = f"{module}-{version}"
    code = f"VERSION = {version!r}\n{marker}".encode()
    meta = metadata(name, version, requires_python, requires, metadata_version).encode()
    members = {
        f"{module}/__init__.py": code,
        f"{stem}.dist-info/METADATA": meta,
        f"{stem}.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: matrix\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={_digest(data)},{len(data)}\n"
                     for path, data in members.items()) + f"{stem}.dist-info/RECORD,,\n"
    members[f"{stem}.dist-info/RECORD"] = record.encode()
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), data)
    sdist = out / f"{stem}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for path, data in {"PKG-INFO": meta, f"{module}/__init__.py": code,
                           "pyproject.toml": b'[build-system]\nrequires = ["setuptools"]\n'
                                             b'build-backend = "setuptools.build_meta"\n'
                           }.items():
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size, info.mtime = len(data), 1704067200
            archive.addfile(info, io.BytesIO(data))
    return [wheel, sdist]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def all_distributions(out: Path) -> list[Path]:
    return [
        *distributions(out, "Acme_Gears", "1.0"),
        *distributions(out, "Acme.Widgets", "1.0"),
        *distributions(out, "Acme.Widgets", "1.1", requires=("acme.gears>=1.0",)),
        *distributions(out, "Acme.Widgets", "1.2", requires=("acme.gears>=1.0",)),
        *distributions(out, "Acme.Widgets", "2.0", requires_python=">=4",
                       requires=("acme.gears>=1.0",)),
    ]


# -- the fronts ----------------------------------------------------------------------------


@dataclass
class Answer:
    path: str
    status: int
    content_type: str


@dataclass
class Front:
    """A proxy before the server that records every answer; with ``html`` it asks for
    HTML pages whatever the client asked, as an HTML-only proxy or cache would. Requests
    go on with their path as the client sent it, and the Host header of the front, so the
    pages' URLs lead back through it."""

    port: int
    html: bool
    log: list[Answer] = field(default_factory=list)
    url: str = ""

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        if self.html:
            headers["Accept"] = "text/html"
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        body = get_input_stream(environ).read() or None  # as long as Content-Length says
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            # REQUEST_URI (werkzeug's server sets it): the path as sent, %2F and all.
            connection.request(environ["REQUEST_METHOD"], environ["REQUEST_URI"], body, headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        self.log.append(Answer(environ["REQUEST_URI"], answer.status,
                               answer.getheader("Content-Type", "")))
        start_response(f"{answer.status} {answer.reason}",
                       [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP])
        return [data]


# -- the registry --------------------------------------------------------------------------


@dataclass
class Matrix:
    registry: pypireg.Registry
    fronts: dict[str, Front]  # "json": asks as the client asks; "html": HTML only
    reader: str  # may install from acme/matrix
    writer: str  # may publish anywhere in acme
    dists: list[Path]
    tripwire: Tripwire

    def index(self, form: str, project: str = ENCODED) -> str:
        base = self.fronts[form].url.replace("http://", f"http://__token__:{self.reader}@")
        return f"{base}/api/v4/projects/{project}/packages/pypi/simple"

    def upload_url(self, project: str) -> str:
        return f"{self.fronts['json'].url}/api/v4/projects/{project.replace('/', '%2F')}" \
               "/packages/pypi"

    def env(self, tmp: Path, **extra: str) -> dict[str, str]:
        """A clean client environment (tests/e2e/live.py) whose proxies are the
        tripwire: nothing may reach for the internet."""
        return {**client_env(tmp), **self.tripwire.env, **extra}

    def clear(self) -> None:
        for front in self.fronts.values():
            front.log.clear()

    def answers(self) -> list[Answer]:
        return [a for front in self.fronts.values() for a in front.log]

    def files(self, project: str) -> dict[str, str]:
        """The live files of ``project``, with their sha256."""
        rows = self.registry.catalog.db.query(
            "SELECT f.file_name, f.sha256 FROM package_files f JOIN projects p"
            " ON p.id = f.project_id WHERE p.path = ? AND f.status = 'default'", [project])
        return {row["file_name"]: row["sha256"] for row in rows}


def start(tmp: Path, stack: ExitStack) -> Matrix:
    data = tmp / "data"
    registry = pypireg.create_app(data)
    registry.create_group("acme", "private")
    registry.create_project(PROJECT, "private")
    reader = registry.create_token("reader", [f"{PROJECT}:read"])
    writer = registry.create_token("publisher", ["acme:write"])
    url, _ = stack.enter_context(serve_command("--data", str(data)))
    port = int(url.split(":")[2].split("/")[0])
    fronts = {form: Front(port, html=form == "html") for form in ("json", "html")}
    for front in fronts.values():
        front.url = stack.enter_context(serve(front)).url
    tripwire = Tripwire()
    stack.callback(tripwire.close)
    dists = all_distributions(tmp / "dists")
    matrix = Matrix(registry, fronts, reader, writer, dists, tripwire)
    run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", matrix.upload_url(PROJECT), "-u", "__token__", "-p", writer,
         *map(str, dists)], matrix.env(tmp))
    registry.yank(PROJECT, "Acme.Widgets", "1.2", reason="broken on Tuesdays")
    return matrix


# -- what every install must show ----------------------------------------------------------


def installed(python: Path, env: dict[str, str]) -> tuple[str, str]:
    said = run([str(python), "-c", "import acme_widgets, acme_gears;"
                " print(acme_widgets.VERSION, acme_gears.VERSION)"], env)
    widgets, gears = said.stdout.split()
    return widgets, gears


def check_install(matrix: Matrix, form: str, *, asks_json: bool, reads_metadata: bool
                  ) -> None:
    """The pages went out in the form expected, no file of the yanked or excluded versions
    was downloaded, and PEP 658 metadata was read where the client reads it."""
    answers = matrix.answers()
    pages = [a for a in answers if "/simple/" in a.path and a.status == 200]
    assert {a.path.rstrip("/").rpartition("/")[2] for a in pages} >= {"acme-widgets",
                                                                      "acme-gears"}
    json_pages = form == "json" and asks_json
    for page in pages:
        expected = "application/vnd.pypi.simple.v1+json" if json_pages else "text/html"
        assert page.content_type.startswith(expected), (page.path, page.content_type)
    downloads = [a.path.rpartition("/")[2] for a in answers if "/files/" in a.path]
    assert not [d for d in downloads if d.startswith(("acme_widgets-1.2", "acme_widgets-2.0"))
                and not d.endswith(".metadata")], downloads
    assert {"acme_widgets-1.1-py3-none-any.whl", "acme_gears-1.0-py3-none-any.whl"} <= set(
        downloads), downloads
    assert not [d for d in downloads if d.endswith(".tar.gz")], downloads  # wheels only
    assert ("acme_widgets-1.1-py3-none-any.whl.metadata" in downloads) == reads_metadata, \
        downloads
    # A client may be asked for its credentials once per path (a 401), and must then pass.
    last = {a.path: a.status for a in answers}
    assert all(status < 400 for status in last.values()), last


def new_venv(python: Path, where: Path, *, with_pip: bool = False) -> Path:
    argv = [str(python), "-m", "venv", str(where)]
    run(argv if with_pip else [*argv, "--without-pip"],
        {**os.environ, "PIP_CONFIG_FILE": os.devnull})
    return where / "bin" / "python"

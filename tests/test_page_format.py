"""Every simple page's ETag holds render.PAGE_FORMAT, so a page whose bytes change must
come with a new format, or clients holding the old page are told it is current. This
test renders a fixed set of pages (project and group, index and package, HTML and JSON)
and compares their digest with the one recorded for the current format in
tests/fixtures/page-format.json: changed pages under the same format fail.

After changing what pages say: raise PAGE_FORMAT, then record the new pages with
``PYPIREG_RECORD_PAGES=1 pytest tests/test_page_format.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import pypireg
from pypireg import render

from .distributions import sdist_bytes
from .helpers import Env

RECORD = Path(__file__).parent / "fixtures" / "page-format.json"
SCOPES = ("/projects/acme%2Ftools/packages/pypi", "/groups/acme/-/packages/pypi")
PAGES = [f"{scope}/simple/{name}" for scope in SCOPES for name in ("", "demo/")]
FORMS = ["text/html", "application/vnd.pypi.simple.v1+json"]
# What differs from run to run, or from one zlib to another: the times of uploads, and the
# digests and sizes of the compressed files.
VARIES = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"
                    rb"|[0-9a-f]{64}|(?<=data-size=\")\d+|(?<=\"size\": )\d+")


def pages_digest(tmp_path: Path) -> str:
    env = Env(pypireg.create_app(tmp_path / "data"))
    env.upload_wheel("acme/tools", "demo", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "demo", "2.0", token=env.writer, status=201,
                     requires_python=">=3.9")
    env.upload("acme/tools", "demo-2.0.tar.gz", sdist_bytes("demo", "2.0"),
               token=env.writer, status=201, name="demo", version="2.0")
    env.upload_wheel("acme/tools", "other", "0.1", token=env.writer, status=201)
    env.registry.yank("acme/tools", "demo", "1.0", reason="broken")
    env.registry.set_name_status(env.public, "other", "deprecated", reason="use demo")
    digest = hashlib.sha256()
    for page in PAGES:
        for form in FORMS:
            body = env.app.get(page, headers={"Accept": form}).body
            digest.update(page.encode() + form.encode() + VARIES.sub(b"<varies>", body))
    return digest.hexdigest()


def test_pages_that_change_come_with_a_new_format(tmp_path) -> None:
    digest = pages_digest(tmp_path)
    if os.environ.get("PYPIREG_RECORD_PAGES"):
        RECORD.write_text(json.dumps({"page_format": render.PAGE_FORMAT,
                                      "sha256": digest}, indent=2) + "\n")
    recorded = json.loads(RECORD.read_text())
    assert recorded["page_format"] == render.PAGE_FORMAT, (
        "render.PAGE_FORMAT was raised: record the pages it names with"
        " PYPIREG_RECORD_PAGES=1 pytest tests/test_page_format.py")
    assert recorded["sha256"] == digest, (
        "the simple pages changed: raise render.PAGE_FORMAT (so clients holding the old"
        " pages fetch the new ones), then record them with PYPIREG_RECORD_PAGES=1 pytest"
        " tests/test_page_format.py")


_TEXT = st.text(max_size=8)  # any characters: quotes, backslashes, controls, astral ones


@settings(max_examples=500, deadline=None)
@given(st.builds(
    render.File, filename=_TEXT, url=_TEXT, sha256=_TEXT, version=_TEXT,
    requires_python=_TEXT, size=st.none() | st.integers(0, 2**63 - 1), upload_time=_TEXT,
    metadata_sha256=st.none() | _TEXT, metadata_unhashed=st.booleans(),
    yanked=st.booleans(), yanked_reason=_TEXT, provenance_url=st.none() | _TEXT))
def test_a_json_entry_is_what_json_dumps_gives(f: render.File) -> None:
    """A JSON page's entry is written out by hand: the bytes ``json.dumps`` gives the
    entry's dictionary, whatever its values hold."""
    assert render.file_json(f) == json.dumps(render._file_json(f))

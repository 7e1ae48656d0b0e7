"""The simple pages in HTML (PEP 503, GitLab's shape, every piece escaped by markupsafe) and
in JSON (PEP 691 with PEP 700's fields), with PEP 658/714 metadata, PEP 592 yanks, PEP 740
provenance and PEP 792 statuses. HTML links also carry the upload time and size
(``data-upload-time``, ``data-size``: not in a standard, but uv reads them for its
``exclude-newer`` cooldown)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _string  # json.dumps's, for str
from typing import NamedTuple

from markupsafe import Markup, escape
from packaging.version import InvalidVersion, Version

from .models import IndexEntry, NameStatus

API_VERSION = "1.4"  # PEP 792
# The version of what this module writes for a given catalog state. Page ETags include it
# (views/pages.py), so bump it whenever a page's bytes change: clients holding the old page
# then fetch the new one instead of being told theirs is current. tests/test_page_format.py
# fails when pages change under the same format.
PAGE_FORMAT = 2  # 2: files no longer announce "dist-info-metadata" (PEP 714's old name)
ACTIVE = NameStatus()  # a page's status unless one is given
_SPECIAL = re.compile("[&<>\"']")  # what markupsafe's escape() replaces

_PAGE = Markup(
    "<!DOCTYPE html>\n"
    "<html>\n"
    "  <head>\n"
    '    <meta name="pypi:repository-version" content="{api_version}">\n'
    "{meta}"
    "    <title>Links for {title}</title>\n"
    "  </head>\n"
    "  <body>\n"
    "    <h1>Links for {title}</h1>\n"
    "    {links}\n"
    "  </body>\n"
    "</html>\n"
)


@dataclass(frozen=True)
class Project:
    """One entry of an index page."""

    name: str
    url: str
    requires_python: str = ""


class File(NamedTuple):
    """One file of a package page (a tuple: a page builds thousands)."""

    filename: str
    url: str  # without the #sha256 fragment
    sha256: str
    version: str
    requires_python: str = ""
    size: int | None = 0  # None: not known (an upstream's HTML page may not say)
    upload_time: str = ""
    metadata_sha256: str | None = None  # "" or None: no PEP 658 metadata
    metadata_unhashed: bool = False  # PEP 658 metadata served, its sha256 not known yet
    yanked: bool = False
    yanked_reason: str = ""
    provenance_url: str | None = None  # PEP 740


def index_html(title: str, projects: Iterable[Project]) -> str:
    return _page(title, (_link(p.url, p.name, p.requires_python) for p in projects))


def index_html_templated(title: str, entries: Iterable[IndexEntry], head: str, tail: str
                         ) -> str:
    """:func:`index_html` for entries whose page URLs are ``head + normalized name + tail``:
    the same bytes, with the URL's parts escaped once instead of once per name (a
    normalized name, ``[a-z0-9-]``, has nothing to escape)."""
    head, tail = escape(head), escape(tail)
    return _page(title, (
        f'<a href="{head}{e.normalized_name}{tail}" data-requires-python="'
        f'{escape(e.requires_python) if e.requires_python else ""}">{escape(e.name)}</a><br>'
        for e in entries))


def package_html(title: str, files: Iterable[File], status: NameStatus = ACTIVE) -> str:
    return package_html_of(title, map(file_html, files), status)


def package_html_of(title: str, links: Iterable[str], status: NameStatus = ACTIVE) -> str:
    """:func:`package_html` of its files' links, each rendered already by :func:`file_html`
    (a page rendered again reuses the links of the files that did not change)."""
    meta = Markup('    <meta name="pypi:project-status" content="{}">\n').format(status.status)
    if status.reason:
        meta += Markup('    <meta name="pypi:project-status-reason" content="{}">\n'
                       ).format(status.reason)
    return _page(title, links, meta)


def file_html(f: File) -> str:
    """One file's link on an HTML package page."""
    return _link(f"{f.url}#sha256={f.sha256}", f.filename, f.requires_python, _extra(f))


def _link(href: str, text: str, requires_python: str, extra: str = "") -> str:
    """One link; ``extra`` is attributes already escaped."""
    # _escaped() on each value rather than Markup.format: five times faster on a page of
    # 100,000 links, and every value that needs it is still escaped by markupsafe.
    return (f'<a href="{_escaped(href)}" data-requires-python="{_escaped(requires_python)}"'
            f"{extra}>{_escaped(text)}</a><br>")


def _escaped(value: str) -> str:
    """``value`` escaped by markupsafe; as it is when it has nothing to escape (most URLs
    and file names), which costs a search instead of a new string."""
    return str(escape(value)) if _SPECIAL.search(value) else value


def index_json(projects: Iterable[Project]) -> str:
    """``url`` is not used: the JSON index names projects only."""
    return json.dumps({"meta": {"api-version": API_VERSION},
                       "projects": [{"name": p.name} for p in projects]})


def package_json(normalized_name: str, files: list[File],
                 status: NameStatus = ACTIVE) -> str:
    return package_json_of(normalized_name, [file_json(f) for f in files],
                           sorted_versions(f.version for f in files), status)


def package_json_of(normalized_name: str, entries: Iterable[str], versions: list[str],
                    status: NameStatus = ACTIVE) -> str:
    """:func:`package_json` of its files' entries, each rendered already by
    :func:`file_json`, and of its :func:`sorted_versions`: the bytes ``json.dumps`` gives
    the whole page."""
    project_status = {"status": status.status}
    if status.reason:
        project_status["reason"] = status.reason
    head = json.dumps({
        "meta": {"api-version": API_VERSION},
        "name": normalized_name,
        "project-status": project_status,
        "versions": versions,
    })
    return f'{head[:-1]}, "files": [{", ".join(entries)}]}}'


def file_json(f: File) -> str:
    """One file's entry on a JSON package page: the bytes ``json.dumps`` gives
    :func:`_file_json`'s entry, each string escaped by the same function, written out
    rather than built as a dictionary first (a page has thousands)."""
    text = (f'{{"filename": {_string(f.filename)}, "url": {_string(f.url)},'
            f' "hashes": {{"sha256": {_string(f.sha256)}}}')
    if f.requires_python:
        text += f', "requires-python": {_string(f.requires_python)}'
    if f.metadata_sha256:
        text += f', "core-metadata": {{"sha256": {_string(f.metadata_sha256)}}}'
    else:
        text += ', "core-metadata": true' if f.metadata_unhashed else ', "core-metadata": false'
    if f.yanked:
        text += f', "yanked": {_string(f.yanked_reason)}' if f.yanked_reason else (
            ', "yanked": true')
    else:
        text += ', "yanked": false'
    if f.size is not None:
        text += f', "size": {int.__repr__(f.size)}'
    if f.upload_time:
        text += f', "upload-time": {_string(f.upload_time)}'
    if f.provenance_url is None:
        return text + ', "provenance": null}'
    return f'{text}, "provenance": {_string(f.provenance_url)}}}'


def _page(title: str, links: Iterable[str], meta: str = "") -> str:
    return str(_PAGE.format(api_version=API_VERSION, meta=Markup(meta), title=title,
                            links=Markup("".join(links))))


def _extra(f: File) -> str:
    """The attributes beyond GitLab's: the upload time and size, PEP 658/714 metadata, PEP
    592 yanks and PEP 740 provenance, each value escaped by markupsafe."""
    extra = f' data-size="{int(f.size)}"' if f.size is not None else ""
    if f.upload_time:
        extra += f' data-upload-time="{_escaped(f.upload_time)}"'
    if f.metadata_sha256:
        # PEP 714's name only: the pips that read the older data-dist-info-metadata (22.3
        # to 23.1, and no other) compare the metadata's Name with the requested name
        # unnormalized, so `pip install pyyaml` would discard PyYAML's wheel.
        extra += f' data-core-metadata="sha256={_escaped(f.metadata_sha256)}"'
    elif f.metadata_unhashed:
        extra += ' data-core-metadata="true"'
    if f.yanked:
        extra += f' data-yanked="{escape(f.yanked_reason)}"'
    if f.provenance_url:
        extra += f' data-provenance="{escape(f.provenance_url)}"'
    return extra


def _file_json(f: File) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": f.filename,
        "url": f.url,
        "hashes": {"sha256": f.sha256},
    }
    if f.requires_python:
        entry["requires-python"] = f.requires_python
    # PEP 714's key only: pip 22.3 to 23.1 read the older "dist-info-metadata" as a string
    # and crash on the object JSON gives it.
    entry["core-metadata"] = ({"sha256": f.metadata_sha256} if f.metadata_sha256
                              else f.metadata_unhashed)
    entry["yanked"] = (f.yanked_reason or True) if f.yanked else False
    if f.size is not None:
        entry["size"] = f.size
    if f.upload_time:
        entry["upload-time"] = f.upload_time
    entry["provenance"] = f.provenance_url  # PEP 740: a URL, or null
    return entry


def sorted_versions(versions: Iterable[str]) -> list[str]:
    """A JSON page's ``versions``: each of ``versions`` once, "" left out, oldest first."""
    def key(version: str) -> tuple[int, object]:
        try:
            return (0, Version(version))
        except InvalidVersion:  # stored versions are valid; sort anything else last
            return (1, version)

    return sorted({v for v in versions if v}, key=key)

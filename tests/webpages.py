"""The web pages through pypireg.site in-process (pages at the root, the API at /api/v4),
as the tests of the pages read them."""

from __future__ import annotations

from webtest import TestApp

import pypireg

from .distributions import described_wheel
from .helpers import Env, basic, sha256

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API = "/api/v4/projects/{project}/packages/pypi"


class Site(Env):
    def __init__(self, registry: pypireg.Registry) -> None:
        super().__init__(registry)
        self.site = TestApp(pypireg.site(registry))

    def publish(self, project: str, name: str, version: str, *, metadata: str = "",
                body: str = "", summary: str = "") -> None:
        file_name, data = described_wheel(name, version, metadata, body)
        fields = {"name": name, "version": version, "sha256_digest": sha256(data)}
        if summary:
            fields["summary"] = summary
        self.site.post(API.format(project=project), params=list(fields.items()),
                       upload_files=[("content", file_name, data)], headers=basic(self.writer),
                       status=201)

    def page(self, path: str, token: str | None = None, status: int | str = 200, **kw):
        headers = {**HTML, **(basic(token) if token else {})}
        return self.site.get(path, headers=headers, status=status, **kw)


def names_on(page) -> list[str]:
    return [a.text for a in page.html.select("ul.names a.name")]

"""What a package page shows people, taken from a distribution's core metadata once, at
upload: the README rendered as PyPI renders it (readme-renderer and its sanitizer), and
the fields worth reading (license, project URLs, dependencies, classifiers)."""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

from packaging.metadata import parse_email
from readme_renderer import markdown, rst, txt

from .limits import Limits

log = logging.getLogger("pypireg")

# Fields kept as lists of text, each list and each item bounded.
_LISTS: tuple[Literal["classifiers", "requires_dist", "provides_extra"], ...] = (
    "classifiers", "requires_dist", "provides_extra")
_TEXTS = ("summary", "author", "author_email", "maintainer", "maintainer_email",
          "license_expression", "requires_python", "home_page", "download_url")
MAX_ITEMS = 500
MAX_TEXT = 1024
# A License field holds a whole licence text in some distributions: the page shows its start.
MAX_LICENSE = 4096


def package_details(raw: bytes, limits: Limits) -> dict[str, Any]:
    """The page's fields of one distribution's METADATA or PKG-INFO, with ``readme_html``
    (its description rendered and sanitized) when it has one, or ``readme_too_large``
    when it is over ``limits.max_readme_size``.

    Unreadable fields are left out rather than refused: the file was already accepted
    on its name, version and filename, and a page can do without a field.
    """
    fields, _ = parse_email(raw)
    details: dict[str, Any] = {}
    for key in _TEXTS:
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            details[key] = value.strip()[:MAX_TEXT]
    if isinstance(fields.get("license"), str) and fields["license"].strip():
        details["license"] = fields["license"].strip()[:MAX_LICENSE]
    for key in _LISTS:
        values = fields.get(key) or []
        kept = [str(v)[:MAX_TEXT] for v in values[:MAX_ITEMS] if str(v).strip()]
        if kept:
            details[key] = kept
    urls = [[label[:MAX_TEXT], url[:MAX_TEXT]]
            for label, url in list((fields.get("project_urls") or {}).items())[:MAX_ITEMS]]
    for label, key in (("Homepage", "home_page"), ("Download", "download_url")):
        if key in details and not any(url == details[key] for _, url in urls):
            urls.insert(0, [label, details[key]])
    if urls:
        details["project_urls"] = urls
    description = fields.get("description") or ""
    if len(description.encode()) > limits.max_readme_size:
        details["readme_too_large"] = True
    elif description.strip():
        details["readme_html"] = render_readme(
            description, fields.get("description_content_type") or "")
    return details


def render_readme(text: str, content_type: str) -> str | None:
    """``text`` as HTML, safe to show, the way PyPI renders it: Markdown (GFM unless
    the content type names CommonMark), reStructuredText (the default), or plain text,
    which is also what reStructuredText that fails to render falls back to. None only
    if readme-renderer's sanitizer refuses even the plain text."""
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower()
    variant = "GFM"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "variant" and value.strip():
            variant = value.strip().strip('"')
    with warnings.catch_warnings():  # docutils and readme-renderer warn on odd input
        warnings.simplefilter("ignore")
        try:
            if kind == "text/markdown":
                html = markdown.render(text, variant=variant if variant == "CommonMark"
                                       else "GFM")
            elif kind == "text/plain":
                html = None
            else:
                html = rst.render(text)
        except Exception:  # a renderer's bug must not refuse a valid upload
            log.exception("the README could not be rendered; it is shown as plain text")
            html = None
    return html if html is not None else txt.render(text)

"""HTML for the simple pages, every piece escaped by markupsafe."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup

_PAGE = Markup(
    "<!DOCTYPE html>\n"
    "<html>\n"
    "  <head>\n"
    "    <title>Links for {title}</title>\n"
    "  </head>\n"
    "  <body>\n"
    "    <h1>Links for {title}</h1>\n"
    "    {links}\n"
    "  </body>\n"
    "</html>\n"
)
_LINK = Markup('<a href="{href}" data-requires-python="{requires_python}">{text}</a><br>')


def simple_page(title: str, links: Iterable[tuple[str, str, str]]) -> str:
    """A PEP 503 page in GitLab's shape from ``(href, text, requires_python)`` triples."""
    body = Markup("").join(
        _LINK.format(href=href, text=text, requires_python=requires_python)
        for href, text, requires_python in links
    )
    return str(_PAGE.format(title=title, links=body))

"""Views: plain functions ``view(registry, request, **args) -> Response``, by endpoint name."""

from __future__ import annotations

from collections.abc import Callable

from werkzeug.wrappers import Response

from . import pypi

View = Callable[..., Response]

VIEWS: dict[str, View] = {
    "pypi.simple_index": pypi.simple_index,
    "pypi.simple_package": pypi.simple_package,
    "pypi.file": pypi.download,
    "pypi.upload": pypi.upload,
}

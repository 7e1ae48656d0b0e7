"""Query parameters checked the way GitLab's API does, and its pagination headers."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import BadRequest

from ..errors import ResourceNotFound
from ..limits import MAX_ID, as_id

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers import Request, Response

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")
MAX_BODY = 64 * 1024  # the parameters of a call (a yank, a token): a few fields at most


def choice(args: MultiDict[str, str], name: str, allowed: Sequence[str],
           default: str | None = None) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise BadRequest(
            f"{name} does not have a valid value: {value!r} is not one of {', '.join(allowed)}")
    return value


def boolean(args: MultiDict[str, str], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BadRequest(f"{name} is invalid: {value!r} is not true or false")


def integer_id(value: str, name: str, resource: str) -> int:
    """A numeric id from the path, such as ``package_id``.

    Not a number (ASCII digits only: ``str.isdigit`` also takes ``²``): 400, as GitLab
    answers. A number no row can have (past the database's 64-bit integers): 404.
    """
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(f"{name} is invalid: {value!r} is not a number")
    number = as_id(value)
    if number is None:
        raise ResourceNotFound(resource)
    return number


def body_fields(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """An endpoint's parameters, as GitLab's API takes them: from a JSON object body, a
    form body or the query string. The body may be at most ``limit`` bytes."""
    request.max_content_length = limit
    if request.is_json:
        try:
            fields = json.loads(request.get_data() or b"{}")
        except (ValueError, RecursionError):
            raise BadRequest("the JSON body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise BadRequest("the JSON body must be an object of parameters")
        return fields
    return {**request.args, **request.form}


def list_param(request: Request, fields: dict[str, Any], name: str) -> list[str]:
    """A list parameter: a JSON array, repeated ``name[]`` or ``name`` fields, or commas."""
    if request.is_json:
        value = fields.get(name, fields.get(f"{name}[]"))
        values = value if isinstance(value, list) else [value] if value else []
    else:
        values = request.values.getlist(f"{name}[]") + request.values.getlist(name)
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @classmethod
    def from_args(cls, args: MultiDict[str, str], size: int = 0) -> Page:
        """The page the arguments ask for; ``size``: a fixed page size, not theirs."""
        number = _positive(args, "page", 1)
        size = size or _positive(args, "per_page", DEFAULT_PER_PAGE)
        if size > MAX_PER_PAGE:
            raise BadRequest(f"per_page is invalid: it must be between 1 and {MAX_PER_PAGE}")
        if (number - 1) * size > MAX_ID:
            raise BadRequest(f"page is invalid: page {number} of {size} starts past the last"
                             " row there can be")
        return cls(number, size)

    def headers(self, response: Response, request: Request, total: int) -> Response:
        """GitLab's X-* pagination headers and a Link header with the host's prefix."""
        pages = max(1, math.ceil(total / self.size))
        nxt = self.number + 1 if self.number < pages else None
        prev = self.number - 1 if 1 < self.number <= pages + 1 else None
        response.headers.update({
            "X-Total": str(total), "X-Total-Pages": str(pages), "X-Per-Page": str(self.size),
            "X-Page": str(self.number), "X-Next-Page": str(nxt or ""),
            "X-Prev-Page": str(prev or ""),
        })
        links = [(prev, "prev"), (nxt, "next"), (1, "first"), (pages, "last")]
        response.headers["Link"] = ", ".join(
            f'<{_page_url(request, number)}>; rel="{rel}"' for number, rel in links if number
        )
        return response


def _positive(args: MultiDict[str, str], name: str, default: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    number = as_id(value)
    if number is None or number < 1:
        raise BadRequest(f"{name} is invalid: {value!r} is not a whole number from 1 to"
                         f" {MAX_ID}")
    return number


def _page_url(request: Request, number: int) -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    return f"{request.base_url}?{urlencode([*query, ('page', number)])}"

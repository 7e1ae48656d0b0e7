"""Parts of an upstream file not kept yet, read with HTTP ranges: what installers ask of a
wheel to read its metadata without downloading it (uv's range requests, pip's
``fast-deps``), answered from the upstream's own ranges without fetching the whole file
(docs/proxy.md). Nothing a range brings is kept: a file is kept once a whole download
has verified it against the page's sha256.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from urllib3.exceptions import HTTPError
from werkzeug.datastructures import ContentRange, Range
from werkzeug.http import parse_content_range_header

from .client import CHUNK, UpstreamUnreachable

if TYPE_CHECKING:
    import urllib3

    from ..models import CachedFile
    from .client import UpstreamClient


@dataclass
class Part:
    """The upstream's answer to a range: the bytes ``content_range`` says, as they come
    (``body`` releases the connection when done; ``drop`` drops it unread), or
    ``unsatisfiable`` (a 416)."""

    content_range: ContentRange
    body: Iterator[bytes]
    unsatisfiable: bool = False
    drop: Callable[[], None] = lambda: None


MAX_PART = 8 * 1024 * 1024  # bytes of a range passed to the upstream; more is a download


def single(wanted: Range | None, size: int | None) -> Range | None:
    """The request's Range to pass to the upstream: one range of bytes, of at most
    :data:`MAX_PART` bytes, as first and last byte when the file's ``size`` is known.
    None for none, several, an open end of a file of unknown size, or a large one: those
    are downloads, fetched once and kept (a range past the end is one too, answered 416
    from storage or whole)."""
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        return None
    if size is not None:
        found = explicit(wanted, size)
        if found is None:
            return None
        (start, stop), = found.ranges
        return found if stop is not None and stop - start <= MAX_PART else None
    (start, stop), = wanted.ranges
    if start < 0:  # a suffix
        return wanted if -start <= MAX_PART else None
    return wanted if stop is not None and stop - start <= MAX_PART else None


def explicit(wanted: Range, size: int) -> Range | None:
    """The range as first and last byte of a file of ``size`` bytes (a suffix longer than
    the file is all of it, as HTTP has it); None when it starts past the end."""
    (start, stop), = wanted.ranges
    if start < 0 and stop is None:
        start = max(0, size + start)
    found = Range("bytes", [(start, stop)]).range_for_length(size)
    return None if found is None else Range("bytes", [found])


def part(client: UpstreamClient, cached: CachedFile, wanted: Range) -> Part | None:
    """The range of the file, from the upstream; None when the upstream answers with
    anything but a part (the whole file, a refusal, an error): the file is then fetched
    whole, as a download is. A range of another file than the page's (its total size
    differs) is refused with a 502."""
    response = client.get_file(cached.url, {"Range": wanted.to_header()})
    try:
        if response.status == 416:  # Content-Range: bytes */SIZE
            said = response.headers.get("Content-Range", "").rpartition("/")[2]
            response.close()
            size = int(said) if said.isdigit() else cached.size
            return Part(ContentRange("bytes", None, None, size), iter(()), unsatisfiable=True)
        if response.status != 206:  # not read, the connection dropped
            response.close()
            return None
        found = parse_content_range_header(response.headers.get("Content-Range"))
        if (found is None or found.units != "bytes" or found.start is None
                or found.stop is None or found.length is None):
            raise UpstreamUnreachable(
                f"the upstream's range of {cached.file_name} says no byte range it holds")
        if cached.size is not None and found.length != cached.size:
            raise UpstreamUnreachable(
                f"the upstream's {cached.file_name} is {found.length:,} bytes, its page says"
                f" {cached.size:,}")
    except BaseException:
        response.close()
        raise
    ended: list[bool] = []  # once the body has released the connection

    def drop() -> None:
        if not ended:
            response.close()

    return Part(found, _bytes(response, found.stop - found.start, cached.file_name, ended),
                drop=drop)


def _bytes(response: urllib3.BaseHTTPResponse, length: int, name: str, ended: list[bool]
           ) -> Iterator[bytes]:
    """``length`` bytes of the answer, never more; an answer cut short raises, cutting the
    client's short too (its Content-Length is never reached)."""
    left = length
    try:
        for chunk in response.stream(CHUNK, decode_content=False):
            chunk = chunk[:left]
            left -= len(chunk)
            if chunk:
                yield chunk
            if not left:
                break
    except HTTPError as exc:
        raise UpstreamUnreachable(f"the upstream's range of {name} failed: {exc}") from None
    finally:
        if left:
            response.close()
        else:
            response.release_conn()
        ended.append(True)
    if left:
        raise UpstreamUnreachable(f"the upstream's range of {name} was cut short")


def size(client: UpstreamClient, cached: CachedFile) -> int | None:
    """The file's size, from the page, else from the upstream's answer to its first byte;
    None when neither says. An upstream that has not the file is a 502."""
    if cached.size is not None:
        return cached.size
    response = client.get_file(cached.url, {"Range": "bytes=0-0"})
    try:
        if response.status == 206:
            found = parse_content_range_header(response.headers.get("Content-Range"))
            return found.length if found is not None else None
        if response.status != 200:
            raise UpstreamUnreachable(
                f"the upstream answered {response.status} for {cached.file_name}")
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else None
    finally:
        response.close()  # never read: one byte, or the whole file of an upstream without ranges

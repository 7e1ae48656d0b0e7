"""Upload bodies: twine's multipart form, parsed under the registry's bounds.

werkzeug's form parser spools every file part to a file of its own and caps each field
separately, so 25,000 file parts can exhaust the process's file descriptors and a dozen
large junk fields all get through. This drives werkzeug's sans-IO multipart decoder
directly instead: only the ``content`` part goes to disk (one staging file, hashed as it
arrives, so memory stays flat whatever its size); every other part stays in memory, all
of them together at most ``Limits.max_form_fields_size`` bytes, and there are at most
``Limits.max_form_parts`` parts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from .limits import Limits

USAGE = "send multipart/form-data with the fields content (the file), name and version"
CONTENT = "content"
STAGING_PREFIX = "upload-"  # the staging file of an upload in progress
_READ_SIZE = 64 * 1024
# The decoder buffers a preamble, a part's headers and the epilogue whole: cap those.
_FRAMING_LIMIT = 1024 * 1024


class FileDigests:
    """Size, md5, sha1 and sha256 of bytes seen one piece at a time."""

    def __init__(self) -> None:
        self.size = 0
        self._hashes = {"md5": hashlib.md5(usedforsecurity=False),
                        "sha1": hashlib.sha1(usedforsecurity=False),
                        "sha256": hashlib.sha256()}

    def update(self, data: bytes) -> None:
        self.size += len(data)
        for digest in self._hashes.values():
            digest.update(data)

    def result(self) -> dict[str, Any]:
        return {"size": self.size, **{k: h.hexdigest() for k, h in self._hashes.items()}}


class StagingFile:
    """A temporary file that hashes what is written to it and enforces a size limit."""

    def __init__(self, directory: str, limit: int) -> None:
        fd, self.path = tempfile.mkstemp(dir=directory, prefix=STAGING_PREFIX)
        self._file = os.fdopen(fd, "w+b")
        self._limit = limit
        self._digests = FileDigests()

    def write(self, data: bytes) -> int:
        if self._digests.size + len(data) > self._limit:
            raise RequestEntityTooLarge(f"File is too large: the limit is {human(self._limit)}")
        self._digests.update(data)
        return self._file.write(data)

    def finish(self) -> dict[str, Any]:
        """Flush to disk and return size and digests."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._digests.result()

    def discard(self) -> None:
        try:
            # On a full disk the close fails too (the buffered bytes have nowhere to go):
            # the file goes all the same.
            with contextlib.suppress(OSError):
                self._file.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


@dataclass
class UploadForm:
    fields: MultiDict[str, str]
    content: StagingFile | None  # the ``content`` file part, staged
    file_name: str  # the ``content`` part's filename

    def discard(self) -> None:
        if self.content is not None:
            self.content.discard()


def parse_upload(request: Request, staging_dir: str, limits: Limits) -> UploadForm:
    """Parse a twine-style multipart body, streaming its ``content`` part to ``staging_dir``."""
    if request.mimetype != "multipart/form-data":
        raise BadRequest(f"expected a multipart/form-data body: {USAGE}")
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise BadRequest("the multipart/form-data Content-Type has no boundary parameter")
    largest = limits.max_upload_size + limits.max_form_fields_size + _FRAMING_LIMIT
    if request.content_length is not None and request.content_length > largest:
        raise RequestEntityTooLarge(
            f"File is too large: the limit is {human(limits.max_upload_size)}")
    parser = _Parser(staging_dir, limits)
    try:
        parser.feed(boundary.encode("latin-1", "replace"), _chunks(request.stream))
    except ClientDisconnected:
        parser.discard()
        raise BadRequest("the request body ended before the announced Content-Length:"
                         " the upload was cut short") from None
    except ValueError as exc:
        parser.discard()
        raise BadRequest(f"malformed multipart body ({exc}); was the upload cut short?"
                         ) from None
    except BaseException:
        parser.discard()
        raise
    return UploadForm(MultiDict(parser.fields), parser.content, parser.file_name)


class _Parser:
    """One body's parts: fields kept (within budget), ``content`` staged, other files dropped."""

    def __init__(self, staging_dir: str, limits: Limits) -> None:
        self._staging_dir = staging_dir
        self._limits = limits
        self.fields: list[tuple[str, str]] = []
        self.content: StagingFile | None = None
        self.file_name = ""
        self._parts = 0
        self._in_memory = 0
        # Where the current part's data goes: the staging file (content), a field's
        # pieces, or nowhere (a file part that is not the distribution, such as a signature).
        self._sink: StagingFile | list[bytes] | None = None
        self._name = ""

    def feed(self, boundary: bytes, chunks: Iterator[bytes | None]) -> None:
        decoder = MultipartDecoder(boundary, max_form_memory_size=_FRAMING_LIMIT)
        for chunk in chunks:
            try:
                decoder.receive_data(chunk)
            except RequestEntityTooLarge:
                raise RequestEntityTooLarge(
                    f"the multipart preamble, epilogue or a part's headers exceed"
                    f" {human(_FRAMING_LIMIT)}") from None
            event = decoder.next_event()
            while not isinstance(event, NeedData):
                if isinstance(event, Epilogue):
                    return
                if isinstance(event, (Field, File)):
                    self._start(event)
                elif isinstance(event, Data):
                    self._data(event)
                event = decoder.next_event()

    def _start(self, part: Field | File) -> None:
        self._parts += 1
        if self._parts > self._limits.max_form_parts:
            raise RequestEntityTooLarge(
                f"the upload has more than {self._limits.max_form_parts} form parts")
        if isinstance(part, File) and part.name == CONTENT:
            if self.content is not None:
                raise BadRequest("the upload has more than one 'content' file part")
            self.content = StagingFile(self._staging_dir, self._limits.max_upload_size)
            self.file_name = part.filename or ""
            self._sink = self.content
        elif isinstance(part, Field) and part.name is not None:
            self._sink, self._name = [], part.name
        else:
            self._sink = None

    def _data(self, event: Data) -> None:
        if isinstance(self._sink, StagingFile):
            self._sink.write(event.data)
            return
        self._in_memory += len(event.data)  # kept or not, it passed through memory
        if self._in_memory > self._limits.max_form_fields_size:
            raise RequestEntityTooLarge(
                f"the form fields besides the file exceed"
                f" {human(self._limits.max_form_fields_size)} together")
        if self._sink is None:
            return
        self._sink.append(event.data)
        if not event.more_data:
            self.fields.append((self._name, b"".join(self._sink).decode("utf-8", "replace")))

    def discard(self) -> None:
        if self.content is not None:
            self.content.discard()


def _chunks(stream: IO[bytes]) -> Iterator[bytes | None]:
    """The body in pieces, then ``None`` for its end (what the decoder expects).

    A piece that ends between the two dashes that close the last boundary makes
    werkzeug's decoder (3.1) add a stray ``\r`` to the last part (pallets/werkzeug#3285),
    so trailing dashes wait for the next piece.
    """
    held = b""
    while data := stream.read(_READ_SIZE):
        data = held + data
        dashes = min(2, len(data) - len(data.rstrip(b"-")))
        held, data = data[len(data) - dashes:], data[:len(data) - dashes]
        if data:
            yield data
    if held:
        yield held
    yield None


def human(size: int) -> str:
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB"):  # noqa: B007 - the last unit is kept
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:g} {unit}"

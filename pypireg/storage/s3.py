"""Keeps file bytes in an S3 bucket (or any S3-compatible service), under a key prefix.

boto3 is imported when an ``S3Storage`` is built, never by ``import pypireg``; it comes
with ``pip install 'pypireg[s3]'``. docs/protocols.md describes the contract.
"""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from .keys import check_key

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

MiB = 1024 * 1024
_MISSING = {"NoSuchKey", "NotFound", "404"}  # HEAD answers carry no body, only the status
_READ_ALL_PIECE = MiB
# What an s3:// URL's query may set, by the constructor argument it sets.
_URL_OPTIONS = {"endpoint_url": "endpoint_url", "region": "region_name",
                "presign_downloads": "presign_downloads", "connect_timeout": "connect_timeout",
                "read_timeout": "read_timeout", "max_attempts": "max_attempts"}
# A silent S3 ends any one request within CONNECT_TIMEOUT + READ_TIMEOUT seconds, and a
# call within MAX_ATTEMPTS of those, rather than botocore's 60 s reads tried 3 times.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 2


def _boto3() -> tuple[Any, Any]:
    try:
        import boto3
        import boto3.s3.transfer
        import botocore.config
    except ImportError:
        raise ImportError(
            "S3Storage needs boto3, which is not installed: pip install 'pypireg[s3]'"
        ) from None
    return boto3, botocore


def _option(url: str, name: str, value: str) -> Any:
    """An s3:// URL's query value, as the constructor takes it."""
    if name == "presign_downloads":
        return value.lower() in ("1", "true", "yes")
    if name in ("connect_timeout", "read_timeout", "max_attempts"):
        try:
            number = int(value) if name == "max_attempts" else float(value)
        except ValueError:
            number = 0
        if not 0 < number <= 3600:
            kind = "a whole number of attempts" if name == "max_attempts" else "seconds"
            raise ValueError(f"{url!r}: {name} must be {kind} above 0, not {value!r}")
        return number
    return value


def _is_missing(error: Exception) -> bool:
    return getattr(error, "response", {}).get("Error", {}).get("Code") in _MISSING


@contextmanager
def _answered() -> Iterator[None]:
    """botocore's errors for an S3 that does not answer in time, or cannot be reached, as
    Python's own TimeoutError and ConnectionError, which the registry answers with a 504
    and a 503 (errors.fault_answer) as it does for any storage."""
    from botocore import exceptions

    try:
        yield
    except (exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError) as exc:
        raise TimeoutError(f"S3 did not answer in time: {exc}") from exc
    except (exceptions.ConnectionError, exceptions.HTTPClientError) as exc:
        # Refused, unknown host, TLS, a proxy; a connection closed or reset mid-answer.
        raise ConnectionError(f"S3 cannot be reached: {exc}") from exc


class S3Storage:
    """Objects ``<prefix>/<key>`` in ``bucket``; the bucket must exist.

    The client comes from the standard AWS settings (environment variables such as
    ``AWS_ENDPOINT_URL`` and ``AWS_REGION``, the shared config and credentials files,
    instance roles) unless ``client`` is given. Files of ``multipart_threshold`` bytes or
    more go up in parts of ``multipart_chunksize``, read from disk as they are sent. With
    ``presign_downloads``, downloads are redirects to URLs valid for ``presign_expiry``
    seconds, so the bytes never pass through the registry.

    Everything under the prefix belongs to the registry: ``pypireg gc`` deletes what the
    catalog does not refer to.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        presign_downloads: bool = False,
        presign_expiry: int = 300,
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 8 * MiB,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        boto3, botocore = _boto3()
        timing = (connect_timeout, read_timeout, max_attempts)
        if client is not None and (endpoint_url or region_name or timing != (None,) * 3):
            raise TypeError("pass endpoint_url, region_name and timeouts to the client you"
                            " pass, not here")
        if client is None:
            # SigV4 everywhere: botocore would presign with the deprecated SigV2 in us-east-1.
            options: dict[str, Any] = {"config": botocore.config.Config(
                signature_version="s3v4",
                connect_timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout,
                read_timeout=READ_TIMEOUT if read_timeout is None else read_timeout,
                retries={"mode": "standard",  # attempts in all, the first one included
                         "total_max_attempts": MAX_ATTEMPTS if max_attempts is None
                         else max_attempts},
            )}
            if endpoint_url:  # otherwise boto3 reads AWS_ENDPOINT_URL and the config itself
                options["endpoint_url"] = endpoint_url
            if region_name:
                options["region_name"] = region_name
            client = boto3.session.Session().client("s3", **options)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.presign_downloads = presign_downloads
        self.presign_expiry = presign_expiry
        self.transfer = boto3.s3.transfer.TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Storage:
        """``s3://bucket`` or ``s3://bucket/some/prefix``, optionally with the settings of an
        S3-compatible store in the query: ``?endpoint_url=http://minio:9000&region=eu-1``
        (and ``presign_downloads=1``), and how long to wait for it:
        ``connect_timeout=5&read_timeout=30&max_attempts=2`` (seconds, seconds, attempts per
        request); other options as for the constructor."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.fragment:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        if "@" in parts.netloc or ":" in parts.netloc:
            raise ValueError("credentials come from the AWS settings, never from the URL")
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name not in _URL_OPTIONS:
                raise ValueError(f"{url!r}: the s3://bucket/prefix URL takes"
                                 f" {', '.join(_URL_OPTIONS)}, not {name!r}")
            options.setdefault(_URL_OPTIONS[name], _option(url, name, value))
        return cls(parts.netloc, parts.path, **options)

    def __repr__(self) -> str:
        return f"S3Storage('s3://{self.bucket}/{self.prefix}')"

    def name(self, key: str) -> str:
        """The object name of ``key`` in the bucket."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- Storage -----------------------------------------------------------------------------

    def put_file(self, key: str, path: str) -> None:
        # A PUT, or a multipart upload completed at the end: either way readers see the
        # whole object or none. The parts are read from the file as they are sent.
        with _answered():
            self.client.upload_file(path, self.bucket, self.name(key), Config=self.transfer)

    def put_stream(self, key: str, stream: IO[bytes]) -> None:
        with _answered():
            self.client.upload_fileobj(stream, self.bucket, self.name(key),
                                       Config=self.transfer)

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        name = self.name(key)
        try:
            with _answered():
                response = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _is_missing(exc):
                raise KeyError(key) from None
            raise
        return cast("IO[bytes]", S3File(self.client, self.bucket, name, response))

    def check_ready(self) -> None:
        """The bucket answers (and these credentials may use it)."""
        self.client.head_bucket(Bucket=self.bucket)

    def delete(self, key: str) -> None:
        from botocore.exceptions import ClientError

        try:  # S3 itself answers 204 for a missing key; some compatible services do not
            with _answered():
                self.client.delete_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if not _is_missing(exc):
                raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with _answered():
                self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    # -- ListsKeys ---------------------------------------------------------------------------

    def keys(self) -> Iterator[str]:
        """Every key under the prefix, page by page (1,000 per request)."""
        for key, _ in self.key_ages():
            yield key

    def key_ages(self) -> Iterator[tuple[str, float]]:
        """``(key, last modified as a Unix time)`` for every key under the prefix.

        Object names that are not registry keys (see ``check_key``) are skipped: they
        were not written by a registry, so garbage collection must not see them.
        """
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start)
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"][len(start):]
                try:
                    check_key(key)
                except ValueError:
                    continue
                yield key, item["LastModified"].timestamp()

    # -- SweepsLeftovers ---------------------------------------------------------------------

    def sweep_leftovers(self, older_than: float) -> int:
        """Abort the multipart uploads under the prefix begun before ``older_than``.

        A process that dies during a multipart upload leaves its parts stored (and
        billed) but invisible; this removes them.
        """
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=start)
        aborted = 0
        for page in pages:
            for upload in page.get("Uploads", ()):
                if upload["Initiated"].timestamp() < older_than:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted += 1
        return aborted

    # -- ServesDownloads ---------------------------------------------------------------------

    def download_response(
        self, key: str, request: Request, *, filename: str, sha256: str, size: int
    ) -> Response | None:
        """A redirect to a presigned GET URL when ``presign_downloads`` is on, else None
        (the registry then streams :meth:`open` itself, Range requests included)."""
        if not self.presign_downloads:
            return None
        from werkzeug.http import dump_options_header
        from werkzeug.utils import redirect

        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        # The method is part of the signature: a HEAD that follows the redirect needs its own.
        url = self.client.generate_presigned_url(
            "head_object" if request.method == "HEAD" else "get_object",
            Params={
                "Bucket": self.bucket, "Key": self.name(key),
                "ResponseContentDisposition": dump_options_header(
                    "attachment", {"filename": filename}),
                "ResponseContentType": mimetype,
            },
            ExpiresIn=self.presign_expiry,
        )
        response = redirect(url, code=302)
        response.cache_control.no_store = True  # the URL expires; never cache the redirect
        return response


class S3File(io.RawIOBase):
    """An object's bytes as a seekable binary file, streamed from a GET.

    Reading streams the response body. Seeking only moves the position; the next read
    then issues a ranged GET from there, so a Range request served through werkzeug
    (``make_conditional`` seeks its file) fetches only the bytes it sends. Keys are
    content-addressed, so a later GET of the same key returns the same bytes.
    """

    def __init__(self, client: Any, bucket: str, name: str, response: dict[str, Any]) -> None:
        super().__init__()
        self._client, self._bucket, self.name = client, bucket, name
        self._body: Any = response["Body"]
        self.size: int = response["ContentLength"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek on a closed file")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        if base + offset != self._position:
            self._drop_body()
            self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("read from a closed file")
        if self._position >= self.size or not len(buffer):
            return 0
        with _answered():
            if self._body is None:
                self._body = self._client.get_object(
                    Bucket=self._bucket, Key=self.name,
                    Range=f"bytes={self._position}-")["Body"]
            count: int = self._body.readinto(buffer)
        self._position += count
        return count

    def readall(self) -> bytes:
        pieces = []
        while piece := self.read(_READ_ALL_PIECE):
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
        super().close()

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

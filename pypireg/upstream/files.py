"""Upstream files fetched on first download: streamed to every client and to storage at
once, verified before they are kept, fetched once however many ask.

A first download starts a :class:`Fetch`: a thread that copies the upstream's bytes into a
staging file while hashing them. Every request for the file meanwhile, the first one too,
reads that staging file as it grows, so a client that goes away stops nothing and a
thousand clients cost one upstream fetch and flat memory. The last byte of every answer is
held back until the sha256 matches the upstream page's: on a mismatch each client's answer
is cut short (its Content-Length is never reached, so no installer takes the bytes) and
nothing is stored. Once the bytes match, the answers end while the file is stored and
recorded: a client waits for neither the disk nor the catalog, and a request for the file
meanwhile waits for it to be stored. Other processes (gunicorn's workers, other hosts) see
the fetch claimed in the catalog and wait for the stored file instead of fetching it again.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING

from werkzeug.exceptions import HTTPException, ServiceUnavailable

from ..forms import STAGING_PREFIX
from ..times import stamp
from ..tracing import span
from .blobs import file_key, keep_blob, metadata_key
from .client import CHUNK, UpstreamUnreachable
from .pages import Observe, ignore

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..models import CachedFile
    from ..protocols import Storage
    from .client import UpstreamClient

log = logging.getLogger("pypireg.upstream")

HEARTBEAT = 5.0  # seconds between a fetch's signs of life in the catalog
STALE_AFTER = 30.0  # seconds without one, after which another process takes the fetch over
POLL = 0.2  # seconds between looks at the catalog while another process fetches
FAILURE_MEMORY = 30.0  # seconds a failed fetch is answered with its error, not tried again
SETTLE_ON_EXIT = 10.0  # seconds a stopping process waits for the files it is storing


class Fetch:
    """One file on its way from an upstream to storage, readable while it comes."""

    def __init__(self, cached: CachedFile, path: str, token: str) -> None:
        self.file = cached
        self.path = path
        self.token = token  # this fetch's claim in the catalog
        self.changed = threading.Condition()
        self.state = "connecting"  # then fetching, verified, stored; or failed
        self.size: int | None = None  # known once the upstream answered, if it says
        self.written = 0
        self.verified = False  # every byte came, and they match the page's sha256
        self.slot = True  # holds one of the process's fetch slots (freed once verified)
        self.storing = False  # holds a storing slot instead, once verified
        self.verified_at: float | None = None  # when (time.monotonic())
        self.error: HTTPException | None = None

    def started(self, timeout: float) -> IO[bytes] | None:
        """Wait for the upstream's answer; then a reader of the staging file, or None once
        the file is stored (read it from storage). Raises the fetch's error."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.state != "connecting", timeout):
                raise UpstreamUnreachable(f"the upstream did not answer for {self.file.file_name}")
            # Not while it is being stored either (the staging file may be moved): that
            # takes as long as the storage takes, and ends stored or failed.
            while self.state == "verified":
                self.changed.wait()
            if self.state == "failed":
                assert self.error is not None
                raise self.error
            if self.state == "stored":
                return None
            return open(self.path, "rb")  # noqa: SIM115 - closed by chunks()

    def settled(self, timeout: float | None = None) -> bool:
        """Wait until the file is stored, or the fetch failed (its error raised): for what
        needs the file kept, not only its bytes. Storing takes as long as it takes, unless
        ``timeout`` says how long to wait (False: it was not over by then)."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.state in ("stored", "failed"), timeout):
                return False
            if self.state == "failed":
                raise self.error or UpstreamUnreachable("the fetch failed")
        return True

    def chunks(self, reader: IO[bytes], stall: float) -> Iterator[bytes]:
        """The bytes as they arrive, the last one only once they are verified (the file is
        stored meanwhile: a failure to store it no longer concerns this answer). A failed
        fetch, or an upstream that sends nothing for ``stall`` seconds, raises, cutting the
        answer short."""
        sent = 0
        try:
            while True:
                with self.changed:
                    if not self.changed.wait_for(self._news(sent), stall):
                        raise UpstreamUnreachable(
                            f"the upstream stalled sending {self.file.file_name}")
                    state, written, done = self.state, self.written, self.verified
                if state == "failed" and not done:
                    raise self.error or UpstreamUnreachable("the fetch failed")
                limit = written if done else written - 1
                while sent < limit:
                    data = reader.read(min(CHUNK, limit - sent))
                    if not data:
                        raise UpstreamUnreachable(f"{self.file.file_name} was cut short")
                    sent += len(data)
                    yield data
                if done:
                    return
        finally:
            reader.close()

    def _news(self, sent: int) -> Callable[[], bool]:
        """Whether there is more to send than ``sent`` bytes, or an end."""
        return lambda: (self.verified or self.state == "failed"
                        or self.written - 1 > sent)

    def update(self, **fields: object) -> None:
        with self.changed:
            for name, value in fields.items():
                setattr(self, name, value)
            self.changed.notify_all()


class UpstreamFiles:
    """The file fetches of one registry in this process: at most ``max_fetches`` at once
    (a request past them gets a 503 to retry), and a failed one remembered for
    ``FAILURE_MEMORY`` seconds, so that a file an upstream cannot give is not downloaded
    again and again meanwhile."""

    def __init__(self, catalog: Catalog, storage: Storage, client: UpstreamClient,
                 staging_dir: str, max_size: int, max_fetches: int = 16,
                 observe: Observe = ignore,
                 kept: Callable[[CachedFile, str], object] | None = None) -> None:
        self.observe = observe  # each file fetched: "file", its result, its seconds
        self.kept = kept  # each file just kept, and its verified bytes' path
        self.catalog = catalog
        self.storage = storage
        self.client = client
        self.staging_dir = staging_dir
        self.max_size = max_size
        self.max_fetches = max_fetches
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._active: dict[int, Fetch] = {}
        self._failed: dict[int, tuple[float, HTTPException]] = {}
        self._slots = threading.BoundedSemaphore(max_fetches)
        # Verified files being stored, whose fetch slots went back: as many again, past
        # which a fetch keeps its slot until it is stored.
        self._storing = threading.BoundedSemaphore(max_fetches)
        self._lock = threading.Lock()

    def fetch(self, cached: CachedFile, wait: float) -> Fetch | None:
        """The fetch of this file in this process, started if nobody fetches it; None
        once it is stored. While another process fetches it, this waits up to ``wait``
        seconds for that one to store it (then a 503 to retry)."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                running = self._active.get(cached.id)
                if running is not None:
                    return running
                failed = self._failed.get(cached.id)
                if failed is not None and failed[0] > time.monotonic():
                    raise failed[1]
                started = self._start(cached)
                if started is not None:
                    return started
            now = self.catalog.cached_upstream_file(cached.id)
            if now is None or now.storage_key:
                return None
            if time.monotonic() > deadline:
                raise _retry_later(f"another process is still fetching {cached.file_name}"
                                   " from the upstream")
            time.sleep(POLL)  # another process has it: its catalog row says when it is done

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every fetch this process has going is stored or has failed (a
        fetch's clients have its bytes before it is kept), for up to ``timeout`` seconds
        if given: whether they all were, by then. A process that stops waits so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            running = list(self._active.values())
        for fetch in running:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(HTTPException):
                if not fetch.settled(left):
                    return False
        return True

    def _start(self, cached: CachedFile) -> Fetch | None:
        """A new fetch, if this process may have one and wins the file's claim; call with
        ``_lock`` held."""
        if not self._slots.acquire(blocking=False):
            raise _retry_later(f"this registry is already fetching {self.max_fetches} files"
                               " from its upstreams")
        token = f"{self.owner}:{uuid.uuid4().hex[:8]}"
        try:
            stale = stamp(datetime.now(timezone.utc) - timedelta(seconds=STALE_AFTER))
            if not self.catalog.claim_upstream_fetch(cached.id, token, stale):
                self._slots.release()
                return None
            handle, path = tempfile.mkstemp(dir=self.staging_dir,
                                            prefix=f"{STAGING_PREFIX}upstream-")
            os.close(handle)
            fetch = Fetch(cached, path, token)
            # In the asking request's context: its trace holds the fetch (tracing.py).
            threading.Thread(target=contextvars.copy_context().run, args=(self._run, fetch),
                             daemon=True, name=f"pypireg-fetch-{cached.id}").start()
        except BaseException:
            self._slots.release()
            with contextlib.suppress(Exception):
                self.catalog.release_upstream_fetch(cached.id, token)
            raise
        self._active[cached.id] = fetch
        return fetch

    def _run(self, fetch: Fetch) -> None:
        cached = fetch.file
        error: HTTPException | None = None
        alive = threading.Event()
        beating = threading.Thread(target=self._beat, args=(fetch, alive), daemon=True)
        began = time.monotonic()
        try:
            beating.start()
            with span("upstream.file", **{"pypireg.file": cached.file_name}):
                self._copy(fetch)
        except HTTPException as exc:
            if fetch.verified:
                log.error("keeping %s: %s", cached.file_name, exc.description)
            error = exc
        except Exception:
            if fetch.verified or beating.ident is None:
                log.exception("keeping %s", cached.file_name)
            else:
                log.exception("fetching %s from %s", cached.file_name, cached.url)
            error = UpstreamUnreachable(f"fetching {cached.file_name} from the upstream failed")
        finally:
            alive.set()
            if beating.ident is not None:
                beating.join()
            self._free_slot(fetch)
            if fetch.storing:
                fetch.storing = False
                self._storing.release()
        # Not the upstream's failure: the bytes came whole, or no thread was to be had.
        local = error is not None and (fetch.verified or beating.ident is None)
        self.observe("file", "unkept" if local else "error" if error is not None
                     else "fetched", (fetch.verified_at or time.monotonic()) - began)
        if local:
            error = _retry_later(f"{cached.file_name} could not be kept here")
        # Its slot free and out of this process's fetches (a failure remembered) before its
        # clients hear of the end, so that their next request finds the stored file or the
        # failure, and room for another fetch. A failure of this host's is not remembered:
        # the next request tries again.
        with self._lock:
            self._active.pop(cached.id, None)
            if error is not None and not local:
                self._failed[cached.id] = (time.monotonic() + FAILURE_MEMORY, error)
                now = time.monotonic()
                for file_id in [k for k, (until, _) in self._failed.items() if until < now]:
                    del self._failed[file_id]
        if error is not None:
            try:
                self.catalog.release_upstream_fetch(cached.id, fetch.token)
            except Exception:  # the claim then lapses by itself (STALE_AFTER)
                log.exception("releasing the fetch of %s", cached.file_name)
            fetch.update(state="failed", error=error)  # before the staging file goes
        else:
            fetch.update(state="stored")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fetch.path)

    def _free_slot(self, fetch: Fetch) -> None:
        """Give back the fetch's slot, once (only the fetch's own thread calls this)."""
        if fetch.slot:
            fetch.slot = False
            self._slots.release()

    def _beat(self, fetch: Fetch, done: threading.Event) -> None:
        """The fetch's signs of life in the catalog, whatever it is doing (connecting,
        reading, storing), so that no other process takes a live fetch for a dead one."""
        while not done.wait(HEARTBEAT):
            try:
                self.catalog.upstream_fetch_alive(fetch.file.id, fetch.token)
            except Exception:
                log.exception("keeping the fetch of %s alive", fetch.file.file_name)

    def _copy(self, fetch: Fetch) -> None:
        cached = fetch.file
        response = self.client.get_file(cached.url)
        try:
            if response.status != 200:
                raise UpstreamUnreachable(
                    f"the upstream answered {response.status} for {cached.file_name}")
            length = response.headers.get("Content-Length")
            offered = int(length) if length and length.isdigit() else None
            if cached.size is not None and offered is not None and offered != cached.size:
                raise UpstreamUnreachable(
                    f"the upstream offers {offered:,} bytes of {cached.file_name}, its page"
                    f" says {cached.size:,}: nothing was kept")
            size = cached.size if cached.size is not None else offered
            if size is not None and size > self.max_size:
                raise UpstreamUnreachable(f"{cached.file_name} is {size:,} bytes, more than the"
                                          f" {self.max_size:,} this registry keeps")
            fetch.update(state="fetching", size=size)
            digest = hashlib.sha256()
            written = 0
            with open(fetch.path, "wb", buffering=0) as out:
                # The bytes as stored upstream, never decoded on the way: they are hashed.
                for chunk in response.stream(CHUNK, decode_content=False):
                    written += len(chunk)
                    if written > (size if size is not None else self.max_size):
                        raise UpstreamUnreachable(
                            f"the upstream sent more of {cached.file_name} than it said")
                    out.write(chunk)
                    digest.update(chunk)
                    fetch.update(written=written)
                os.fsync(out.fileno())  # on disk before the catalog says it is kept
        except HTTPException:
            raise
        except Exception as exc:  # urllib3's errors on the way: a timeout, a reset
            raise self.client.failure(cached.url, exc) from None
        finally:
            response.release_conn()
        if size is not None and written != size:
            raise UpstreamUnreachable(f"the upstream sent {written:,} bytes of"
                                      f" {cached.file_name}, not {size:,}: nothing was kept")
        if digest.hexdigest() != cached.sha256:
            raise UpstreamUnreachable(
                f"the bytes the upstream sent for {cached.file_name} have sha256"
                f" {digest.hexdigest()}, not the {cached.sha256} its page gives: nothing was"
                " kept")
        fetch.update(state="verified", size=written, verified=True,
                     verified_at=time.monotonic())
        # What is left is this host's: storing is no upstream fetch, but is bounded too.
        if self._storing.acquire(blocking=False):
            fetch.storing = True
            self._free_slot(fetch)
        key = file_key(cached.sha256)
        if self.kept is not None:  # while the verified bytes are still at hand
            self.kept(self.catalog.cached_upstream_file(cached.id) or cached, fetch.path)
        keep_blob(self.catalog, key, lambda: self.storage.put_file(key, fetch.path),
                  lambda: self.catalog.keep_upstream_file(cached.id, key, written))

    def metadata(self, cached: CachedFile, limit: int) -> bytes:
        """The file's PEP 658 metadata, fetched and verified on first use, then kept."""
        assert cached.metadata_sha256
        if cached.metadata_key:
            try:
                with self.storage.open(cached.metadata_key) as stream:
                    return stream.read()
            except KeyError:
                pass  # gone from storage: fetched again
        response = self.client.get_file(cached.url + ".metadata")
        try:
            if response.status != 200:
                raise UpstreamUnreachable(
                    f"the upstream answered {response.status} for {cached.file_name}.metadata")
            data = self.client.read_all(response, cached.url, limit,
                                        f"{cached.file_name}.metadata", decode=False)
        finally:
            response.release_conn()
        if hashlib.sha256(data).hexdigest() != cached.metadata_sha256:
            raise UpstreamUnreachable(
                f"the metadata the upstream sent for {cached.file_name} does not match the"
                " sha256 its page gives: nothing was kept")
        key = metadata_key(cached.metadata_sha256)
        keep_blob(self.catalog, key, lambda: self.storage.put_stream(key, io.BytesIO(data)),
                  lambda: self.catalog.keep_upstream_metadata(cached.id, key))
        return data


def settle_on_exit(files: UpstreamFiles) -> None:
    """What a stopping process does: wait a while for the files it is fetching or storing
    (their clients may have them already), and say so if some were left."""
    if not files.settle(SETTLE_ON_EXIT):
        log.warning("stopped with upstream files still being fetched or stored: the next"
                    " download of each fetches it again")


def _retry_later(why: str) -> ServiceUnavailable:
    """503 with a Retry-After: installers retry it."""
    return ServiceUnavailable(f"{why}: try again in a few seconds", retry_after=5)

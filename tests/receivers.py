"""A webhook receiver on 127.0.0.1 for the tests of webhooks: it keeps every delivery it
gets, answers with the statuses a test sets, can hold its answer until the test lets it
go, and hands deliveries over through a queue, so that a test waits for a delivery (with
a deadline) instead of sleeping."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server

WAIT = 30.0  # seconds a test waits for a delivery before it fails


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    def verified(self, secret: str) -> dict[str, Any]:
        """The body, once the ``standardwebhooks`` package has verified its signature."""
        return Webhook(secret).verify(self.body, self.headers)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    hold: threading.Event | None = None  # set: answers wait until it is
    got: list[Delivery] = field(default_factory=list)
    _arrived: queue.Queue[Delivery] = field(default_factory=queue.Queue)

    def next(self, timeout: float = WAIT) -> Delivery:
        """The next delivery, as it arrives; fails the test after ``timeout`` seconds."""
        try:
            return self._arrived.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook delivery within {timeout:g} s") from None

    def nothing_more(self) -> bool:
        return self._arrived.empty()

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        if self.hold is not None:
            self.hold.wait(WAIT)
        status = self.statuses.pop(0) if self.statuses else 200
        delivery = Delivery(headers, body, environ.get("PATH_INFO", ""))
        self.got.append(delivery)
        self._arrived.put(delivery)
        extra = [("Location", self.url + "/elsewhere")] if 300 <= status < 400 else []
        start_response(f"{status} X", [("Content-Type", "text/plain"), *extra])
        return [b"ok"]


@contextmanager
def receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (on ``port``, if given) for the block."""
    got = Receiver()
    server = make_server("127.0.0.1", port, got.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield got
    finally:
        if got.hold is not None:
            got.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait for ``condition()`` (what a sender records, in its own thread or process, just
    after a receiver has answered), failing the test after ``timeout`` seconds."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    try:
        while not condition():
            if stop.wait(0.02):
                raise AssertionError(f"not within {timeout:g} s: {what}")
    finally:
        timer.cancel()

"""Sending queued webhook deliveries, in a thread of each registry process, never inside the
request that made the change.

The thread runs while there is work: a change of this process queued a delivery, a hook
was added or tested here, or a look at the catalog (when ``pypireg serve`` or
``pypireg.wsgi`` starts, and at most every :data:`LOOK_EVERY` seconds while requests
arrive) found one pending, queued by any process or left by one that stopped. It claims
due deliveries for a lease, sends each signed, and records the attempt; with nothing left
to do for :data:`IDLE_EXIT` seconds, it ends. A failed delivery is tried again after
:data:`DELAYS` for a day, then given up; a hook that has failed for a day is disabled.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..catalog.hooks import DELIVERED, FAILED, PENDING
from ..times import parse_time, stamp, utcnow
from .sender import CONNECT_TIMEOUT, READ_TIMEOUT, Sent, post
from .signing import signed_headers

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..records import Hook, HookDelivery

log = logging.getLogger("pypireg.hooks")

# Seconds before each retry of a failed delivery (the last repeats), for a day at most.
DELAYS = (1, 5, 30, 60, 300, 900, 1800, 3600)
GIVE_UP = timedelta(days=1)  # a delivery failing this long is given up
DISABLE_AFTER = timedelta(days=1)  # a hook failing this long is disabled
LEASE = timedelta(seconds=CONNECT_TIMEOUT + READ_TIMEOUT + 30)
BATCH = 8  # deliveries claimed at a time
POLL = 2.0  # seconds between looks at the queue, before the thread ends
WAIT_DUE = 30.0  # seconds at most between looks while a retry is due later
IDLE_EXIT = 60.0  # seconds with nothing pending before the thread ends
LOOK_EVERY = 30.0  # seconds between looks for pending deliveries, as requests arrive


class Deliverer:
    """One registry process's sender of webhook deliveries."""

    def __init__(self, catalog: Catalog, allow_local: bool = False) -> None:
        self.catalog = catalog
        self.allow_local = allow_local
        self.delays = DELAYS
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._looked = float("-inf")
        self._stopped = False
        self._failing = False  # the catalog failed the last look: logged once

    def wake(self) -> None:
        """Something may be due now: start the thread, or have it look at once."""
        with self._lock:
            self._wake.set()
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="pypireg-webhooks",
                                                daemon=True)
                self._thread.start()

    def look(self, *, now: float | None = None) -> None:
        """Start the thread if a delivery is pending, looking at most every
        :data:`LOOK_EVERY` seconds (called as requests arrive, and once at start-up)."""
        moment = time.monotonic() if now is None else now
        if self._thread is not None or moment - self._looked < LOOK_EVERY:
            return
        self._looked = moment
        try:
            pending = self.catalog.next_due() is not None
        except Exception as exc:  # a catalog that cannot answer now: the next look will
            log.warning("could not look for webhook deliveries: %s", exc)
            return
        if pending:
            self.wake()

    def stop(self) -> None:
        """End the thread, for good, once its delivery in flight (if any) is recorded."""
        with self._lock:
            self._stopped = True
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        idle_since = time.monotonic()
        while not self._stopped:
            self._wake.clear()
            try:
                worked = self.deliver_due()
                due = None if worked else self.catalog.next_due()
                if self._failing:
                    self._failing = False
                    log.warning("webhook deliveries go on")
            except Exception as exc:  # the catalog, or a bug: log it once, try again later
                if not self._failing:
                    self._failing = True
                    log.warning("webhook deliveries wait, the catalog failing: %s", exc)
                worked, due = False, None
            if worked:
                idle_since = time.monotonic()
                continue
            if self._stopped:
                break
            if due is None and time.monotonic() - idle_since > IDLE_EXIT:
                with self._lock:
                    if not self._wake.is_set():
                        self._thread = None
                        return
                continue
            wait = POLL
            if due is not None:  # a retry later: this process's own changes wake it sooner
                wait = min(WAIT_DUE, max(0.05, (parse_time(due) - _now()).total_seconds()))
                idle_since = time.monotonic()
            self._wake.wait(wait)
        with self._lock:
            self._thread = None

    def deliver_due(self) -> bool:
        """Send what is due now; returns whether there was any."""
        now = _now()
        claimed = self.catalog.claim_deliveries(stamp(now), stamp(now + LEASE),
                                                self.claimant, BATCH)
        for delivery, hook in claimed:
            self.attempt(delivery, hook)
        return bool(claimed)

    def attempt(self, delivery: HookDelivery, hook: Hook, *, retry: bool = True) -> Sent:
        """Send one delivery, signed now, and record how it went (without ``retry``, a
        test's: delivered or failed, and the hook's failures not counted)."""
        body = delivery.body.encode()
        headers = signed_headers(hook.secret, delivery.webhook_id, int(time.time()), body)
        sent = post(hook.url, headers, body, allow_local=self.allow_local)
        if retry:
            self._record(delivery, hook, sent)
        else:
            self.catalog.record_attempt(
                delivery, now=utcnow(), status_code=sent.status, error=sent.error,
                duration_ms=sent.duration_ms, next_attempt_at=None,
                outcome=DELIVERED if sent.delivered else FAILED)
        return sent

    def _record(self, delivery: HookDelivery, hook: Hook, sent: Sent) -> None:
        now = _now()
        catalog = self.catalog
        with catalog.write():
            if sent.delivered:
                outcome, retry = DELIVERED, None
                if hook.failing_since:
                    catalog.update_hook(hook.id, {"failing_since": None})
            else:
                delay = self.delays[min(delivery.attempts, len(self.delays) - 1)]
                gave_up = now - parse_time(delivery.created_at) >= GIVE_UP
                outcome = FAILED if gave_up else PENDING
                retry = None if gave_up else stamp(now + timedelta(seconds=delay))
                failing = hook.failing_since or stamp(now)
                if now - parse_time(failing) >= DISABLE_AFTER:
                    why = (f"disabled at {stamp(now)}: every delivery has failed since"
                           f" {failing} (last: {sent.error})")
                    catalog.update_hook(hook.id, {"enabled": 0, "disabled_reason": why})
                    catalog.fail_pending(hook.id, why)
                    outcome, retry = FAILED, None
                    log.warning("webhook %s to %s %s", hook.id, hook.url, why)
                elif not hook.failing_since:
                    catalog.update_hook(hook.id, {"failing_since": failing})
            catalog.record_attempt(delivery, now=stamp(now), status_code=sent.status,
                                   error=sent.error, duration_ms=sent.duration_ms,
                                   outcome=outcome, next_attempt_at=retry)


def test_body(hook: Hook, project: dict[str, object]) -> str:
    """What ``POST .../hooks/:id/test`` sends: a ``hook.test`` event naming the hook."""
    return json.dumps({"type": "hook.test", "timestamp": utcnow(),
                       "data": {"hook_id": hook.id, **project}})


def _now() -> datetime:
    return datetime.now(timezone.utc)

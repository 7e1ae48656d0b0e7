"""Sending queued webhook deliveries, in a thread of each registry process, never inside the
request that made the change.

The thread starts when a change of this process queues a delivery, when a hook is enabled
here, or when a look at the catalog finds one pending (queued by any process, or left by
one that stopped): ``pypireg serve`` and ``pypireg.wsgi`` look when they start and keep
the thread for good, looking every :data:`LOOK_EVERY` seconds; a host's own server looks
at most that often as requests arrive, and its thread ends after :data:`IDLE_EXIT`
seconds without work. The command line sends nothing: a server does.

Deliveries are claimed one at a time, for a lease longer than a send may take, and an
attempt is recorded only by the sender still holding its claim, so that of several
processes one sends each delivery, and a hook's go in order. A failed delivery is tried
again after :data:`DELAYS` for a day, then given up; a hook failing for a day is disabled.
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
from .sender import DEADLINE, Sent, post
from .signing import signed_headers

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..records import Hook, HookDelivery

log = logging.getLogger("pypireg.hooks")

# Seconds before each retry of a failed delivery (the last repeats), for a day at most.
DELAYS = (1, 5, 30, 60, 300, 900, 1800, 3600)
GIVE_UP = timedelta(days=1)  # a delivery failing this long is given up
DISABLE_AFTER = timedelta(days=1)  # a hook failing this long is disabled
LEASE = timedelta(seconds=DEADLINE + 30)  # a claim: longer than any send takes
SHORTEST_WAIT = 0.25  # seconds between looks at the queue, at least
LOOK_EVERY = 30.0  # seconds between looks when nothing is due sooner
IDLE_EXIT = 60.0  # seconds without work before a thread that may end does


class Deliverer:
    """One registry process's sender of webhook deliveries."""

    def __init__(self, catalog: Catalog, allow_local: bool = False) -> None:
        self.catalog = catalog
        self.allow_local = allow_local
        self.delays = DELAYS
        self.sending = True  # False in the command line: servers send
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stays = False  # a server's: never ends on its own
        self._looked = float("-inf")
        self._stopped = False
        self._failing = False  # the catalog failed the last look: logged once

    def wake(self) -> None:
        """Something may be due now: start the thread, or have it look at once."""
        with self._lock:
            self._wake.set()
            if self._thread is None and self.sending and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="pypireg-webhooks",
                                                daemon=True)
                self._thread.start()

    def serve(self) -> None:
        """Keep the thread for as long as the process runs (``pypireg serve``,
        ``pypireg.wsgi``), sending what any process queued, starting now."""
        self._stays = True
        self.wake()

    def look(self, *, now: float | None = None) -> None:
        """Start the thread if a delivery is pending, looking at most every
        :data:`LOOK_EVERY` seconds (called as requests arrive)."""
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
                idle_since = time.monotonic()  # not idle: unable
            if worked:
                idle_since = time.monotonic()
                continue
            if self._stopped:
                break
            if due is None and not self._stays and time.monotonic() - idle_since > IDLE_EXIT:
                with self._lock:
                    if not self._wake.is_set():
                        self._thread = None
                        return
                continue
            wait = LOOK_EVERY
            if due is not None:  # a retry later: this process's own changes wake it sooner
                until = (parse_time(due) - _now()).total_seconds()
                wait = min(LOOK_EVERY, max(SHORTEST_WAIT, until))
                idle_since = time.monotonic()
            elif not self._stays:
                wait = min(wait, IDLE_EXIT / 4)
            self._wake.wait(wait)
        with self._lock:
            self._thread = None

    def deliver_due(self) -> bool:
        """Send one delivery that is due now; returns whether there was one."""
        now = _now()
        claimed = self.catalog.claim_deliveries(stamp(now), stamp(now + LEASE),
                                                self.claimant, 1)
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
                duration_ms=sent.duration_ms, next_attempt_at=None, claimant=None,
                outcome=DELIVERED if sent.delivered else FAILED)
        return sent

    def _record(self, delivery: HookDelivery, hook: Hook, sent: Sent) -> None:
        now = _now()
        catalog = self.catalog
        with catalog.write():
            current = catalog.hook(hook.id)
            if current is None:  # removed while this was in flight: nothing to record
                return
            if sent.delivered:
                outcome, retry = DELIVERED, None
                if current.failing_since:
                    catalog.update_hook(hook.id, {"failing_since": None})
            else:
                delay = self.delays[min(delivery.attempts, len(self.delays) - 1)]
                gave_up = now - parse_time(delivery.created_at) >= GIVE_UP
                outcome = FAILED if gave_up else PENDING
                retry = None if gave_up else stamp(now + timedelta(seconds=delay))
                failing = current.failing_since or stamp(now)
                if now - parse_time(failing) >= DISABLE_AFTER:
                    why = (f"disabled at {stamp(now)}: every delivery has failed since"
                           f" {failing} (last: {sent.error})")
                    catalog.update_hook(hook.id, {"enabled": 0, "disabled_reason": why})
                    catalog.fail_pending(hook.id, why)
                    outcome, retry = FAILED, None
                    log.warning("webhook %s %s", hook.id, why)
                elif not current.failing_since:
                    catalog.update_hook(hook.id, {"failing_since": failing})
            catalog.record_attempt(delivery, now=stamp(now), status_code=sent.status,
                                   error=sent.error, duration_ms=sent.duration_ms,
                                   outcome=outcome, next_attempt_at=retry,
                                   claimant=self.claimant)


def test_body(hook: Hook, project: dict[str, object]) -> str:
    """What ``POST .../hooks/:id/test`` sends: a ``hook.test`` event naming the hook."""
    return json.dumps({"type": "hook.test", "timestamp": utcnow(),
                       "data": {"hook_id": hook.id, **project}})


def _now() -> datetime:
    return datetime.now(timezone.utc)

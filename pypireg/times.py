"""Timestamps and durations as the catalog, the CLI and the API spell them.

The catalog stores GitLab's form, ``2019-11-27T03:37:38.711Z``, always in UTC with
milliseconds, so that comparing two stamps as strings compares the times.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_DURATION = re.compile(r"([1-9]\d{0,5})([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
LONGEST = timedelta(days=100 * 366)  # a duration past this is a mistake, not a policy


def stamp(when: datetime, timespec: str = "milliseconds") -> str:
    """A datetime (naive ones are taken as UTC) in the catalog's form; with ``timespec``
    ``"microseconds"``, to the microsecond (as PyPI writes upload times). Raises
    ``ValueError`` for one that has no UTC form (an offset from year 1 or 9999)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        when = when.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{when.isoformat()} is out of range") from None
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")


def utcnow() -> str:
    """Now, in the catalog's form."""
    return stamp(datetime.now(timezone.utc))


def parse_time(text: str) -> datetime:
    """A catalog stamp, or any ISO 8601 time (``Z`` or an offset; none means UTC), as an
    aware datetime. Raises ``ValueError``."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_duration(text: str) -> timedelta:
    """``12h``, ``30d`` or ``8w``, at most a hundred years. Raises ``ValueError`` with the
    shape expected."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} must look like 12h, 30d or 8w")
    duration = int(match[1]) * _UNITS[match[2]]
    if duration > LONGEST:
        raise ValueError(f"{text!r} is longer than a hundred years")
    return duration


def ago(duration: timedelta) -> str:
    """That long before now, in the catalog's form."""
    return stamp(datetime.now(timezone.utc) - duration)


def ahead(duration: timedelta) -> str:
    """That long after now, in the catalog's form."""
    return stamp(datetime.now(timezone.utc) + duration)


def moment(text: str) -> str:
    """A date (``2027-01-31``, its 00:00 UTC) or an ISO 8601 time, in the catalog's form.
    Raises ``ValueError``."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        try:
            return stamp(parse_time(text))
        except ValueError:
            raise ValueError(f"{text!r} must be a date (YYYY-MM-DD) or an ISO 8601"
                             " time") from None
    return stamp(datetime(day.year, day.month, day.day, tzinfo=timezone.utc))


_INTERVAL = re.compile(r"([0-9]{1,9})([smhdw]?)")
_INTERVAL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_interval(text: str | float | timedelta) -> timedelta:
    """``30s``, ``10m``, ``12h``, ``7d``, ``2w`` or a number of seconds, as a
    :class:`~datetime.timedelta` of at most a hundred years. Raises ``ValueError``."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _INTERVAL.fullmatch(str(text).strip())
        if not match:
            raise ValueError(f"{text!r} must be a number of seconds or look like 30s, 10m, 12h,"
                             " 7d or 2w")
        seconds = int(match[1]) * _INTERVAL_UNITS[match[2]]
    # Before it becomes a timedelta, which cannot hold a billion weeks.
    if not 0 <= seconds <= LONGEST.total_seconds():
        raise ValueError(f"{text!r} must be between 0 and a hundred years")
    return text if isinstance(text, timedelta) else timedelta(seconds=seconds)

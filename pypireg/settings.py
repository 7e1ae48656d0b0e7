"""Every setting of a registry, declared once.

A setting has one name, spelled three ways: ``name`` as an argument of ``create_app``,
``--name`` (with dashes) as a flag of ``pypireg serve``, and ``PYPIREG_NAME`` as a variable
that ``pypireg.wsgi`` (and ``pypireg serve``, for a flag not given) reads. :class:`Settings`
is that declaration: each field says its default, how its text is read and its help, and
the command line, ``pypireg.wsgi`` and the tests of docs/cli.md and docs/deploying.md are
made from it. ``create_app`` takes each as a keyword argument of the same name and default
(``tests/test_settings.py`` holds them to that), and more than text can say: objects for
the catalog and the storage, :class:`~pypireg.limits.Limits`, timedeltas.

Light on purpose: the command line builds its parser from this module before it loads
anything else, so what a value needs to be checked is imported when it is checked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .defaults import (
    DOWNLOAD_STATS_DAYS,
    EXTERNAL_IMAGES,
    METRICS_ALLOW,
    OIDC_AUDIENCE,
    OIDC_TOKEN_LIFETIME,
    PAGE_CACHE_SIZE,
    STAGE_LIFETIME,
    UI_SESSION_LIFETIME,
    UPSTREAM_MODES,
    UPSTREAM_TTL,
)
from .exceptions import PypiregError
from .limits import as_id, parse_size

PREFIX = "PYPIREG_"
MINTED_LIFETIMES = (timedelta(minutes=1), timedelta(hours=24))  # an upload token's, from-to
LAYOUTS = ("gitlab", "flat")


class SettingError(PypiregError, ValueError):
    """A setting's value cannot be used; the message names the setting as it was given
    (``--upstream-ttl``, ``PYPIREG_UPSTREAM_TTL``)."""


def words(text: str, separators: str = "commas or spaces") -> list[str]:
    """A list as one flag or variable holds it."""
    if separators == "commas":
        return [word.strip() for word in text.split(",")]
    return text.replace(",", " ").split()


def _choice(*choices: str) -> Callable[[str], str]:
    def read(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r}: use {' or '.join(map(repr, choices))}")
        return text
    return read


def _bytes(text: str) -> int:
    """A size as ``parse_size`` reads it (``64M``), or ``0`` for none."""
    if text.strip() and set(text.strip()) == {"0"}:
        return 0
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ValueError(f"{exc}, or 0 for none") from None


def _seconds(text: str) -> float:
    try:
        seconds = float(text) if text.isascii() else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 86400 * 366:
        raise ValueError(f"{text!r} is not a number of seconds")
    return seconds


def _whole(text: str) -> int:
    number = as_id(text.strip())
    if number is None:
        raise ValueError(f"{text!r} is not a whole number of seconds")
    return number


def _days(text: str) -> int:
    number = as_id(text.strip())
    if number is None or number < 1:
        raise ValueError(f"{text!r} is not a number of days (at least 1)")
    return number


def _switch(text: str) -> bool:
    """On or off: ``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``; a flag
    given alone is on."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is neither on nor off: give true or false")


def _interval(text: str) -> str:
    from .times import parse_interval

    parse_interval(text)  # kept as text: create_app reads it
    return text


def audience(text: str) -> str:
    """Trusted publishing's audience, checked (create_app checks a host's too)."""
    if (not isinstance(text, str) or not 0 < len(text) <= 255 or not text.isascii()
            or not text.isprintable() or " " in text):
        raise ValueError(f"oidc_audience {text!r}: give 1 to 255 printable ASCII characters,"
                         " no spaces")
    return text


def token_lifetime(value: str | float | timedelta) -> timedelta:
    """How long a minted upload token lasts, checked: from a minute to a day."""
    from .times import parse_interval

    try:
        lifetime = parse_interval(value)
    except ValueError as exc:
        raise ValueError(f"oidc_token_lifetime {exc}") from None
    if not MINTED_LIFETIMES[0] <= lifetime <= MINTED_LIFETIMES[1]:
        raise ValueError(f"oidc_token_lifetime {value!r} must be between 1m and 24h")
    return lifetime


def _token_lifetime(text: str) -> str:
    token_lifetime(text)
    return text  # kept as text: create_app reads it


def _directory(text: str) -> str:
    """A directory that is there, or can be made, and can be written."""
    path = Path(text).absolute()
    there = next(p for p in (path, *path.parents) if p.exists())
    if not there.is_dir():
        raise ValueError(f"{text!r} is not a directory: {there} is a file")
    if not os.access(there, os.W_OK | os.X_OK):
        raise ValueError(f"{text!r} cannot be written: {there} is read-only")
    return text


def _network(text: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an address or a CIDR block") from None
    return text.strip()


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream {text!r} is not an http:// or https:// URL")
    return text


def host_names(hosts: Iterable[str] | None) -> list[str] | None:
    """Trusted host names as werkzeug compares them: lower case, IDNA-encoded, checked."""
    from werkzeug.sansio.utils import host_is_trusted

    if hosts is None:
        return None
    names = []
    for host in hosts:
        name = host.strip().lower()
        bare = name.removeprefix(".")
        try:
            encoded = bare.encode("idna").decode("ascii")
        except UnicodeError:
            encoded = ""
        if not encoded or not host_is_trusted(encoded, [encoded]):
            raise ValueError(f"trusted host {host!r} is not a host name")
        names.append(name[: len(name) - len(bare)] + encoded)
    if not names:
        raise ValueError("trusted_hosts is empty: pass None to answer every host")
    return names


def _host(text: str) -> str:
    host_names([text])
    return text


def _publishers(text: str) -> list[dict[str, Any]]:
    """PyPI's Trusted Publisher fields as JSON: a list of objects, written out or in a
    file this names."""
    try:
        source = text if text.lstrip()[:1] in ("[", "{") else Path(text).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {text}: {exc.strerror}") from None
    try:
        publishers = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(publishers, list) or not all(isinstance(p, dict) for p in publishers):
        raise ValueError("give a JSON list of objects such as"
                         ' [{"kind": "GitHub", "repository": "owner/repo",'
                         ' "workflow": "release.yml"}]')
    from .attestations import TrustedPublishers

    TrustedPublishers(publishers)  # its kinds and fields checked now
    return publishers


def setting(default: Any, help: str, *, read: Callable[[str], Any] = str,
            metavar: str = "VALUE", many: str = "") -> Any:
    """A field of :class:`Settings`: ``read`` turns one flag's or variable's text into its
    value (raising ``ValueError`` saying why not). A setting of many values takes its flag
    again for each, and several in one flag or variable separated as ``many`` says:
    ``"commas"``, ``"commas or spaces"``, or ``"whole"`` (``read`` returns them all)."""
    return field(default=default, metadata={"read": read, "help": help, "metavar": metavar,
                                            "many": many})


@dataclass(frozen=True)
class Settings:
    """What ``pypireg serve`` and ``pypireg.wsgi`` pass to ``create_app`` (docs/cli.md,
    docs/deploying.md)."""

    catalog: str | None = setting(
        None, "the catalog elsewhere: postgresql://USER@HOST/DB or sqlite:////PATH",
        metavar="URL")
    storage: str | None = setting(
        None, "the files elsewhere: s3://BUCKET/PREFIX, file:///PATH or the URL of any"
        " installed storage", metavar="URL")
    layout: str = setting(
        "gitlab", "gitlab: GitLab's API paths; flat: one project at the root, like"
        " pypiserver, with the project setting", read=_choice(*LAYOUTS),
        metavar="{gitlab,flat}")
    project: str | None = setting(
        None, "the project the flat layout serves (created if missing)", metavar="PATH")
    max_upload_size: int | None = setting(
        None, "largest file an upload may hold, as bytes or with K, M, G or T (default 3G)",
        read=parse_size, metavar="SIZE")
    trusted_hosts: tuple[str, ...] | None = setting(
        None, "answer only requests for these Host names (.example.com also takes its"
        " subdomains); others get a 400", read=_host, metavar="HOST", many="commas")
    upstream: tuple[str, ...] | None = setting(
        None, "simple indexes for the names this registry does not hold, in priority order"
        " (off by default: see docs/proxy.md)", read=_url, metavar="URL",
        many="commas or spaces")
    upstream_mode: str = setting(
        "redirect", "redirect: send clients to the first upstream; cache: serve the"
        " upstreams' pages and files from a cache of them", read=_choice(*UPSTREAM_MODES),
        metavar="{redirect,cache}")
    upstream_ttl: str | float | timedelta = setting(
        UPSTREAM_TTL, "how long a cached upstream page is served before it is revalidated:"
        " 30s, 10m, 1h (default 10m)", read=_interval, metavar="DURATION")
    min_upstream_age: str | float | timedelta | None = setting(
        None, "hold back upstream files uploaded more recently than this (7d, 12h), and"
        " those without an upload time", read=_interval, metavar="DURATION")
    upstream_merge: tuple[str, ...] = setting(
        (), "packages held here whose pages also list the upstreams' files (no other local"
        " name is ever taken from upstream)", metavar="NAME", many="commas or spaces")
    page_max_age: int = setting(
        0, "seconds a client may keep a simple page without asking again (default 0:"
        " always revalidate, which ETags make cheap)", read=_whole, metavar="SECONDS")
    page_cache_size: int = setting(
        PAGE_CACHE_SIZE, "bytes of rendered pages each process keeps until what they show"
        " changes, with K, M or G (default 64M; 0 keeps none)", read=_bytes, metavar="SIZE")
    download_stats_days: int = setting(
        DOWNLOAD_STATS_DAYS, "days of daily download counts kept; gc forgets older ones"
        " (default 400)", read=_days, metavar="DAYS")
    download_flush_interval: float = setting(
        60.0, "seconds between writes of last_downloaded_at (default 60)", read=_seconds,
        metavar="SECONDS")
    staging_dir: str | None = setting(
        None, "where uploads are staged before they are stored (default: staging/ in the"
        " data directory, beside files/ so that storing is a rename)", read=_directory,
        metavar="DIR")
    realm: str = setting(
        "pypireg", "the realm of the WWW-Authenticate challenge (default pypireg)",
        metavar="NAME")
    ui_session_lifetime: str | float | timedelta = setting(
        UI_SESSION_LIFETIME, "how long a sign-in to the web pages lasts: 30m, 12h, 7d"
        " (default 12h)", read=_interval, metavar="DURATION")
    ui_external_images: str = setting(
        "allow", "allow: README images from other hosts load, lazily and without a referrer;"
        " block: they do not load at all", read=_choice(*EXTERNAL_IMAGES),
        metavar="{allow,block}")
    log_format: str = setting(
        "text", "text: a request log line as web servers write it; json: one JSON object"
        " per request and per event (docs/monitoring.md)", read=_choice("text", "json"),
        metavar="{text,json}")
    metrics_allow: tuple[str, ...] = setting(
        METRICS_ALLOW, "addresses or CIDR blocks that may read /-/metrics (default loopback:"
        " 127.0.0.0/8,::1)", read=_network, metavar="ADDR_OR_CIDR", many="commas or spaces")
    metrics_token: str | None = setting(
        None, "a secret that reads /-/metrics from anywhere, sent as Authorization: Bearer"
        " TOKEN", metavar="TOKEN")
    trusted_publishers: tuple[dict[str, Any], ...] | None = setting(
        None, "verify uploaded attestations as signed by these Trusted Publishers: a JSON"
        " list of PyPI's publisher fields, or a file holding one (docs/standards.md)",
        read=_publishers, metavar="JSON", many="whole")
    oidc_audience: str = setting(
        OIDC_AUDIENCE, "the audience trusted publishing's identity tokens must name; CI jobs"
        " ask for it (default pypireg; docs/trusted-publishing.md)", read=audience,
        metavar="AUDIENCE")
    oidc_token_lifetime: str | float | timedelta = setting(
        OIDC_TOKEN_LIFETIME, "how long an upload token minted by trusted publishing lasts:"
        " 5m, 1h (default 15m)", read=_token_lifetime, metavar="DURATION")
    hooks_allow_local: bool = setting(
        False, "let webhooks deliver to loopback, private and link-local addresses (off:"
        " refused, as a guard against requests to this host's own networks)",
        read=_switch, metavar="true|false")
    stage_lifetime: str | float | timedelta = setting(
        STAGE_LIFETIME, "how long a staged release stays open before gc forgets it: 12h, 7d,"
        " 2w (default 7d; docs/staging.md)", read=_interval, metavar="DURATION")

    @classmethod
    def read(cls, given: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        """The settings from ``given`` (what flags said, already read; None for those not
        given), else from ``environ``'s variables, else their defaults. Raises
        :class:`SettingError` naming the variable whose value cannot be used."""
        values: dict[str, Any] = {}
        for each in fields(cls):
            value = given.get(each.name)
            text = environ.get(variable(each), "").strip()
            if value is None and text:
                try:
                    value = read_text(each, text)
                except ValueError as exc:
                    raise SettingError(f"{variable(each)}: {exc}") from None
            if value is not None and value != []:  # an empty value, as an unset one
                values[each.name] = tuple(value) if each.metadata["many"] else value
        return cls(**values)

    def arguments(self) -> dict[str, Any]:
        """These settings as ``create_app``'s keyword arguments."""
        return {each.name: getattr(self, each.name) for each in fields(self)}


FIELDS: dict[str, Field[Any]] = {each.name: each for each in fields(Settings)}


def flag(each: Field[Any]) -> str:
    return "--" + each.name.replace("_", "-")


def variable(each: Field[Any]) -> str:
    return PREFIX + each.name.upper()


def read_text(each: Field[Any], text: str) -> Any:
    """One setting's value from a variable's text (several, for a setting of many)."""
    read, many = each.metadata["read"], each.metadata["many"]
    if many == "whole":
        return read(text)
    if many:
        return [read(item) for item in words(text, many) if item]
    return read(text)


def add_flags(parser: Any, names: Iterable[str], aliases: Mapping[str, str] = {}) -> None:
    """The flags of the settings ``names`` on an argparse ``parser``, each defaulting to its
    variable (read by :meth:`Settings.read`); ``aliases`` are older spellings still taken."""
    import argparse

    for name in names:
        each = FIELDS[name]
        meta = each.metadata

        def read(text: str, each: Field[Any] = each) -> Any:
            if not text.strip():  # as an empty variable: not given
                return [] if each.metadata["many"] else None
            try:
                return read_text(each, text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        spellings = [flag(each), *([aliases[name]] if name in aliases else [])]
        if meta["read"] is _switch:  # on when given, taking no value (its variable may)
            parser.add_argument(*spellings, dest=name, action="store_const", const=True,
                                help=f"{meta['help']} [${variable(each)}]")
            continue
        parser.add_argument(*spellings, dest=name, type=read, metavar=meta["metavar"],
                            action="extend" if meta["many"] else "store",
                            help=f"{meta['help']} [${variable(each)}]")

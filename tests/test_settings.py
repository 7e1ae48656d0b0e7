"""One spelling for each setting: ``name`` in ``create_app``, ``--name`` in ``pypireg
serve``, ``PYPIREG_NAME`` in ``pypireg.wsgi``, all from ``pypireg.settings.Settings``, each
documented (docs/cli.md, docs/deploying.md) and each reaching the registry the same way
whichever of the three sets it."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import pypireg
import pypireg.wsgi
from pypireg.cli import _parser
from pypireg.settings import FIELDS, SettingError, Settings, _switch, flag, variable
from pypireg.wsgi import ConfigError, from_environ

DOCS = Path(__file__).parent.parent / "docs"
PUBLISHER = {"kind": "GitHub", "repository": "acme/tools", "workflow": "release.yml"}

# For each setting: a text a flag or a variable may hold, and what the registry then does.
SAMPLES: dict[str, tuple[str, Callable[[pypireg.Registry], Any]]] = {
    "layout": ("flat", lambda r: r.dispatcher.bind("").match("/simple/")[1]
               == {"project": "acme/tools"}),
    "project": ("acme/tools", lambda r: r.dispatcher.bind("").match("/simple/")[1]
                == {"project": "acme/tools"}),
    "max_upload_size": ("5M", lambda r: r.limits.max_upload_size == 5 * 1024 * 1024),
    "trusted_hosts": ("pypi.example.com,.example.org",
                      lambda r: r.trusted_hosts == ["pypi.example.com", ".example.org"]),
    "upstream": ("https://one.example/simple/,https://two.example/simple",
                 lambda r: r.upstreams.settings.urls == ("https://one.example/simple/",
                                                         "https://two.example/simple/")),
    "upstream_mode": ("cache", lambda r: r.upstreams.settings.mode == "cache"),
    "upstream_ttl": ("1h", lambda r: r.upstreams.settings.ttl == timedelta(hours=1)),
    "min_upstream_age": ("7d", lambda r: r.upstreams.settings.min_age == timedelta(days=7)),
    "upstream_merge": ("Acme.Greet numpy", lambda r: r.upstreams.settings.merge
                       == {"acme-greet", "numpy"}),
    "page_max_age": ("30", lambda r: r.page_max_age == 30),
    "page_cache_size": ("2M", lambda r: r.pages.max_bytes == 2 * 1024 * 1024),
    "download_flush_interval": ("2.5", lambda r: r.downloads.interval == 2.5),
    "download_stats_days": ("30", lambda r: r.download_stats_days == 30),
    "log_format": ("json", lambda r: r.log_format == "json"),
    "metrics_allow": ("10.0.0.0/8,192.0.2.7", lambda r: [str(n) for n in r.metrics_networks]
                      == ["10.0.0.0/8", "192.0.2.7/32"]),
    "metrics_token": ("scrape-secret", lambda r: r.metrics_token == "scrape-secret"),
    "staging_dir": ("{tmp}/staged", lambda r: r.staging_dir.endswith("/staged")),
    "realm": ("acme", lambda r: r.realm == "acme"),
    "ui_session_lifetime": ("30m", lambda r: r.ui_session_lifetime == timedelta(minutes=30)),
    "ui_external_images": ("block", lambda r: r.ui_external_images == "block"),
    "trusted_publishers": (json.dumps([PUBLISHER]),
                           lambda r: len(r.trusted_publishers.publishers) == 1),
    "oidc_audience": ("pypi.example.com", lambda r: r.oidc_audience == "pypi.example.com"),
    "oidc_token_lifetime": ("5m", lambda r: r.oidc_token_lifetime == timedelta(minutes=5)),
    "stage_lifetime": ("12h", lambda r: r.stage_lifetime == timedelta(hours=12)),
    "hooks_allow_local": ("true", lambda r: r.hooks_allow_local and r.deliverer.allow_local),
}
# Where the registry lives: tested with their own URLs (tests/test_wsgi.py,
# tests/test_storage_urls.py, tests/e2e/test_storage_plugin.py).
ELSEWHERE = {"catalog", "storage"}
# What a setting needs beside it, and what a registry without it is built with.
NEEDS = {"project": {"layout": "flat"}, "layout": {"project": "acme/tools"},
         **{name: {"upstream": "https://one.example/simple/"}
            for name in ("upstream_mode", "upstream_ttl", "min_upstream_age", "upstream_merge")}}
WITHOUT = {**NEEDS, "project": {"layout": "flat", "project": "acme/other"}, "layout": {}}


def test_every_setting_is_sampled() -> None:
    assert set(FIELDS) == set(SAMPLES) | ELSEWHERE


def test_every_setting_is_an_argument_of_create_app_with_the_same_default() -> None:
    parameters = inspect.signature(pypireg.create_app).parameters
    for each in fields(Settings):
        assert each.name in parameters, each.name
        assert parameters[each.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert parameters[each.name].default == each.default, each.name


def test_every_setting_is_a_flag_of_serve() -> None:
    serve = _parser("serve")._subparsers._group_actions[0].choices["serve"]  # type: ignore
    flags = {option for action in serve._actions for option in action.option_strings}
    assert {flag(each) for each in fields(Settings)} <= flags
    assert "--trusted-host" in flags  # the older spelling still works


def test_every_setting_is_documented() -> None:
    cli, deploying = (DOCS / "cli.md").read_text(), (DOCS / "deploying.md").read_text()
    for each in fields(Settings):
        assert re.search(rf"^\| `{flag(each)}`", cli, re.M), f"{flag(each)} not in docs/cli.md"
        assert re.search(rf"^\| `{variable(each)}`", deploying, re.M), \
            f"{variable(each)} not in docs/deploying.md's table"


def _apply(text: str, tmp_path: Path) -> str:
    return text.replace("{tmp}", str(tmp_path))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_setting_reaches_the_registry_from_each_spelling(name, tmp_path, monkeypatch) -> None:
    text, check = SAMPLES[name]
    text = _apply(text, tmp_path)
    needed = {**NEEDS.get(name, {}), name: text}
    data = tmp_path / "data"
    made = pypireg.create_app(data)
    made.create_group("acme", "public")
    made.create_project("acme/tools", "public")  # the flat layout's, which must exist
    # pypireg serve: its flags, read by its own parser
    argv = ["serve", "--data", str(data)]
    for other, value in needed.items():  # a switch is on by its flag alone
        argv += [flag(FIELDS[other])] if FIELDS[other].metadata["read"] is _switch else [
            flag(FIELDS[other]), value]
    from_flags = Settings.read(vars(_parser("serve").parse_args(argv)), {})
    # pypireg.wsgi: its variables, passed on to create_app
    environ = {"PYPIREG_DATA": str(data),
               **{variable(FIELDS[other]): value for other, value in needed.items()}}
    built: list[pypireg.Registry] = []
    real = pypireg.wsgi.create_app
    monkeypatch.setattr(pypireg.wsgi, "create_app",
                        lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    from_environ(environ)
    assert from_flags == Settings.read({}, environ)
    assert from_flags != Settings()
    # create_app: its arguments, as the two above pass them
    by_argument = pypireg.create_app(tmp_path / "other", **from_flags.arguments())
    for registry in (built[0], by_argument):
        assert check(registry), name
    without = pypireg.create_app(tmp_path / "plain", **WITHOUT.get(name, {}))
    with contextlib.suppress(Exception):  # a gitlab layout has no /simple/
        assert not check(without), name


@pytest.mark.parametrize(("name", "text", "why"), [
    ("layout", "tree", "'tree': use 'gitlab' or 'flat'"),
    ("max_upload_size", "1.5", "is not a size"),
    ("trusted_hosts", "pypi example.com", "is not a host name"),
    ("upstream", "ftp://x/simple/", "is not an http"),
    ("upstream_ttl", "soon", "must be a number of seconds"),
    ("page_max_age", "-1", "is not a whole number"),
    ("page_cache_size", "lots", "is not a size"),
    ("download_flush_interval", "often", "is not a number of seconds"),
    ("trusted_publishers", '[{"kind": "Jenkins"}]', "kind must be one of"),
    ("trusted_publishers", "{}", "give a JSON list"),
    ("trusted_publishers", "missing.json", "cannot read"),
    ("trusted_publishers", '[{"kind": "GitHub", "repository": "a/b", "workflow": "x",'
     ' "enviroment": "prod"}]', "unknown field 'enviroment'"),
    ("upstream_ttl", "999999999w", "between 0 and a hundred years"),
    ("min_upstream_age", "1e400", "must be a number of seconds"),
    ("staging_dir", "/dev/null", "is not a directory"),
    ("max_upload_size", "\u0665M", "is not a size"),
    ("download_flush_interval", "\u0665", "is not a number of seconds"),
])
def test_a_bad_value_is_refused_naming_it_as_given(name, text, why, tmp_path, capsys) -> None:
    each = FIELDS[name]
    with pytest.raises(SettingError, match=f"^{variable(each)}: .*{re.escape(why)}"):
        Settings.read({}, {variable(each): text})
    with pytest.raises(SystemExit):
        _parser("serve").parse_args(["serve", flag(each), text])
    assert f"argument {flag(each)}" in capsys.readouterr().err
    data = tmp_path / "data"
    pypireg.create_app(data)
    with pytest.raises(ConfigError, match=f"^{variable(each)}: "):
        from_environ({"PYPIREG_DATA": str(data), variable(each): text})


def test_a_flag_wins_over_its_variable(tmp_path) -> None:
    args = vars(_parser("serve").parse_args(["serve", "--realm", "flag"]))
    assert Settings.read(args, {"PYPIREG_REALM": "variable"}).realm == "flag"
    args = vars(_parser("serve").parse_args(["serve"]))
    assert Settings.read(args, {"PYPIREG_REALM": "variable"}).realm == "variable"
    assert Settings.read(args, {}).realm == "pypireg"


def test_trusted_publishers_may_be_a_file(tmp_path) -> None:
    listed = tmp_path / "publishers.json"
    listed.write_text(json.dumps([PUBLISHER, {**PUBLISHER, "repository": "acme/web"}]))
    settings = Settings.read({}, {"PYPIREG_TRUSTED_PUBLISHERS": str(listed)})
    assert settings.trusted_publishers == (PUBLISHER, {**PUBLISHER, "repository": "acme/web"})
    with pytest.raises(SettingError, match="PYPIREG_TRUSTED_PUBLISHERS: "):
        Settings.read({}, {"PYPIREG_TRUSTED_PUBLISHERS": str(tmp_path / "missing.json")})


def test_an_empty_value_is_an_unset_one(tmp_path) -> None:
    """A blank variable, a list of nothing but commas, or an empty flag sets nothing: the
    default (or, for a flag, its variable) stands."""
    for environ in ({"PYPIREG_TRUSTED_HOSTS": " , , "}, {"PYPIREG_REALM": "  "},
                    {"PYPIREG_UPSTREAM": ","}):
        assert Settings.read({}, environ) == Settings()
    args = vars(_parser("serve").parse_args(["serve", "--realm", "", "--trusted-hosts", ","]))
    assert Settings.read(args, {"PYPIREG_REALM": "acme"}) == Settings(realm="acme")


def test_gc_collects_from_the_staging_directory_serve_was_given(tmp_path, monkeypatch,
                                                                 capsys) -> None:
    from pypireg.cli import main

    data, staged = tmp_path / "data", tmp_path / "staged"
    pypireg.create_app(data, staging_dir=str(staged))
    abandoned = staged / "upload-abandoned"
    abandoned.write_bytes(b"half an upload")
    os.utime(abandoned, (0, 0))
    assert main(["gc", "--data", str(data)]) == 0
    assert abandoned.exists()  # not where gc looks by default
    monkeypatch.setenv("PYPIREG_STAGING_DIR", str(staged))
    assert main(["gc", "--data", str(data)]) == 0
    assert not abandoned.exists()
    assert "1 stale staging file" in capsys.readouterr().out

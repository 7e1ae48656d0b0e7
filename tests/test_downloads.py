"""Download statistics: every download counted per file per day, written in batches,
added up across processes, read through the API and the command line, and forgotten by
gc after ``download_stats_days``; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import pypireg
from pypireg.catalog import open_catalog
from pypireg.catalog.downloads import FileDay

from .helpers import API, Env, basic, links, run

PROJECT = "/projects/acme%2Ftools/packages"
TODAY = datetime.now(timezone.utc).date()


def download(env: Env, name: str, times: int, *, version: str = "") -> None:
    page = env.app.get(API.format(project="acme/tools") + f"/simple/{name}/")
    for href, _, _ in links(page.text):
        if version and f"-{version}-" not in href and f"-{version}." not in href:
            continue
        for _ in range(times):
            env.app.get(href.removeprefix("http://localhost").split("#")[0])


def package_id(env: Env, name: str, version: str) -> int:
    listing = env.app.get(f"{PROJECT}?package_name={name}").json
    return next(p["id"] for p in listing if p["version"] == version)


def test_downloads_are_counted_by_day_and_read_through_the_api(env: Env) -> None:
    env.registry.downloads.interval = 3600  # written only when read
    for version in ("1.0", "2.0"):
        env.upload_wheel("acme/tools", "lib", version, token=env.writer, status=201)
    env.upload_wheel("acme/tools", "other", "1.0", token=env.writer, status=201)
    download(env, "lib", 3, version="1.0")
    download(env, "lib", 5, version="2.0")
    download(env, "other", 1)
    stats = env.app.get(f"{PROJECT}/{package_id(env, 'lib', '2.0')}/downloads").json
    assert (stats["name"], stats["version"], stats["total"]) == ("lib", "2.0", 5)
    assert len(stats["days"]) == 30 and stats["days"][-1] == {
        "date": TODAY.isoformat(), "downloads": 5}
    assert sum(day["downloads"] for day in stats["days"]) == 5
    listing = env.app.get(f"{PROJECT}/downloads")
    assert listing.json == [{"name": "lib", "version": "2.0", "downloads": 5},
                            {"name": "lib", "version": "1.0", "downloads": 3},
                            {"name": "other", "version": "1.0", "downloads": 1}]
    assert listing.headers["X-Total"] == "3"
    one = env.app.get(f"{PROJECT}/downloads?package_name=LIB&per_page=1&page=2")
    assert one.json == [{"name": "lib", "version": "1.0", "downloads": 3}]
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    before = env.app.get(f"{PROJECT}/downloads?from={yesterday}&to={yesterday}")
    assert before.json == []


@pytest.mark.parametrize("query", [
    "from=2026-13-01", "to=yesterday", "from=2026-12-05&to=2026-12-01",
    "from=2020-01-01&to=2026-01-01", "from=%D9%A2026-01-01"])
def test_bad_dates_are_a_400_saying_which(env: Env, query: str) -> None:
    answer = env.app.get(f"{PROJECT}/downloads?{query}", status=400).json["message"]
    assert answer.startswith("400 Bad request - ") and ("from" in answer or "to" in answer)


def test_download_statistics_follow_the_access_rules(env: Env) -> None:
    env.upload_wheel("acme/team/secret", "lib", "1.0", token=env.writer, status=201)
    private = "/projects/acme%2Fteam%2Fsecret/packages/downloads"
    env.app.get(private, status=401)
    env.app.get(private, headers=basic(env.outsider), status=404)
    assert env.app.get(private, headers=basic(env.reader)).json == []


def test_processes_on_one_catalog_add_up(tmp_path, catalog) -> None:
    """Two registries on one catalog (two workers, two hosts), each with its own batch."""
    first = Env(pypireg.create_app(catalog=catalog, staging_dir=str(tmp_path)))
    first.upload_wheel("acme/tools", "lib", "1.0", token=first.writer, status=201)
    url = getattr(catalog.engine, "url", None)
    other_catalog = open_catalog(url) if url else catalog  # SQLite in memory: one catalog
    second = pypireg.create_app(catalog=other_catalog, staging_dir=str(tmp_path))
    (found,) = first.registry.catalog.package_files(
        package_id(first, "lib", "1.0"), limit=10, offset=0)[0]
    for registry, times in ((first.registry, 4), (second, 6)):
        registry.downloads.interval = 3600
        for _ in range(times):
            registry.downloads.record(found)
    first.registry.downloads.flush()
    second.downloads.flush()
    counted = catalog.package_downloads(found.package_id, TODAY.isoformat(), TODAY.isoformat())
    assert counted == {TODAY.isoformat(): 10}


def test_a_failed_write_keeps_the_counts_for_the_next_flush(env: Env, monkeypatch) -> None:
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    env.registry.downloads.interval = 3600
    download(env, "lib", 2)
    real = env.registry.catalog.record_downloads

    def fails(*args):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(env.registry.catalog, "record_downloads", fails)
    env.registry.downloads.flush()
    download(env, "lib", 1)
    monkeypatch.setattr(env.registry.catalog, "record_downloads", real)
    env.registry.downloads.flush()
    assert env.app.get(f"{PROJECT}/downloads").json == [
        {"name": "lib", "version": "1.0", "downloads": 3}]


def test_the_command_line_says_what_the_api_says(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    env = Env(pypireg.create_app(data))
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    env.upload_wheel("acme/tools", "lib", "2.0", token=env.writer, status=201)
    download(env, "lib", 2, version="2.0")
    env.registry.downloads.flush()
    code, out, _ = run(capsys, "downloads", "acme/tools", "--data", str(data))
    assert code == 0
    assert out[0] == f"downloads of acme/tools from {TODAY - timedelta(days=29)} to {TODAY}" \
                     " (UTC): 2"
    assert out[1].split() == ["NAME", "VERSION", "DOWNLOADS"]
    assert out[2].split() == ["lib", "2.0", "2"]
    as_json = json.loads("\n".join(run(capsys, "downloads", "acme/tools", "LIB", "--json",
                                        "--since", "12h", "--data", str(data))[1]))
    assert as_json == env.app.get(f"{PROJECT}/downloads?from={TODAY}").json


def test_gc_forgets_days_past_the_statistics_keep(tmp_path) -> None:
    env = Env(pypireg.create_app(staging_dir=str(tmp_path), download_stats_days=7))
    env.upload_wheel("acme/tools", "lib", "1.0", token=env.writer, status=201)
    (found,) = env.registry.catalog.package_files(
        package_id(env, "lib", "1.0"), limit=10, offset=0)[0]
    days = {(TODAY - timedelta(days=n)).isoformat(): n + 1 for n in (0, 6, 7, 30)}
    with env.registry.catalog.write():
        env.registry.catalog.count_downloads(
            {FileDay(found.project_id, found.package_id, found.id, day): n
             for day, n in days.items()})
    report = env.registry.collect_garbage()
    assert report.download_days == 2
    assert "forgot 2 daily download counts" in str(report)
    kept = env.registry.catalog.package_downloads(found.package_id, "2000-01-01", "2999-01-01")
    assert kept == {(TODAY - timedelta(days=n)).isoformat(): n + 1 for n in (0, 6)}
    assert env.registry.collect_garbage().download_days == 0


def test_the_package_page_says_what_the_api_says(site) -> None:  # type: ignore[no-untyped-def]
    """The web page's counts of the last 30 days, per name and per version, and its chart
    (an SVG drawn on the server, one bar a day) agree with the API."""
    site.registry.downloads.interval = 3600
    for version in ("1.0", "2.0"):
        site.publish("acme/tools", "lib", version)
    download(site, "lib", 2, version="1.0")
    download(site, "lib", 3, version="2.0")
    site.registry.downloads.flush()
    page = site.page("/acme/tools/-/packages/pypi/lib")
    said = page.html.select_one(".downloads p").text
    assert said == "5 in the last 30 days, all versions; 3 of 2.0."
    bars = page.html.select(".downloads svg rect")
    assert len(bars) == 30
    assert bars[-1].select_one("title").text == f"{TODAY}: 5"
    assert {b.select_one("title").text.split(": ")[1] for b in bars[:-1]} == {"0"}
    counts = [li.select_one(".count").text for li in page.html.select("ul.versions li")]
    assert counts == ["3 ↓", "2 ↓"]
    api = site.site.get(f"/api/v4{PROJECT}/downloads").json
    assert {(row["version"], row["downloads"]) for row in api} == {("2.0", 3), ("1.0", 2)}

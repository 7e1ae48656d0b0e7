"""The web pages in a real browser: Debian's headless Chromium, driven by selenium through
chromedriver, against the pages and API served together as ``pypireg serve`` serves them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
import waitress
from waitress import wasyncore

import pypireg
from pypireg.cli.serving import SERVER

from ..distributions import HOSTILE_README, described_wheel
from ..helpers import missing
from .live import BIN, run

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MARKDOWN = "Description-Content-Type: text/markdown\n"


def _require_browser() -> None:
    """Skip without Chromium, selenium or chromedriver, saying how to get them; under CI,
    which installs them (.ci/run), fail instead."""
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        absent.append("selenium")
    if absent:
        missing(", ".join(absent), "apt-get install chromium chromium-driver, pip install -e"
                " '.[test]'")


@pytest.fixture
def browser() -> Iterator:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager never looks for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1200,900", "--no-proxy-server"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # see responses()
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[pypireg.Registry, str, str]]:
    """A registry with a public and a private project, behind waitress as serve runs it;
    yields it, its base URL and a token that reads the private project."""
    registry = pypireg.create_app(tmp_path / "data")
    registry.create_group("acme", "public")
    registry.create_project("acme/tools", "public")
    registry.create_project("acme/secret", "private")
    writer = registry.create_token("writer", ["acme:write"])
    reader = registry.create_token("reader", ["acme/secret:read"])
    server = waitress.create_server(pypireg.site(registry), host="127.0.0.1", port=0, **SERVER)
    base = f"http://127.0.0.1:{server.effective_port}"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _publish(tmp_path, base, writer)
        yield registry, base, reader
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join()
        server.task_dispatcher.shutdown()


def responses(browser) -> dict[str, tuple[int, dict[str, str]]]:
    """The status and headers of each document the browser received, by URL (from
    Chromium's own network log)."""
    import json

    found = {}
    for entry in browser.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        if event["method"] == "Network.responseReceived" and \
                event["params"]["type"] == "Document":
            response = event["params"]["response"]
            headers = {k.lower(): v for k, v in response["headers"].items()}
            found[response["url"]] = (response["status"], headers)
    return found


def _publish(tmp_path, base: str, token: str) -> None:
    """Real uploads with twine: two versions of a library, a hostile one, a private one."""
    dist = tmp_path / "dist"
    dist.mkdir()
    greeter = f"Summary: Says hello\n{MARKDOWN}"
    packages = [("acme/tools", "greeter", "1.0", greeter, "# Greeter\n\nHello."),
                ("acme/tools", "greeter", "1.1", greeter, "# Greeter\n\nHi."),
                ("acme/tools", "hostile", "1.0",
                 "Summary: <script>window.ran = 'summary'</script>\n"
                 "Description-Content-Type: text/markdown\n"
                 "Project-URL: Evil, javascript:window.ran='url'\n", HOSTILE_README),
                ("acme/secret", "classified", "1.0", "Summary: Team only\n", "")]
    for project, name, version, metadata, body in packages:
        file_name, data = described_wheel(name, version, metadata, body)
        path = dist / file_name
        path.write_bytes(data)
        run([str(BIN / "twine"), "upload", "--non-interactive",
             "--repository-url", f"{base}/api/v4/projects/{project.replace('/', '%2F')}"
             "/packages/pypi", "-u", "__token__", "-p", token, str(path)])
    # A release waiting in a stage (docs/staging.md): on the project's page, not its list.
    api = f"{base}/api/v4/projects/acme%2Ftools/packages/pypi/stages"
    made = Request(api, data=b'{"name": "2.0-rc"}', method="POST", headers={
        "Content-Type": "application/json", "PRIVATE-TOKEN": token})
    with urlopen(made, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
        assert answer.status == 201
    file_name, data = described_wheel("staged-lib", "2.0", "Summary: Not yet\n", "")
    path = dist / file_name
    path.write_bytes(data)
    run([str(BIN / "twine"), "upload", "--non-interactive", "--repository-url",
         f"{api}/2.0-rc", "-u", "__token__", "-p", token, str(path)])


def test_browse_search_and_copy(browser, served) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, base, _ = served
    browser.get(base + "/")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "pypireg"
    assert "classified" not in browser.page_source  # private, and no credentials given
    box = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.send_keys("greet")
    box.submit()
    WebDriverWait(browser, 10).until(lambda d: "/-/search" in d.current_url)
    results = browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")
    assert [r.text for r in results] == ["greeter"]
    browser.find_element(By.CSS_SELECTOR, "ul.names .project a").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == base + "/acme/tools")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")]
    assert names == ["greeter", "hostile"]
    browser.find_element(By.LINK_TEXT, "greeter").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/pypi/greeter"))
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("greeter 1.1")
    assert browser.find_element(By.CSS_SELECTOR, ".readme .rendered h1").text == "Greeter"
    # Follow a version.
    browser.find_element(By.CSS_SELECTOR, "ul.versions").find_element(
        By.LINK_TEXT, "1.0").click()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "h1").text.startswith("greeter 1.0"))
    assert "/acme/tools/-/packages/" in browser.current_url
    # Copy the pip snippet, and read it back from the clipboard.
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    button = browser.find_element(By.CSS_SELECTOR, ".install button.copy")
    expected = button.get_attribute("data-copy")
    assert expected.startswith("pip install --index-url " + base + "/api/v4/projects/")
    assert expected.endswith(" greeter==1.0")
    button.click()
    WebDriverWait(browser, 10).until(lambda d: button.text == "Copied")
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('!' + e))")
    assert copied == expected


def test_hostile_content_runs_no_script(browser, served) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _, base, _ = served
    browser.get(base + "/acme/tools/-/packages/pypi/hostile")
    assert browser.find_element(By.CSS_SELECTOR, ".readme h1").text == "Hostile"
    for link in browser.find_elements(By.CSS_SELECTOR, ".readme a"):
        if not (link.get_attribute("href") or "").startswith("http"):  # never the internet
            link.click()
    assert browser.execute_script("return typeof window.ran") == "undefined"
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert "<script>window.ran = 'summary'</script>" in browser.find_element(
        By.CSS_SELECTOR, "p.lead").text


def sign_in_with(browser, token: str) -> None:
    """Fill in and send the sign-in form the browser shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    form = WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "form.sign-in"))
    form.find_element(By.NAME, "token").send_keys(token)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The next page has replaced this one (a refusal's page has a form of its own).
    replaced(browser, form)


def replaced(browser, element) -> None:
    """Wait until the page ``element`` was on has been replaced, and the next one loaded.
    Asked about an element of a page being replaced, chromedriver answers either that it
    is stale or, mid-navigation, that its node "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    WebDriverWait(browser, 10).until(gone)
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def signed_in_as(browser) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, "header .who strong")
    return found[0].text if found else ""


def test_signing_in_shows_private_pages_until_the_token_is_revoked(browser, served) -> None:
    from selenium.webdriver.common.by import By

    registry, base, reader = served
    browser.get(base + "/acme/secret")
    status, headers = responses(browser)[base + "/acme/secret"]
    assert status == 401 and "www-authenticate" not in headers  # no prompt of its own
    assert "classified" not in browser.page_source
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.CSS_SELECTOR, "main a").click()  # "Sign in"
    WebDriverWait(browser, 10).until(
        lambda d: d.current_url == base + "/users/sign_in?redirect=/acme/secret")
    sign_in_with(browser, reader)
    assert browser.current_url == base + "/acme/secret"  # back where they were
    assert signed_in_as(browser) == "reader"
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")] \
        == ["classified"]
    cookie = browser.get_cookie("pypireg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and reader not in cookie["value"]
    # Every page is the signed-in caller's, across the site.
    browser.get(base + "/")
    assert "acme/secret" in [a.text for a in browser.find_elements(
        By.CSS_SELECTOR, "ul.namespaces a")]
    browser.get(base + "/-/search?q=team")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")] \
        == ["classified"]
    # Revoking the token ends the session on the next page.
    token = registry.catalog.token_by_hash(pypireg.auth.tokens.hash_secret(reader))
    registry.revoke_token(token["id"])
    browser.get(base + "/acme/secret")
    assert responses(browser)[base + "/acme/secret"][0] == 401
    assert signed_in_as(browser) == ""


def test_signing_out(browser, served) -> None:
    from selenium.webdriver.common.by import By

    registry, base, _ = served
    token = registry.create_token("alice", ["acme/secret:read"])
    browser.get(base + "/")
    browser.find_element(By.CSS_SELECTOR, "header a.account").click()
    sign_in_with(browser, "pypireg-wrong")
    assert "does not sign you in" in browser.find_element(By.CSS_SELECTOR, ".warning").text
    sign_in_with(browser, token)
    assert signed_in_as(browser) == "alice"
    button = browser.find_element(By.CSS_SELECTOR, "header form.account button")
    button.click()
    replaced(browser, button)
    assert signed_in_as(browser) == ""
    assert browser.get_cookie("pypireg_session") is None
    assert "acme/secret" not in browser.page_source




def test_yanked_and_quarantined_versions_offer_no_install(browser, served) -> None:
    from selenium.webdriver.common.by import By

    registry, base, _ = served
    registry.yank("acme/tools", "greeter", "1.1", reason="broken build")
    browser.get(base + "/acme/tools/-/packages/pypi/greeter")
    assert browser.find_element(By.CSS_SELECTOR, "h1 .version").text == "1.0"  # pip's pick
    commands = [b.get_attribute("data-copy") for b in browser.find_elements(
        By.CSS_SELECTOR, ".install button.copy")]
    assert commands and all("greeter==1.0" in c for c in commands)
    browser.find_element(By.CSS_SELECTOR, "ul.versions").find_element(
        By.LINK_TEXT, "1.1").click()
    note = browser.find_element(By.CSS_SELECTOR, "main .warning")
    assert note.text.startswith("This version is yanked: broken build.")
    assert not browser.find_elements(By.CSS_SELECTOR, ".install")
    project = registry.catalog.project("acme/tools")
    registry.set_name_status(project, "hostile", "quarantined", reason="malware")
    browser.get(base + "/acme/tools")
    marks = {row.find_element(By.CSS_SELECTOR, "a.name").text:
             [b.text for b in row.find_elements(By.CSS_SELECTOR, ".badge")]
             for row in browser.find_elements(By.CSS_SELECTOR, "ul.names li")}
    assert marks == {"greeter": [], "hostile": ["quarantined"]}
    browser.get(base + "/acme/tools/-/packages/pypi/hostile")
    assert not browser.find_elements(By.CSS_SELECTOR, ".install")


def test_the_copied_command_is_the_one_shown_and_it_installs(browser, served,
                                                             tmp_path) -> None:
    import shlex
    import sys

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from .live import client_env

    _, base, _ = served
    for width in (1280, 390):
        browser.set_window_size(width, 900)
        browser.get(base + "/acme/tools/-/packages/pypi/greeter")
        shown = browser.find_element(By.CSS_SELECTOR, ".install pre")
        assert shown.size["width"] <= width  # wrapped, not cut off at the right edge
        assert shown.rect["x"] + shown.rect["width"] <= width
        assert "greeter==1.1" in shown.text  # the name stays in view
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    shown.send_keys("")  # it takes keyboard focus
    assert browser.switch_to.active_element == shown
    button = browser.find_element(By.CSS_SELECTOR, ".install button.copy")
    button.click()
    WebDriverWait(browser, 10).until(lambda d: button.text == "Copied")
    assert browser.find_element(By.CSS_SELECTOR, ".announce").get_attribute(
        "textContent") == "Copied to the clipboard"
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('!' + e))")
    assert copied == shown.text.strip()
    argv = shlex.split(copied)
    assert argv[:2] == ["pip", "install"]
    run([sys.executable, "-m", *argv, "--target", str(tmp_path / "target")],
        env=client_env(tmp_path))
    assert (tmp_path / "target" / "greeter").is_dir()


def test_the_project_page_lists_its_open_stage(browser, served) -> None:
    from selenium.webdriver.common.by import By

    _, base, _ = served
    browser.get(base + "/acme/tools")
    rows = [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, ".stages tbody tr")]
    assert [row[:2] for row in rows] == [["2.0-rc", "1"]]
    assert rows[0][3].startswith(base + "/api/v4/projects/")
    assert rows[0][3].endswith("/packages/pypi/stages/2.0-rc/simple/")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")]
    assert "staged-lib" not in names and "greeter" in names


PAGE_TYPES = {"home": "/", "group": "/acme", "project": "/acme/tools",
              "package": "/acme/tools/-/packages/pypi/greeter", "search": "/-/search?q=greet",
              "sign-in": "/users/sign_in", "missing": "/acme/nothing"}


def test_every_page_type_passes_axe(browser, served) -> None:
    """axe-core (from the npm registry, installed by .ci/run) finds no serious or critical
    violation on any page type, light and dark, at 1280 and 390 pixels, signed in and
    out."""
    from selenium.webdriver.common.by import By

    axe = ROOT / ".clients" / "axe-core" / "axe.min.js"
    if not axe.is_file():
        missing("axe-core", "npm pack axe-core@4 and extract package/axe.min.js into"
                " .clients/axe-core/ (as .ci/run does)")
    source = axe.read_text()
    registry, base, reader = served
    found: list[str] = []
    for signed in (False, True):
        if signed:
            browser.get(base + "/users/sign_in")
            sign_in_with(browser, reader)
            assert signed_in_as(browser) == "reader"
        for scheme in ("light", "dark"):
            browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
                {"name": "prefers-color-scheme", "value": scheme}]})
            for width in (1280, 390):
                browser.set_window_size(width, 900)
                for kind, path in PAGE_TYPES.items():
                    browser.get(base + path)
                    assert browser.find_elements(By.CSS_SELECTOR, "main")
                    browser.execute_script(source)
                    result = browser.execute_async_script(
                        "const done = arguments[0];"
                        " axe.run(document, {resultTypes: ['violations']})"
                        ".then(r => done(r.violations.map(v => [v.id, v.impact,"
                        " v.nodes.map(n => n.target.join(' ')).join(', ')])),"
                        " e => done([['error', 'critical', String(e)]]))")
                    found += [f"{kind} ({scheme}, {width}px, {'in' if signed else 'out'}):"
                              f" {rule} [{impact}] at {where}"
                              for rule, impact, where in result
                              if impact in ("serious", "critical")]
    assert found == []

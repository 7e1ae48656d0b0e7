"""The web pages in a real browser: Debian's headless Chromium, driven by selenium through
chromedriver, against the pages and API served together as ``pypireg serve`` serves them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import waitress
from waitress import wasyncore

import pypireg
from pypireg.cli.serving import SERVER

from ..distributions import HOSTILE_README, described_wheel
from ..helpers import missing
from .live import BIN, run

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


def test_private_project_asks_for_credentials(browser, served) -> None:
    from selenium.webdriver.common.by import By

    _, base, reader = served
    browser.get(base + "/acme/secret")  # the browser asks for a user and password
    status, headers = responses(browser)[base + "/acme/secret"]
    assert (status, headers["www-authenticate"]) == (401, 'Basic realm="pypireg"')
    assert "classified" not in browser.page_source
    browser.get(base.replace("http://", f"http://reader:{reader}@") + "/acme/secret")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("acme/secret")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.names a.name")] \
        == ["classified"]

"""The cache reaches its upstreams through the proxy HTTP_PROXY and HTTPS_PROXY name, as pip
and uv do, unless NO_PROXY names the upstream's host (docs/proxy.md): a plain http
upstream by forwarding, an https one through a CONNECT tunnel, with the proxy's credentials
sent as Proxy-Authorization. Whichever way, an https upstream is verified against the
certificate authorities read once, when the registry starts."""

from __future__ import annotations

import base64
import http.client
import socket
import socketserver
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest
from webtest import TestApp

from pypireg import mount

from .distributions import wheel_bytes
from .oidc_issuer import https
from .upstreams import caching_registry, one_wheel_index, relay, running, serve

WHEEL = wheel_bytes("demo", "1.0")
PAGE = "/api/v4/projects/acme/packages/pypi/simple/demo/"


class Proxy(socketserver.ThreadingTCPServer):
    """A forward proxy on 127.0.0.1: what it was asked, and the credentials it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked: list[tuple[str, str, str]] = []  # method, target, Proxy-Authorization

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Proxy

    def log_message(self, *args: object) -> None:
        pass

    def _note(self) -> None:
        self.server.asked.append((self.command, self.path,
                                  self.headers.get("Proxy-Authorization", "")))

    def do_GET(self) -> None:  # an absolute URL: forwarded
        self._note()
        target = urlsplit(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        upstream.request("GET", target.path + (f"?{target.query}" if target.query else ""),
                         headers=headers)
        answer = upstream.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def do_CONNECT(self) -> None:  # host:port: a tunnel
        self._note()
        host, _, port = self.path.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=30) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            relay(self.connection, upstream)


def proxy() -> AbstractContextManager[Proxy]:
    return running(Proxy())


def basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_an_http_upstream_is_reached_through_http_proxy(tmp_path, monkeypatch) -> None:
    with serve(one_wheel_index("demo", WHEEL)) as served, proxy() as forward:
        monkeypatch.setenv("HTTP_PROXY", forward.url.replace("//", "//us%40r:pa%3Ass@"))
        app = TestApp(mount(caching_registry(tmp_path, f"{served.url}/simple/"), "/api/v4"))
        page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
        assert app.get(page["files"][0]["url"]).body == WHEEL
    asked = [(method, urlsplit(target).path) for method, target, _ in forward.asked]
    assert asked == [("GET", "/simple/demo/"), ("GET", "/files/demo.whl")]
    assert {credentials for _, _, credentials in forward.asked} == {basic("us@r:pa:ss")}
    assert served.count("/simple/demo/") == 1  # through the proxy, and only so


def test_an_https_upstream_is_reached_through_a_tunnel(tmp_path, monkeypatch, ca) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    with https(one_wheel_index("demo", WHEEL), ca) as port, proxy() as forward:
        monkeypatch.setenv("HTTPS_PROXY", forward.url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # for http only: not used
        upstream = f"https://127.0.0.1:{port}/simple/"
        app = TestApp(mount(caching_registry(tmp_path, upstream), "/api/v4"))
        page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
        assert app.get(page["files"][0]["url"]).body == WHEEL
    assert {(method, target) for method, target, _ in forward.asked} == {
        ("CONNECT", f"127.0.0.1:{port}")}


def test_the_certificate_authorities_are_read_once(tmp_path, monkeypatch, ca) -> None:
    """Each new connection to an https upstream is verified against the authorities read
    when the registry started (read again for each, they cost some 50 ms of CPU): one made
    after the bundle is gone still verifies."""
    bundle = tmp_path / "authorities.pem"
    bundle.write_bytes(ca.ca_file.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    for variable in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with https(one_wheel_index("demo", WHEEL), ca) as port:
        registry = caching_registry(tmp_path / "data", f"https://127.0.0.1:{port}/simple/")
        app = TestApp(mount(registry, "/api/v4"))
        page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
        bundle.unlink()
        assert registry.upstreams is not None
        registry.upstreams.client.pool.clear()  # the file's fetch makes a new connection
        assert app.get(page["files"][0]["url"]).body == WHEEL


def test_connections_leave_the_shared_tls_context_as_it_is(tmp_path, monkeypatch, ca) -> None:
    """OpenSSL lets threads share a TLS context only while nobody changes it, and urllib3
    sets a context's ALPN protocols and verify mode for each connection it makes: on a
    shared one, replacing the protocols can free what another thread's new connection is
    reading (CPython issue 141012). Made again as they already are, they change nothing."""
    import ssl

    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    for variable in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    original = ssl.SSLContext.verify_mode
    modes: list[tuple[object, object]] = []

    def set_mode(context: ssl.SSLContext, mode: object) -> None:
        modes.append((context, mode))
        original.fset(context, mode)

    monkeypatch.setattr(ssl.SSLContext, "verify_mode", property(original.fget, set_mode))
    with https(one_wheel_index("demo", WHEEL), ca) as port:
        registry = caching_registry(tmp_path / "data", f"https://127.0.0.1:{port}/simple/")
        assert registry.upstreams is not None
        client = registry.upstreams.client
        shared = client.pool.connection_pool_kw["ssl_context"]
        protocols: list[object] = []
        shared._set_alpn_protocols = protocols.append  # what SSLContext's setter calls
        modes.clear()  # those that made it
        app = TestApp(mount(registry, "/api/v4"))
        page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
        client.pool.clear()  # the file's fetch makes a second connection
        assert app.get(page["files"][0]["url"]).body == WHEEL
    assert protocols == [] and [mode for context, mode in modes if context is shared] == []
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname


def test_no_proxy_names_the_hosts_reached_directly(tmp_path, monkeypatch) -> None:
    with serve(one_wheel_index("demo", WHEEL)) as served, proxy() as forward:
        monkeypatch.setenv("HTTP_PROXY", forward.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        app = TestApp(mount(caching_registry(tmp_path, f"{served.url}/simple/"), "/api/v4"))
        page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
        assert app.get(page["files"][0]["url"]).body == WHEEL
    assert forward.asked == []
    assert served.count("/files/demo.whl") == 1


def test_a_proxy_that_cannot_be_reached_is_a_502_that_names_the_upstream(tmp_path,
                                                                         monkeypatch) -> None:
    from .upstreams import closed_port

    with serve(one_wheel_index("demo", WHEEL)) as served:
        monkeypatch.setenv("HTTP_PROXY", closed_port())
        app = TestApp(mount(caching_registry(tmp_path, f"{served.url}/simple/"), "/api/v4"))
        answer = app.get(PAGE, status=502)
    assert answer.json["message"].endswith(
        f" upstream {served.url}/ could not be reached: the outgoing proxy failed"
        " (NewConnectionError)")
    assert served.log == []


@pytest.mark.parametrize(("no_proxy", "url", "direct"), [
    ("*", "https://pypi.org/simple/", True),
    ("pypi.org", "https://pypi.org/simple/", True),
    ("pypi.org", "https://files.pypi.org/x.whl", True),  # a domain names its subdomains
    (".pypi.org", "https://pypi.org/simple/", True),
    ("*.pypi.org", "https://files.pypi.org/x.whl", True),
    ("pypi.org", "https://notpypi.org/simple/", False),  # a suffix is not a domain
    ("pypi.org:443", "https://pypi.org/simple/", True),  # the scheme's port when none
    ("pypi.org:8443", "https://pypi.org/simple/", False),
    ("10.0.0.0/8", "http://10.1.2.3:8080/simple/", True),
    ("10.0.0.0/8", "http://11.1.2.3/simple/", False),
    ("::1", "http://[::1]:8080/simple/", True),
    ("[::1]:8080", "http://[::1]:8080/simple/", True),
    ("[::1]:8080", "http://[::1]:8081/simple/", False),
    ("fd00::/8", "http://[fd12::5]/simple/", True),
    ("127.0.0.1", "http://localhost/simple/", False),  # names are not resolved
    (" mirror.example , pypi.org ", "https://pypi.org/simple/", True),
])
def test_no_proxy_is_read_as_pip_and_uv_read_it(no_proxy, url, direct) -> None:
    from pypireg.upstream.proxies import Proxies

    proxies = Proxies("http://proxy:3128", "http://proxy:3128",
                      tuple(e.strip() for e in no_proxy.split(",")))
    assert proxies.for_url(url) == ("" if direct else "http://proxy:3128")


def test_the_environment_names_the_proxies(monkeypatch) -> None:
    from pypireg.upstream.proxies import Proxies

    monkeypatch.setenv("ALL_PROXY", "proxy.example:3128")  # either scheme; http when bare
    monkeypatch.setenv("https_proxy", "https://secure.example:443")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert Proxies.from_environment() == Proxies(
        "http://proxy.example:3128", "https://secure.example:443", ("internal.example",))


def test_a_proxy_of_another_kind_is_a_502_saying_so_and_never_stops_a_start(
        tmp_path, monkeypatch) -> None:
    import pypireg

    monkeypatch.setenv("HTTP_PROXY", "socks5h://user:secret@127.0.0.1:1080")
    pypireg.create_app(tmp_path / "redirect", upstream="http://127.0.0.1:9/simple/")
    with serve(one_wheel_index("demo", WHEEL)) as served:
        app = TestApp(mount(caching_registry(tmp_path / "cache", f"{served.url}/simple/"),
                            "/api/v4"))
        answer = app.get(PAGE, status=502)
    assert "is a socks5h:// one" in answer.json["message"]
    assert "secret" not in answer.text and served.log == []


def test_each_redirect_goes_the_way_its_own_address_takes(tmp_path, monkeypatch) -> None:
    """An upstream reached directly (NO_PROXY) whose page redirects to a host that is not:
    the second hop goes through the proxy; and the upstream's credentials follow a redirect
    to its own origin through the proxy, and no further."""
    moved = one_wheel_index("demo", WHEEL)
    with serve(moved) as target, proxy() as forward:
        first = moved_to(target.url.replace("127.0.0.1", "localhost"))
        with serve(first) as upstream:
            monkeypatch.setenv("HTTP_PROXY", forward.url)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            app = TestApp(mount(caching_registry(tmp_path, f"{upstream.url}/simple/"),
                                "/api/v4"))
            page = app.get(PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            assert app.get(page.json["files"][0]["url"]).body == WHEEL
    assert [urlsplit(target).path for _, target, _ in forward.asked] == [
        "/simple/demo/", "/files/demo.whl"]
    assert upstream.count("/simple/demo/") == 1 and target.count("/simple/demo/") == 1


def test_credentials_follow_a_redirect_to_the_same_origin_through_the_proxy(
        tmp_path, monkeypatch) -> None:
    index = one_wheel_index("demo", WHEEL)
    index.pages["old-demo"] = index.pages["demo"]
    with serve(RedirectingPages(index, {"/simple/demo/": "/simple/old-demo/"})) as served, \
            proxy() as forward:
        monkeypatch.setenv("HTTP_PROXY", forward.url)
        upstream = served.url.replace("//", "//user:secret@") + "/simple/"
        app = TestApp(mount(caching_registry(tmp_path, upstream), "/api/v4"))
        app.get(PAGE, status=200)
    assert [h.get("Authorization") for h in served.headers_of("/simple/")] == [
        basic("user:secret")] * 2


class RedirectingPages:
    """``index``, with a 301 from each of ``moved``'s paths to its new one."""

    def __init__(self, index: Any, moved: dict[str, str]) -> None:
        self.index, self.moved = index, moved

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        target = self.moved.get(environ["PATH_INFO"])
        if target is None:
            return self.index(environ, start_response)
        start_response("301 Moved Permanently", [("Location", target)])
        return [b""]


def moved_to(base: str) -> RedirectingPages:
    """An index whose only page moved to ``base`` (another host)."""
    return RedirectingPages(lambda environ, start: [], {"/simple/demo/": f"{base}/simple/demo/"})

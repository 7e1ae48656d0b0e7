"""The cache reaches its upstreams through the proxy HTTP_PROXY and HTTPS_PROXY name, as pip
and uv do, unless NO_PROXY names the upstream's host (docs/proxy.md): a plain http
upstream by forwarding, an https one through a CONNECT tunnel, with the proxy's credentials
sent as Proxy-Authorization."""

from __future__ import annotations

import base64
import http.client
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
from webtest import TestApp

from pypireg import mount

from .distributions import wheel_bytes
from .oidc_issuer import https
from .upstreams import caching_registry, one_wheel_index, serve

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
            ends = [self.connection, upstream]
            while True:
                ready, _, _ = select.select(ends, [], [], 30)
                if not ready:
                    return
                for end in ready:
                    try:
                        data = end.recv(65536)
                        if data:
                            (upstream if end is self.connection else self.connection
                             ).sendall(data)
                    except OSError:  # one end reset: the tunnel is over
                        data = b""
                    if not data:
                        return


@contextmanager
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


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
    assert f"upstream {served.url}/" in answer.json["message"]
    assert served.log == []
